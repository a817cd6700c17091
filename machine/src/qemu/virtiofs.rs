//! The virtiofsd daemons of the shared folders (QEMU on Linux): one per
//! share, serving the host folder on the vhost-user socket QEMU's
//! `vhost-user-fs-pci` device connects to ([`super::virtiofs_socket`]).
//! Each runs as the supervisor's child (killed with it, and with QEMU's
//! disconnect it exits on its own).
//!
//! Which virtiofsd: `$SKIFF_VIRTIOFSD`, else the first of
//! [`CANDIDATES`] that exists — Debian bookworm ships QEMU's C virtiofsd
//! in `qemu-system-common` (`/usr/lib/qemu/virtiofsd`); newer
//! distributions ship the Rust one (`/usr/libexec/virtiofsd`,
//! `/usr/lib/virtiofsd`). Both take the arguments of [`args`]. The C one
//! must run as root (it sandboxes itself in namespaces).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::error::{IoContext, MachineError, Result};
use crate::paths::MachineDir;
use crate::shares::ShareDevice;

/// Where virtiofsd is looked for, in order.
pub const CANDIDATES: &[&str] = &[
    "/usr/libexec/virtiofsd",
    "/usr/lib/virtiofsd",
    "/usr/lib/qemu/virtiofsd",
];
/// How long a virtiofsd may take to create its socket.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// The virtiofsd binary: `$SKIFF_VIRTIOFSD`, else the first candidate
/// that exists.
pub fn find() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SKIFF_VIRTIOFSD").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| MachineError::Unsupported {
            backend: "qemu (shared folders)".into(),
            reason: format!(
                "no virtiofsd found ({}; Debian: apt install qemu-system-common, or set SKIFF_VIRTIOFSD); \
                 or share no folder: skiff machine create --mount none",
                CANDIDATES.join(", ")
            ),
        })
}

/// virtiofsd's arguments serving `share` on `socket`.
pub fn args(share: &ShareDevice, socket: &Path) -> Vec<String> {
    vec![
        format!("--socket-path={}", socket.display()),
        "-o".into(),
        format!("source={}", share.host.display()),
        "-o".into(),
        "cache=auto".into(),
    ]
}

/// Starts a virtiofsd per share and waits for their sockets. Their output
/// goes to `<dir>/virtiofsd.log`. The children die with the supervisor
/// (`PR_SET_PDEATHSIG`) and when dropped.
pub async fn spawn_all(dir: &MachineDir, shares: &[ShareDevice]) -> Result<Vec<Child>> {
    if shares.is_empty() {
        return Ok(Vec::new());
    }
    let program = find()?;
    let log_path = dir.dir().join("virtiofsd.log");
    let log =
        std::fs::File::create(&log_path).ctx(|| format!("creating {}", log_path.display()))?;
    let mut children = Vec::new();
    for share in shares {
        let socket = super::virtiofs_socket(dir, &share.tag);
        let _ = std::fs::remove_file(&socket);
        let mut command = tokio::process::Command::new(&program);
        command
            .args(args(share, &socket))
            .stdin(Stdio::null())
            .stdout(log.try_clone().ctx(|| "virtiofsd's log".to_string())?)
            .stderr(log.try_clone().ctx(|| "virtiofsd's log".to_string())?)
            .kill_on_drop(true);
        super::supervisor::die_with_supervisor(&mut command);
        tracing::info!(
            "sharing {} as {} at {}",
            share.host.display(),
            share.tag,
            share.guest
        );
        let mut child = command
            .spawn()
            .ctx(|| format!("starting {}", program.display()))?;
        let started = Instant::now();
        while !socket.exists() {
            if let Some(status) = child
                .try_wait()
                .ctx(|| "waiting for virtiofsd".to_string())?
            {
                let tail = crate::fsutil::tail_lines(&log_path, 5).unwrap_or_default();
                return Err(MachineError::Unsupported {
                    backend: "qemu (shared folders)".into(),
                    reason: format!(
                        "{} for {} exited ({status}): {}",
                        program.display(),
                        share.host.display(),
                        tail.join(" | ")
                    ),
                });
            }
            if started.elapsed() > SOCKET_TIMEOUT {
                return Err(MachineError::Unsupported {
                    backend: "qemu (shared folders)".into(),
                    reason: format!(
                        "{} created no socket within {} s",
                        program.display(),
                        SOCKET_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        children.push(child);
    }
    Ok(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let share = ShareDevice {
            tag: "skiff0".into(),
            host: "/home/me".into(),
            guest: "/home/me".into(),
            read_only: false,
        };
        assert_eq!(
            args(&share, Path::new("/h/m/virtiofs-skiff0.sock")).join(" "),
            "--socket-path=/h/m/virtiofs-skiff0.sock -o source=/home/me -o cache=auto"
        );
    }
}
