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
    find_in(CANDIDATES)
}

/// The first of `candidates` that exists.
fn find_in(candidates: &[&str]) -> Result<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| MachineError::Unsupported {
            backend: "qemu (shared folders)".into(),
            reason: format!(
                "no virtiofsd found ({}; Debian: apt install qemu-system-common, or set SKIFF_VIRTIOFSD)",
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

/// Where QEMU's C virtiofsd keeps its lock/pid files (it creates the
/// directory when missing).
const PID_DIR: &str = "/run/virtiofsd";

/// The pid file QEMU's C virtiofsd writes for the daemon serving `socket`:
/// `/run/virtiofsd/<socket path, '/' → '.'>.pid`. A killed daemon leaves
/// it behind, so [`Served`] removes it.
fn pid_file(socket: &Path) -> PathBuf {
    let name = socket.to_string_lossy().replace('/', ".");
    Path::new(PID_DIR).join(format!("{name}.pid"))
}

/// The virtiofsd daemons of a run. Dropping it kills them and removes the
/// pid files they leave on the host (and [`PID_DIR`] if this run made it
/// and it is empty).
#[derive(Debug, Default)]
pub struct Served {
    /// The daemons (killed when dropped).
    pub children: Vec<Child>,
    /// The shares they serve: the ones QEMU and the guest get.
    pub shares: Vec<ShareDevice>,
    /// Why the other shares are not served (no virtiofsd, one that exited:
    /// the C virtiofsd refuses to run as a user other than root).
    pub warnings: Vec<String>,
    /// The pid files the daemons may write.
    pid_files: Vec<PathBuf>,
    /// Whether [`PID_DIR`] was missing before the daemons started.
    made_pid_dir: bool,
}

impl Drop for Served {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
        for file in &self.pid_files {
            let _ = std::fs::remove_file(file);
        }
        if self.made_pid_dir {
            // Only when empty: another virtiofsd may use it meanwhile.
            let _ = std::fs::remove_dir(PID_DIR);
        }
    }
}

/// Starts a virtiofsd per share and waits for their sockets. Their output
/// goes to `<dir>/virtiofsd.log`. The children die with the supervisor
/// (`PR_SET_PDEATHSIG`) and when dropped. A share whose virtiofsd cannot
/// run is left out with a warning rather than failing the start: the
/// engine then refuses binds from it, naming the folders it does have.
pub async fn spawn_all(dir: &MachineDir, shares: &[ShareDevice]) -> Result<Served> {
    if shares.is_empty() {
        return Ok(Served::default());
    }
    spawn_with(find(), dir, shares).await
}

/// [`spawn_all`] with `program` (or why there is none).
async fn spawn_with(
    program: Result<PathBuf>,
    dir: &MachineDir,
    shares: &[ShareDevice],
) -> Result<Served> {
    let mut served = Served::default();
    let program = match program {
        Ok(program) => program,
        Err(err) => {
            served.warnings.push(format!("no folder is shared: {err}"));
            return Ok(served);
        }
    };
    served.made_pid_dir = !Path::new(PID_DIR).exists();
    let log_path = dir.dir().join("virtiofsd.log");
    let log =
        std::fs::File::create(&log_path).ctx(|| format!("creating {}", log_path.display()))?;
    for share in shares {
        let socket = super::virtiofs_socket(dir, &share.tag);
        let _ = std::fs::remove_file(&socket);
        served.pid_files.push(pid_file(&socket));
        let mut command = tokio::process::Command::new(&program);
        command
            .args(args(share, &socket))
            .stdin(Stdio::null())
            .stdout(log.try_clone().ctx(|| "virtiofsd's log".to_string())?)
            .stderr(log.try_clone().ctx(|| "virtiofsd's log".to_string())?)
            .kill_on_drop(true);
        super::supervisor::die_with_supervisor(&mut command);
        match serve_one(command, &socket, &log_path).await {
            Ok(child) => {
                tracing::info!(
                    "sharing {} as {} at {}",
                    share.host.display(),
                    share.tag,
                    share.guest
                );
                served.children.push(child);
                served.shares.push(share.clone());
            }
            Err(why) => served.warnings.push(format!(
                "{} is not shared: {} {why}",
                share.host.display(),
                program.display()
            )),
        }
    }
    Ok(served)
}

/// Runs one virtiofsd until its socket exists.
async fn serve_one(
    mut command: tokio::process::Command,
    socket: &Path,
    log_path: &Path,
) -> std::result::Result<Child, String> {
    let mut child = command.spawn().map_err(|e| format!("did not start: {e}"))?;
    let started = Instant::now();
    while !socket.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = crate::fsutil::tail_lines(log_path, 3).unwrap_or_default();
            return Err(format!("exited ({status}): {}", tail.join(" | ")));
        }
        if started.elapsed() > SOCKET_TIMEOUT {
            return Err(format!(
                "created no socket within {} s",
                SOCKET_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_virtiofsd_that_cannot_run_leaves_its_share_out() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = crate::paths::Home::at(tmp.path().to_path_buf());
        let dir = home.machine("default").expect("name");
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        let share = ShareDevice {
            tag: "skiff0".into(),
            host: tmp.path().to_path_buf(),
            guest: "/home/me".into(),
            read_only: false,
        };
        let served = spawn_with(Ok("/bin/false".into()), &dir, std::slice::from_ref(&share))
            .await
            .expect("spawn");
        assert!(served.shares.is_empty() && served.children.is_empty());
        assert_eq!(served.warnings.len(), 1);
        assert!(
            served.warnings[0].contains("is not shared: /bin/false exited"),
            "{:?}",
            served.warnings
        );
        let none = spawn_with(find_in(&[]), &dir, &[share])
            .await
            .expect("spawn");
        assert!(none.shares.is_empty());
        assert!(
            none.warnings[0].starts_with("no folder is shared: "),
            "{:?}",
            none.warnings
        );
    }

    #[test]
    fn the_pid_file_is_named_as_qemus_virtiofsd_names_it() {
        assert_eq!(
            pid_file(Path::new(
                "/tmp/b/home/machines/default/virtiofs-skiff0.sock"
            )),
            Path::new("/run/virtiofsd/.tmp.b.home.machines.default.virtiofs-skiff0.sock.pid")
        );
    }

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
