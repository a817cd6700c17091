//! What a machine is doing: the supervisor's `run.json` record, and the
//! state reported to users, derived from it and the instance lock.

use serde::{Deserialize, Serialize};

use crate::error::{MachineError, Result};
use crate::fsutil;
use crate::paths::MachineDir;

/// The state a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineState {
    /// The engine answers on the machine's socket.
    Running,
    /// Not running.
    Stopped,
    /// Booting: the supervisor runs, the engine does not answer yet.
    Starting,
    /// Not running, and the last run ended abnormally (the reason says how).
    Broken,
}

impl MachineState {
    /// `running`, `stopped`, `starting`, `broken`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Running => "running",
            MachineState::Stopped => "stopped",
            MachineState::Starting => "starting",
            MachineState::Broken => "broken",
        }
    }
}

/// The supervisor's phase, as recorded in `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Starting the hypervisor.
    Launching,
    /// The kernel and init are coming up.
    Booting,
    /// Init is up; waiting for the engine.
    Engine,
    /// The engine answered `/_ping` through the forwarded socket.
    Running,
    /// Shutting down.
    Stopping,
    /// Shut down cleanly.
    Stopped,
    /// Ended abnormally; see the reason.
    Broken,
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The phase.
    pub phase: Phase,
    /// Why the machine is broken / stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The supervisor's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_pid: Option<u32>,
    /// The hypervisor's pid (QEMU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_pid: Option<u32>,
    /// `kvm` or `tcg` (QEMU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accel: Option<String>,
    /// Last update, unix milliseconds.
    pub updated_ms: u64,
}

impl RunRecord {
    /// A record of `phase` now.
    pub fn new(phase: Phase) -> RunRecord {
        RunRecord {
            phase,
            reason: None,
            supervisor_pid: None,
            vm_pid: None,
            accel: None,
            updated_ms: now_ms(),
        }
    }

    /// Reads `run.json` (`None` if missing or unreadable: a torn record is
    /// never written, but an old one may be of another version).
    pub fn load(dir: &MachineDir) -> Option<RunRecord> {
        let data = std::fs::read(dir.run_record()).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// Writes `run.json` atomically, stamping the time.
    pub fn save(&mut self, dir: &MachineDir) -> Result<()> {
        self.updated_ms = now_ms();
        let data = serde_json::to_vec_pretty(self).map_err(|source| MachineError::Json {
            path: dir.run_record(),
            source,
        })?;
        fsutil::write_atomic(&dir.run_record(), &data)
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The user-visible state: `supervised` says whether a live process holds
/// the machine's instance lock.
pub fn determine(supervised: bool, record: Option<&RunRecord>) -> (MachineState, Option<String>) {
    let phase = record.map(|r| r.phase);
    let reason = record.and_then(|r| r.reason.clone());
    if supervised {
        return match phase {
            Some(Phase::Running) => (MachineState::Running, None),
            Some(Phase::Stopping) => (MachineState::Running, Some("stopping".into())),
            _ => (MachineState::Starting, None),
        };
    }
    match phase {
        None | Some(Phase::Stopped) => (MachineState::Stopped, None),
        Some(Phase::Broken) => (MachineState::Broken, reason),
        // A record of a live machine with nobody holding the lock: the
        // supervisor died without cleaning up.
        Some(_) => (
            MachineState::Broken,
            Some(match record.and_then(|r| r.supervisor_pid) {
                Some(pid) => format!("the machine's supervisor (pid {pid}) exited unexpectedly"),
                None => "the machine's supervisor exited unexpectedly".to_string(),
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(phase: Phase, reason: Option<&str>) -> RunRecord {
        RunRecord {
            reason: reason.map(str::to_string),
            supervisor_pid: Some(7),
            ..RunRecord::new(phase)
        }
    }

    #[test]
    fn supervised_machines_are_starting_or_running() {
        assert_eq!(determine(true, None).0, MachineState::Starting);
        assert_eq!(
            determine(true, Some(&rec(Phase::Booting, None))).0,
            MachineState::Starting
        );
        assert_eq!(
            determine(true, Some(&rec(Phase::Stopped, None))).0,
            MachineState::Starting
        );
        assert_eq!(
            determine(true, Some(&rec(Phase::Running, None))),
            (MachineState::Running, None)
        );
    }

    #[test]
    fn unsupervised_machines_are_stopped_or_broken() {
        assert_eq!(determine(false, None), (MachineState::Stopped, None));
        assert_eq!(
            determine(false, Some(&rec(Phase::Stopped, None))),
            (MachineState::Stopped, None)
        );
        assert_eq!(
            determine(
                false,
                Some(&rec(Phase::Broken, Some("QEMU was killed by signal 9")))
            ),
            (
                MachineState::Broken,
                Some("QEMU was killed by signal 9".into())
            )
        );
        let (state, reason) = determine(false, Some(&rec(Phase::Running, None)));
        assert_eq!(state, MachineState::Broken);
        assert!(reason.expect("reason").contains("pid 7"));
    }

    #[test]
    fn records_round_trip() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = crate::paths::Home::at(tmp.path().into())
            .machine("m")
            .expect("name");
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        assert_eq!(RunRecord::load(&dir), None);
        let mut r = rec(Phase::Engine, None);
        r.accel = Some("tcg".into());
        r.save(&dir).expect("save");
        assert_eq!(RunRecord::load(&dir), Some(r));
        assert_eq!(MachineState::Broken.as_str(), "broken");
        assert_eq!(
            serde_json::to_string(&MachineState::Running).expect("json"),
            "\"running\""
        );
    }
}
