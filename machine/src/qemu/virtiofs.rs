//! The virtiofsd daemons of the shared folders (QEMU on Linux): one per
//! share, serving the host folder on the vhost-user socket QEMU's
//! `vhost-user-fs-pci` device connects to ([`super::virtiofs_socket`]).
//! Each runs as the supervisor's child (killed with it, and with QEMU's
//! disconnect it exits on its own).
//!
//! Which virtiofsd: `$SKIFF_VIRTIOFSD`, else the first of
//! [`CANDIDATES`] that exists — newer distributions ship the Rust one
//! (`/usr/libexec/virtiofsd`, `/usr/lib/virtiofsd`),
//! `scripts/install-virtiofsd.sh` builds it from crates.io into
//! `/usr/local/libexec/virtiofsd`; Debian bookworm ships only QEMU's C
//! virtiofsd in `qemu-system-common` (`/usr/lib/qemu/virtiofsd`). Both
//! take the arguments of [`args`].
//!
//! Ownership: files a container writes through a share belong on the host
//! to the user who runs skiff. Run by root, that holds as is. Run by a
//! user, only the Rust virtiofsd can serve: it runs unprivileged (in a
//! user namespace of its own) and translates ids ([`owner_args`]): every
//! guest uid/gid is written as that user on the host, while the guest sees
//! the host's ids as they are — as a native engine shows a bind — so
//! `docker run --user "$(id -u)" -v "$PWD":/src` works as it does
//! natively, and a container's root still may write anywhere. QEMU's C one
//! needs root (it refuses to start otherwise, and has no id translation),
//! so a user's shares are then left out with a warning naming the fix.

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
    "/usr/local/libexec/virtiofsd",
    QEMU_VIRTIOFSD,
];
/// QEMU's C virtiofsd (Debian bookworm's `qemu-system-common`).
const QEMU_VIRTIOFSD: &str = "/usr/lib/qemu/virtiofsd";
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

/// The user files written through a share belong to on the host: `None`
/// when skiff runs as root (nothing to translate), else its effective uid
/// and gid.
pub fn owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid and getegid take no arguments and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    (uid != 0).then_some((uid, gid))
}

/// virtiofsd's arguments serving `share` on `socket`, with the id
/// translation of [`owner_args`] when run by a user (`owner`).
pub fn args(share: &ShareDevice, socket: &Path, owner: Option<(u32, u32)>) -> Vec<String> {
    let mut args = vec![
        format!("--socket-path={}", socket.display()),
        "-o".into(),
        format!("source={}", share.host.display()),
        "-o".into(),
        "cache=auto".into(),
    ];
    if let Some((uid, gid)) = owner {
        args.extend(owner_args(uid, gid));
    }
    args
}

/// The Rust virtiofsd's id translation for a share served by user
/// `uid`/`gid`: every guest id is written as the user's on the host
/// (`squash-guest`: what a container's root, or its `--user 1000`,
/// creates or chowns, the user owns); host ids read as themselves in the
/// guest (no `host` entry), so the guest's permission checks are a native
/// engine's.
pub fn owner_args(uid: u32, gid: u32) -> Vec<String> {
    vec![
        format!("--translate-uid=squash-guest:0:{uid}:4294967295"),
        format!("--translate-gid=squash-guest:0:{gid}:4294967295"),
    ]
}

/// Whether `version` (what `virtiofsd --version` printed) is QEMU's C
/// virtiofsd (`virtiofsd version 7.2.22 (Debian …)`) rather than the Rust
/// one (`virtiofsd 1.14.0`).
fn is_qemus(version: &str) -> bool {
    version.starts_with("virtiofsd version ") || version.contains("QEMU")
}

/// Why `program` cannot serve shares for `owner`, if it cannot: QEMU's C
/// virtiofsd run by a user (it needs root and translates no ids).
async fn unfit_for(program: &Path, owner: Option<(u32, u32)>) -> Option<String> {
    let (uid, _) = owner?;
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout);
    is_qemus(&version).then(|| {
        format!(
            "{} is QEMU's virtiofsd, which runs only as root (skiff runs as uid {uid}); \
             install the Rust virtiofsd (scripts/install-virtiofsd.sh, or set SKIFF_VIRTIOFSD)",
            program.display()
        )
    })
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
    let owner = owner();
    if let Some(why) = unfit_for(&program, owner).await {
        for share in shares {
            served
                .warnings
                .push(format!("{} is not shared: {why}", share.host.display()));
        }
        return Ok(served);
    }
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
            .args(args(share, &socket, owner))
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
            args(&share, Path::new("/h/m/virtiofs-skiff0.sock"), None).join(" "),
            "--socket-path=/h/m/virtiofs-skiff0.sock -o source=/home/me -o cache=auto"
        );
        assert_eq!(
            args(&share, Path::new("/s"), Some((1000, 100)))[5..].join(" "),
            "--translate-uid=squash-guest:0:1000:4294967295 \
             --translate-gid=squash-guest:0:100:4294967295"
        );
    }

    #[test]
    fn qemus_virtiofsd_is_told_from_the_rust_one() {
        assert!(is_qemus(
            "virtiofsd version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n\
             Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n"
        ));
        assert!(!is_qemus("virtiofsd 1.14.0\n"));
    }

    #[tokio::test]
    async fn qemus_virtiofsd_serves_no_user() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        // Both written before either runs (no exec of a file still open).
        let fake = |name: &str, version: &str| {
            let path = tmp.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\necho '{version}'\n")).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            path
        };
        let qemus = fake("qemu", "virtiofsd version 7.2.22 (Debian)");
        let rust = fake("rust", "virtiofsd 1.14.0");
        assert_eq!(unfit_for(&qemus, None).await, None);
        let why = unfit_for(&qemus, Some((1000, 1000))).await.expect("unfit");
        assert!(
            why.contains("runs only as root (skiff runs as uid 1000)"),
            "{why}"
        );
        assert_eq!(unfit_for(&rust, Some((1000, 1000))).await, None);
    }
}
