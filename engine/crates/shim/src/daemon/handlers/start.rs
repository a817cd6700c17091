//! `start`: releases a container created with `--defer-start`.

use skiff_shim::protocol::{Empty, Status};

use crate::daemon::Daemon;
use crate::daemon::error::DaemonError;

impl Daemon {
    /// Starts the created container; `conflict` if it was started already
    /// (or has exited).
    pub(super) fn start(&mut self, t: u64) -> Result<(), DaemonError> {
        let init = &self.procs.init;
        if init.status != Status::Created || init.reaped.is_some() {
            return Err(DaemonError::AlreadyStarted {
                id: self.id.clone(),
            });
        }
        self.runtime.start()?;
        self.procs.init.started();
        self.reply_ok(t, Empty {});
        Ok(())
    }
}
