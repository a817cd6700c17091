//! `pause` and `resume`: the container's cgroup freezer.

use skiff_shim::protocol::{Empty, Status};

use crate::daemon::Daemon;
use crate::daemon::error::DaemonError;

impl Daemon {
    /// Freezes a running container; `conflict` if it is paused or not
    /// running.
    pub(super) fn pause(&mut self, t: u64) -> Result<(), DaemonError> {
        self.require_running(|id| DaemonError::AlreadyPaused { id })?;
        self.runtime.pause()?;
        self.procs.init.status = Status::Paused;
        self.reply_ok(t, Empty {});
        Ok(())
    }

    /// Thaws a paused container; `conflict` if it is not paused.
    pub(super) fn resume(&mut self, t: u64) -> Result<(), DaemonError> {
        if self.procs.init.status != Status::Paused {
            return Err(DaemonError::NotPaused {
                id: self.id.clone(),
            });
        }
        self.runtime.resume()?;
        self.procs.init.status = Status::Running;
        self.reply_ok(t, Empty {});
        Ok(())
    }
}
