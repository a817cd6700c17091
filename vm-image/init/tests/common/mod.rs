//! Helpers shared by the boot and WSL tests: the image, the docker CLI
//! against a relayed socket, and a command through the guest's shell stream.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The VM image: `SKIFF_IMAGE_DIR`, else `vm-image/build.sh --wsl-rootfs`
/// (incremental; with the WSL rootfs, so the boot and WSL tests share one
/// build) into `target/vm-image/amd64`.
pub fn image_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SKIFF_IMAGE_DIR") {
        return PathBuf::from(dir);
    }
    let status = Command::new(workspace().join("vm-image/build.sh"))
        .arg("--wsl-rootfs")
        .status()
        .expect("running vm-image/build.sh");
    assert!(status.success(), "vm-image/build.sh failed: {status}");
    workspace().join("target/vm-image/amd64")
}

/// The docker CLI: `DOCKER_CLI`, else /usr/local/bin/docker, else `docker`.
pub fn docker_cli() -> String {
    std::env::var("DOCKER_CLI").unwrap_or_else(|_| {
        if Path::new("/usr/local/bin/docker").exists() {
            "/usr/local/bin/docker".into()
        } else {
            "docker".into()
        }
    })
}

/// Runs the docker CLI against `socket`; returns (success, stdout + stderr).
pub fn docker(socket: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(docker_cli())
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .output()
        .expect("docker CLI");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Runs `sh -c <script>` in the guest (the VM, or the WSL
/// distribution) through the relay's shell stream.
pub async fn guest_shell(socket: &Path, script: &str) -> (i32, String) {
    let conn = tokio::net::UnixStream::connect(socket)
        .await
        .expect("host socket");
    let request = skiff_relay::shell::ShellRequest {
        tty: false,
        rows: 24,
        cols: 80,
        term: "dumb".into(),
        args: vec!["sh".into(), "-c".into(), script.into()],
    };
    let (_resize_tx, resizes) = tokio::sync::mpsc::channel(1);
    let mut out = Vec::new();
    let status = skiff_relay::shell::client(conn, &request, tokio::io::empty(), &mut out, resizes)
        .await
        .expect("shell stream");
    (status, String::from_utf8_lossy(&out).into_owned())
}
