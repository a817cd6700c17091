//! The supervisor: a detached process (`skiff machine supervise NAME`)
//! that owns a running machine. It holds the instance lock (inherited on
//! descriptor 3), runs QEMU as its child (killed with the supervisor:
//! `PR_SET_PDEATHSIG`), serves `docker.sock` through the relay, follows the
//! control port, marks the machine running once `/_ping` answers through
//! `docker.sock`, and on SIGTERM shuts the guest down (control `poweroff`,
//! then QMP `system_powerdown`, then SIGKILL). When QEMU dies on its own it
//! records why (`run.json`), so `status` reports the machine broken with
//! the reason and the next `start` begins afresh.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::{Accel, MachineConfig};
use crate::control::{self, ControlEvent};
use crate::error::{IoContext, MachineError, Result};
use crate::image::VmImage;
use crate::lock::InstanceLock;
use crate::paths::MachineDir;
use crate::qemu::{self, Accelerator};
use crate::state::{Phase, RunRecord};

/// How long the guest gets to power off after `poweroff`.
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after the ACPI power button.
const POWERDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long QEMU may take to create its sockets.
const SOCKETS_TIMEOUT: Duration = Duration::from_secs(30);

/// How the VM ended.
enum Outcome {
    /// Shut down on request.
    Stopped(Option<String>),
    /// Died on its own.
    Died(String),
}

/// Runs machine `dir` until it stops; `lock` is the inherited instance
/// lock, `skiff_bin` the binary for QEMU's guestfwd helper. Always leaves a
/// final `run.json` behind.
pub async fn run(dir: MachineDir, lock: InstanceLock, skiff_bin: PathBuf) -> Result<()> {
    // Sockets and files the supervisor creates are the user's alone.
    // SAFETY: umask takes no pointers and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let mut record = RunRecord::new(Phase::Launching);
    record.supervisor_pid = Some(std::process::id());
    record.save(&dir)?;
    crate::fsutil::write_atomic(&dir.pid(), format!("{}\n", std::process::id()).as_bytes())?;
    remove_sockets(&dir);
    let outcome = match MachineConfig::load(&dir) {
        Ok(config) => run_vm(&dir, &config, &mut record, &skiff_bin)
            .await
            .unwrap_or_else(|err| Outcome::Died(err.to_string())),
        Err(err) => Outcome::Died(err.to_string()),
    };
    remove_sockets(&dir);
    let _ = std::fs::remove_file(dir.pid());
    match outcome {
        Outcome::Stopped(reason) => {
            tracing::info!("machine {} stopped", dir.name());
            record.phase = Phase::Stopped;
            record.reason = reason;
        }
        Outcome::Died(reason) => {
            tracing::warn!("machine {} broke: {reason}", dir.name());
            record.phase = Phase::Broken;
            record.reason = Some(reason);
        }
    }
    record.vm_pid = None;
    let saved = record.save(&dir);
    drop(lock);
    saved
}

fn remove_sockets(dir: &MachineDir) {
    for path in [
        dir.socket(),
        dir.engine_port(),
        dir.control_port(),
        dir.qmp(),
    ] {
        let _ = std::fs::remove_file(path);
    }
}

/// The accelerator for `config`: KVM only when the probe shows it works.
fn choose_accel(config: &MachineConfig, skiff_bin: &Path) -> Result<Accelerator> {
    match config.accel {
        Accel::Tcg => Ok(Accelerator::Tcg),
        Accel::Kvm => crate::kvm::probe(skiff_bin)
            .map(|()| Accelerator::Kvm)
            .map_err(|reason| MachineError::Unsupported {
                backend: "qemu (kvm)".into(),
                reason,
            }),
        Accel::Auto => match crate::kvm::probe(skiff_bin) {
            Ok(()) => Ok(Accelerator::Kvm),
            Err(reason) => {
                tracing::info!("using TCG: {reason}");
                Ok(Accelerator::Tcg)
            }
        },
    }
}

/// Internal events of the supervisor's main loop.
enum Event {
    Control(ControlEvent),
    Ready,
}

async fn run_vm(
    dir: &MachineDir,
    config: &MachineConfig,
    record: &mut RunRecord,
    skiff_bin: &Path,
) -> Result<Outcome> {
    let image = VmImage::locate(config.image_dir.as_deref())?;
    image.verify(true)?;
    let accel = choose_accel(config, skiff_bin)?;
    record.accel = Some(accel.as_str().to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let cmd = qemu::command(config, dir, &image, accel, skiff_bin, now)?;
    // This boot's console; the previous one is kept beside it.
    if dir.console().exists() {
        let _ = std::fs::rename(dir.console(), dir.dir().join("console.previous.log"));
    }
    let qemu_log = dir.dir().join("qemu.log");
    let stderr =
        std::fs::File::create(&qemu_log).ctx(|| format!("creating {}", qemu_log.display()))?;
    tracing::info!("{} {}", cmd.program, cmd.args.join(" "));
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe and takes no pointers here.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .ctx(|| format!("starting {} (is QEMU installed?)", cmd.program))?;
    record.vm_pid = child.id();
    record.phase = Phase::Booting;
    record.save(dir)?;

    let mut sigterm = signal(SignalKind::terminate()).ctx(|| "handling SIGTERM".to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).ctx(|| "handling SIGINT".to_string())?;

    // QEMU creates its sockets at start.
    let started = std::time::Instant::now();
    while !(dir.engine_port().exists() && dir.control_port().exists() && dir.qmp().exists()) {
        if let Some(status) = child.try_wait().ctx(|| "waiting for QEMU".to_string())? {
            return Ok(Outcome::Died(describe_exit(
                &cmd.program,
                status,
                &qemu_log,
            )));
        }
        if started.elapsed() > SOCKETS_TIMEOUT {
            return Ok(Outcome::Died(format!(
                "{} created no sockets within {} s",
                cmd.program,
                SOCKETS_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let listener =
        UnixListener::bind(dir.socket()).ctx(|| format!("binding {}", dir.socket().display()))?;
    std::fs::set_permissions(dir.socket(), std::fs::Permissions::from_mode(0o600))
        .ctx(|| format!("chmod {}", dir.socket().display()))?;
    let relay = tokio::spawn(relay_loop(listener, dir.engine_port()));

    let (events_tx, mut events) = mpsc::channel(16);
    let control = UnixStream::connect(dir.control_port())
        .await
        .ctx(|| format!("connecting to {}", dir.control_port().display()))?;
    let (control_read, mut control_write) = control.into_split();
    let control_tx = events_tx.clone();
    let control_task = tokio::spawn(async move {
        let mut lines = BufReader::new(control_read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!("control: {line}");
            if control_tx
                .send(Event::Control(control::parse_line(&line)))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let socket = dir.socket();
    let ready_task = tokio::spawn(async move {
        loop {
            if crate::ping::ping(&socket, Duration::from_secs(10))
                .await
                .is_ok()
            {
                let _ = events_tx.send(Event::Ready).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });

    let outcome = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.ctx(|| "waiting for QEMU".to_string())?;
                break Outcome::Died(describe_exit(&cmd.program, status, &qemu_log));
            }
            _ = sigterm.recv() => break shutdown(dir, record, &mut child, &mut control_write).await,
            _ = sigint.recv() => break shutdown(dir, record, &mut child, &mut control_write).await,
            Some(event) = events.recv() => match event {
                Event::Control(ControlEvent::Booted(ms)) => {
                    tracing::info!("guest init up after {ms} ms");
                    if record.phase == Phase::Booting {
                        record.phase = Phase::Engine;
                        record.save(dir)?;
                    }
                }
                Event::Control(ControlEvent::EngineReady(ms)) => {
                    tracing::info!("guest engine ready after {ms} ms");
                }
                Event::Control(_) => {}
                Event::Ready => {
                    tracing::info!("the engine answers on {}", dir.socket().display());
                    record.phase = Phase::Running;
                    record.save(dir)?;
                }
            },
        }
    };
    relay.abort();
    control_task.abort();
    ready_task.abort();
    Ok(outcome)
}

/// The graceful stop: control `poweroff`, the ACPI power button, SIGKILL.
async fn shutdown(
    dir: &MachineDir,
    record: &mut RunRecord,
    child: &mut Child,
    control: &mut tokio::net::unix::OwnedWriteHalf,
) -> Outcome {
    record.phase = Phase::Stopping;
    let _ = record.save(dir);
    if control.write_all(control::POWEROFF).await.is_ok() {
        if let Ok(Ok(_)) = tokio::time::timeout(POWEROFF_TIMEOUT, child.wait()).await {
            return Outcome::Stopped(None);
        }
        tracing::warn!(
            "the guest did not power off within {} s",
            POWEROFF_TIMEOUT.as_secs()
        );
    }
    match crate::qmp::execute(&dir.qmp(), "system_powerdown").await {
        Ok(()) => {
            if let Ok(Ok(_)) = tokio::time::timeout(POWERDOWN_TIMEOUT, child.wait()).await {
                return Outcome::Stopped(None);
            }
            tracing::warn!("the guest ignored the power button");
        }
        Err(err) => tracing::warn!("system_powerdown: {err}"),
    }
    let _ = child.kill().await;
    Outcome::Stopped(Some("the guest did not power off; QEMU was killed".into()))
}

/// Serves `docker.sock` over the engine port, reconnecting when a session
/// ends (the guest's relay restarted).
async fn relay_loop(listener: UnixListener, engine_port: PathBuf) {
    let mut listener = listener;
    loop {
        match UnixStream::connect(&engine_port).await {
            Ok(port) => match skiff_relay::host::serve_session(&mut listener, port).await {
                Ok(()) => tracing::info!("relay session ended"),
                Err(err) => tracing::warn!("relay session: {err}"),
            },
            Err(err) => tracing::debug!("connecting to {}: {err}", engine_port.display()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Why QEMU ended, with the last lines of its stderr.
fn describe_exit(program: &str, status: std::process::ExitStatus, log: &Path) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("{program} exited with status {code}"),
        (None, Some(sig)) => format!("{program} was killed by signal {sig}"),
        _ => format!("{program} exited"),
    };
    let tail = crate::fsutil::tail_lines(log, 5).unwrap_or_default();
    if tail.is_empty() {
        how
    } else {
        format!("{how}: {}", tail.join(" | "))
    }
}
