//! Runs the WSL2 artefact's guest side on Linux, as `wsl.exe` would: the
//! `rootfs.tar` of `vm-image/build.sh --wsl-rootfs` extracted into a
//! directory, `/usr/bin/skiff-init --wsl` started in it (`unshare` mount,
//! PID and network namespaces + `chroot`, standing in for the WSL
//! distribution), the relay's host half on its stdin/stdout and a Unix
//! socket in front of it, the docker CLI on that socket.
//!
//! Checks: the tar holds the userland and a `wsl.conf`, but neither `/init`
//! nor kernel modules; WSL mode mounts what the bare root lacks (proc,
//! cgroup2, …); skiffd answers through the relay; the relay's shell stream
//! runs busybox `sh`; closing the relay (the host went away) stops skiffd
//! and ends `skiff-init` with status 0.
//!
//! The image is (re)built by `vm-image/build.sh --wsl-rootfs` or taken
//! from `SKIFF_IMAGE_DIR`. Needs root, `unshare` (util-linux), `tar` and a
//! docker CLI.

mod common;
use common::{docker, guest_shell, image_dir};

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tar_list(tar: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .arg("-tf")
        .arg(tar)
        .output()
        .expect("tar -t");
    assert!(out.status.success(), "tar -tf {}", tar.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn wsl_mode_runs_the_engine_behind_the_stdio_relay() {
    let image = image_dir();
    let manifest = std::fs::read_to_string(image.join("manifest.json")).expect("manifest");
    assert!(manifest.contains("\"rootfs.tar\""), "{manifest}");
    let tar = image.join("rootfs.tar");
    let names = tar_list(&tar);
    for want in [
        "usr/bin/skiff-init",
        "usr/bin/skiffd",
        "usr/bin/skiff-shim",
        "usr/bin/busybox",
        "usr/bin/sh",
        "etc/wsl.conf",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for absent in ["init", "usr/lib/modules", "usr/sbin/modprobe"] {
        assert!(!names.iter().any(|n| n == absent), "no {absent}");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("distro");
    std::fs::create_dir(&root).expect("mkdir");
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .status()
        .expect("tar -x");
    assert!(status.success());
    let wsl_conf = std::fs::read_to_string(root.join("etc/wsl.conf")).expect("wsl.conf");
    assert!(wsl_conf.contains("systemd = false"), "{wsl_conf}");

    // A cgroup namespace of its own too: cgroup2's root options
    // (nsdelegate, favordynmods) are global, and a cgroup2 mount from the
    // initial cgroup namespace would change the host's (the host guard
    // caught it); from another namespace they are left as they are.
    let mut child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--net",
            "--cgroup",
        ])
        .args(["--fork", "--kill-child", "chroot"])
        .arg(&root)
        .args(["/usr/bin/skiff-init", "--wsl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unshare");
    let stdin = OwnedFd::from(child.stdin.take().expect("stdin"));
    let stdout = OwnedFd::from(child.stdout.take().expect("stdout"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let socket = dir.path().join("docker.sock");
    let relay = {
        let socket = socket.clone();
        runtime.spawn(async move {
            let port = tokio::io::join(
                skiff_relay::FdStream::device(stdout).expect("stdout"),
                skiff_relay::FdStream::device(stdin).expect("stdin"),
            );
            let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
            let _ = skiff_relay::host::serve(listener, port).await;
        })
    };

    let log = root.join("var/log/skiff/console.log");
    let start = Instant::now();
    let (mut ok, mut out) = (false, String::new());
    while start.elapsed() < Duration::from_secs(120) && !ok {
        std::thread::sleep(Duration::from_millis(200));
        (ok, out) = docker(&socket, &["version", "--format", "{{.Server.Os}}"]);
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "skiff-init --wsl exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
    let console = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(ok, "docker version through the relay: {out}\n{console}");
    assert_eq!(out.trim(), "linux");
    let (ok, out) = docker(&socket, &["info", "--format", "{{.CgroupVersion}}"]);
    assert!(
        ok && out.trim() == "2",
        "cgroup2 mounted by WSL mode: {out}"
    );

    let (status, out) = runtime.block_on(guest_shell(
        &socket,
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -c cgroup2 /proc/mounts; ls /var/lib/skiff",
    ));
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("/usr/bin/skiff-init --wsl"), "{out}");
    assert!(out.lines().nth(1).is_some_and(|l| l.trim() != "0"), "{out}");

    // The host goes away: the relay's stdin closes, skiffd is stopped,
    // skiff-init exits cleanly.
    relay.abort();
    drop(runtime);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let console = std::fs::read_to_string(&log).unwrap_or_default();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "skiff-init --wsl ended with {status:?}:\n{console}"
    );
    assert!(console.contains("engine ready after"), "{console}");
    assert!(
        console.contains("stopping (the host closed the relay)"),
        "{console}"
    );
    assert!(console.contains("skiffd stopped"), "{console}");
}
