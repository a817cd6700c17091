//! `delete`: removes the container's runtime state and ends the shim.

use std::time::Instant;

use nix::sys::signal::Signal;
use skiff_shim::protocol::{Empty, Status};

use crate::daemon::Daemon;
use crate::daemon::clients::Mode;
use crate::daemon::error::DaemonError;

impl Daemon {
    /// After the exit: deletes now. Before: `conflict` for a running
    /// container without `force`; otherwise SIGKILL (thawing a paused one)
    /// and park until the exit is final, then [`Daemon::finish_delete`].
    pub(super) fn delete(&mut self, t: u64, force: bool) -> Result<(), DaemonError> {
        let init = &self.procs.init;
        if init.exit.is_some() {
            self.finish_delete(t);
            return Ok(());
        }
        if init.reaped.is_none() {
            if !force && init.status != Status::Created {
                return Err(DaemonError::DeleteRunning {
                    id: self.id.clone(),
                });
            }
            let (pid, paused) = (init.pid, init.status == Status::Paused);
            let _ = self.runtime.kill(pid, Signal::SIGKILL);
            if paused && let Err(e) = self.runtime.resume() {
                tracing::error!("{}", e.message());
            }
        }
        self.pending_deletes.push(t);
        self.set_mode(t, Mode::Parked);
        Ok(())
    }

    /// Deletes the exited container and answers client `t`; the shim then
    /// shuts down, also when the runtime failed (nobody retries: skiffd
    /// removes what the runtime could not, such as a busy cgroup).
    pub(in crate::daemon) fn finish_delete(&mut self, t: u64) {
        match self.runtime.delete() {
            Ok(()) => {
                self.reply_ok(t, Empty {});
                if let Some(c) = self.clients.get_mut(&t) {
                    c.close();
                }
                self.shutdown = Some(Instant::now());
            }
            Err(e) => {
                tracing::error!("{}", e.message());
                self.reply_err(t, &e);
                if self.procs.init.exit.is_some() {
                    if let Some(c) = self.clients.get_mut(&t) {
                        c.close();
                    }
                    self.shutdown = Some(Instant::now());
                } else {
                    self.set_mode(t, Mode::Request);
                }
            }
        }
    }
}
