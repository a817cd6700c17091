//! What every supervisor process does, whichever hypervisor it runs
//! (QEMU's [`crate::qemu::supervisor`] on Linux, Virtualization.framework's
//! `vz::supervisor` on macOS): the run record from launch to its final
//! phase, the pid file, this boot's console, the engine socket
//! (`docker.sock`) and the readiness probe through it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{IoContext, Result};
use crate::lock::InstanceLock;
use crate::paths::MachineDir;
use crate::state::{Phase, RunRecord};

/// How a supervised VM ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Shut down on request, with a note when the shutdown had to be
    /// forced.
    Stopped(Option<String>),
    /// Died on its own (or never started): why.
    Died(String),
}

/// Starts a supervisor's run: files and sockets it creates are the user's
/// alone (umask 077), `run.json` says `launching` with this process as the
/// supervisor, and the `pid` file names it.
pub fn begin(dir: &MachineDir) -> Result<RunRecord> {
    // SAFETY: umask takes no pointers and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let mut record = RunRecord::new(Phase::Launching);
    record.supervisor_pid = Some(std::process::id());
    record.save(dir)?;
    crate::fsutil::write_atomic(&dir.pid(), format!("{}\n", std::process::id()).as_bytes())?;
    Ok(record)
}

/// Ends a run (the caller has removed its sockets): the `pid` file goes,
/// `run.json` gets its final phase — `stopped` (with the outcome's note)
/// or `broken` with why — and the instance lock is released last, so
/// whoever waits on the lock finds the final record.
pub fn finish(
    dir: &MachineDir,
    mut record: RunRecord,
    outcome: Outcome,
    lock: InstanceLock,
) -> Result<()> {
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
    let saved = record.save(dir);
    drop(lock);
    saved
}

/// Seconds since the Unix epoch (0 on a clock set before it): the boot
/// time the guest's command line carries.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Keeps the previous boot's console beside the new one
/// (`console.previous.log`).
pub fn rotate_console(dir: &MachineDir) {
    if dir.console().exists() {
        let _ = std::fs::rename(dir.console(), dir.dir().join("console.previous.log"));
    }
}

/// Binds the engine socket (`docker.sock`), readable and writable by the
/// user alone (0600).
pub fn bind_engine_socket(dir: &MachineDir) -> Result<UnixListener> {
    let listener =
        UnixListener::bind(dir.socket()).ctx(|| format!("binding {}", dir.socket().display()))?;
    std::fs::set_permissions(dir.socket(), std::fs::Permissions::from_mode(0o600))
        .ctx(|| format!("chmod {}", dir.socket().display()))?;
    Ok(listener)
}

/// Pings the engine through `socket` every 250 ms until it answers
/// `/_ping`, then sends `ready` on `events` once and ends.
pub fn spawn_ready_probe<E: Send + 'static>(
    socket: PathBuf,
    events: mpsc::Sender<E>,
    ready: E,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if crate::ping::ping(&socket, Duration::from_secs(10))
                .await
                .is_ok()
            {
                let _ = events.send(ready).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Home;

    fn machine(tmp: &tempfile::TempDir) -> MachineDir {
        let dir = Home::at(tmp.path().to_path_buf())
            .machine("default")
            .expect("machine dir");
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        dir
    }

    #[test]
    fn a_run_records_its_supervisor_then_its_end() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = machine(&tmp);
        let record = begin(&dir).expect("begin");
        let pid = std::fs::read_to_string(dir.pid()).expect("pid file");
        assert_eq!(pid.trim(), std::process::id().to_string());
        let saved = RunRecord::load(&dir).expect("run.json");
        assert_eq!(saved.phase, Phase::Launching);
        assert_eq!(saved.supervisor_pid, Some(std::process::id()));

        let lock = InstanceLock::try_acquire(&dir.lock())
            .expect("lock")
            .expect("free");
        finish(&dir, record, Outcome::Died("qemu: boom".into()), lock).expect("finish");
        assert!(!dir.pid().exists());
        let saved = RunRecord::load(&dir).expect("run.json");
        assert_eq!(saved.phase, Phase::Broken);
        assert_eq!(saved.reason.as_deref(), Some("qemu: boom"));
        assert!(!crate::lock::is_held(&dir.lock()).expect("probe"));
    }

    #[test]
    fn the_previous_console_is_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = machine(&tmp);
        rotate_console(&dir);
        std::fs::write(dir.console(), "boot 1").expect("console");
        rotate_console(&dir);
        assert!(!dir.console().exists());
        let previous = dir.dir().join("console.previous.log");
        assert_eq!(std::fs::read_to_string(previous).expect("read"), "boot 1");
    }
}
