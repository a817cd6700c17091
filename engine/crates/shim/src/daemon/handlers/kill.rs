//! `kill`: a signal to the init process or to an exec.

use nix::sys::signal::Signal;
use skiff_shim::protocol::{Empty, Status};

use crate::daemon::Daemon;
use crate::daemon::error::DaemonError;
use crate::daemon::procs::Key;

impl Daemon {
    /// Signals the process of `key`; `conflict` unless it runs. SIGKILL to
    /// a paused container thaws it, since a frozen process cannot die.
    pub(super) fn kill(&mut self, t: u64, signal: i32, key: &Key) -> Result<(), DaemonError> {
        let sig = Signal::try_from(signal).map_err(|_| DaemonError::InvalidSignal(signal))?;
        let p = self.process(key)?;
        let (pid, name, running) = (p.pid, p.name(&self.id), p.running());
        if !running {
            return Err(DaemonError::NotRunning { name });
        }
        // The process is our unreaped child: its pid cannot have been reused.
        self.runtime
            .kill(pid, sig)
            .map_err(|source| DaemonError::Signal { name, source })?;
        if key.is_none() && sig == Signal::SIGKILL && self.procs.init.status == Status::Paused {
            match self.runtime.resume() {
                Ok(()) => self.procs.init.status = Status::Running,
                Err(e) => tracing::error!("{}", e.message()),
            }
        }
        self.reply_ok(t, Empty {});
        Ok(())
    }
}
