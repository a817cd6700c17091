//! Runs skiffd, restarts it when it exits (with backoff), and stops it on
//! shutdown: SIGTERM, then SIGKILL after the grace period.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::{oneshot, watch};

use crate::backoff::Backoff;
use crate::cmdline::Settings;
use crate::reaper::{Exit, Reaper};
use crate::say;

/// skiffd's binary in the image.
pub const SKIFFD: &str = "/usr/bin/skiffd";
/// skiffd's API socket inside the guest.
pub const ENGINE_SOCKET: &str = "/run/skiff/docker.sock";
/// How long skiffd gets to stop after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// skiffd's arguments for these settings.
pub fn skiffd_args(settings: &Settings) -> Vec<String> {
    let mut args = vec![
        "-H".to_string(),
        format!("unix://{ENGINE_SOCKET}"),
        "--data-root".to_string(),
        crate::disk::MOUNT_POINT.to_string(),
    ];
    if let Some(m) = &settings.mirror {
        args.extend(["--registry-mirror".to_string(), m.clone()]);
    }
    if let Some(i) = &settings.insecure {
        args.extend(["--insecure-registry".to_string(), i.clone()]);
    }
    if settings.debug {
        args.extend(["--log-level".to_string(), "debug".to_string()]);
    }
    if let Some(shares) = &settings.host_shares {
        args.push("--vm".to_string());
        for path in shares {
            args.extend(["--host-share".to_string(), path.display().to_string()]);
        }
        if let Some(ip) = settings.vm_host_ip {
            args.extend(["--vm-host-ip".to_string(), ip.to_string()]);
        }
    }
    args
}

fn command(args: &[String]) -> Command {
    let mut cmd = Command::new(SKIFFD);
    cmd.args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        // The console is a serial line, not a terminal that knows colours.
        .env("NO_COLOR", "1")
        .current_dir("/");
    cmd
}

/// Supervises skiffd until `stop` turns true, then stops it. Returns when
/// skiffd is gone.
pub async fn supervise(reaper: Arc<Reaper>, args: Vec<String>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    if let Err(e) = std::fs::create_dir_all("/run/skiff") {
        say!("creating /run/skiff: {e}");
    }
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let (pid, exited) = match reaper.spawn(&mut command(&args)) {
            Ok(child) => child,
            Err(e) => {
                say!("{e}");
                let delay = backoff.exited_after(Duration::ZERO);
                if wait_or_stop(delay, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        say!("skiffd started (pid {pid})");
        tokio::pin!(exited);
        tokio::select! {
            exit = &mut exited => {
                let exit = exit.unwrap_or(Exit::Code(-1));
                if *stop.borrow() {
                    return;
                }
                let delay = backoff.exited_after(started.elapsed());
                say!("skiffd exited ({exit}) after {} ms; restarting in {} ms",
                    started.elapsed().as_millis(), delay.as_millis());
                if wait_or_stop(delay, &mut stop).await {
                    return;
                }
            }
            _ = stopped(&mut stop) => {
                terminate(pid, &mut exited).await;
                return;
            }
        }
    }
}

/// Resolves when `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `delay` unless `stop` turns true first (returns true then).
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stopped(stop) => true,
    }
}

/// SIGTERM, wait up to [`STOP_GRACE`], SIGKILL.
async fn terminate(pid: i32, exited: &mut std::pin::Pin<&mut oneshot::Receiver<Exit>>) {
    let started = Instant::now();
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    match tokio::time::timeout(STOP_GRACE, exited.as_mut()).await {
        Ok(exit) => say!(
            "skiffd stopped ({}) in {} ms",
            exit.map(|e| e.to_string())
                .unwrap_or_else(|_| "gone".into()),
            started.elapsed().as_millis()
        ),
        Err(_) => {
            say!(
                "skiffd ignored SIGTERM for {} s: killing it",
                STOP_GRACE.as_secs()
            );
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = tokio::time::timeout(Duration::from_secs(2), exited.as_mut()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_follow_the_settings() {
        let plain = skiffd_args(&Settings::default());
        assert_eq!(
            plain,
            vec![
                "-H",
                "unix:///run/skiff/docker.sock",
                "--data-root",
                "/var/lib/skiff"
            ]
        );
        let full = skiffd_args(&Settings {
            mirror: Some("http://10.0.2.100:5000".into()),
            insecure: Some("10.0.2.100:5000".into()),
            debug: true,
            ..Settings::default()
        });
        assert_eq!(
            &full[4..],
            &[
                "--registry-mirror",
                "http://10.0.2.100:5000",
                "--insecure-registry",
                "10.0.2.100:5000",
                "--log-level",
                "debug"
            ]
        );
        let vm = skiffd_args(&Settings {
            host_shares: Some(vec!["/home/me".into(), "/tmp/a b".into()]),
            ..Settings::default()
        });
        assert_eq!(
            &vm[4..],
            &[
                "--vm",
                "--host-share",
                "/home/me",
                "--host-share",
                "/tmp/a b"
            ]
        );
        let none = skiffd_args(&Settings {
            host_shares: Some(vec![]),
            ..Settings::default()
        });
        assert_eq!(&none[4..], &["--vm"]);
        let host = skiffd_args(&Settings {
            host_shares: Some(vec![]),
            vm_host_ip: Some(std::net::Ipv4Addr::new(10, 0, 2, 2)),
            ..Settings::default()
        });
        assert_eq!(&host[4..], &["--vm", "--vm-host-ip", "10.0.2.2"]);
    }
}
