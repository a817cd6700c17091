//! `attach` and `resize`: a process's stdio stream and its pty size.

use skiff_shim::protocol::{AttachRequest, Empty};

use crate::daemon::Daemon;
use crate::daemon::clients::{Attach, Mode};
use crate::daemon::error::DaemonError;
use crate::daemon::procs::Key;
use crate::daemon::sys;

impl Daemon {
    /// `attach`: `ok`, then the connection is the process's attach stream
    /// (just the exit frame if it has exited).
    pub(super) fn attach_request(&mut self, t: u64, req: AttachRequest) -> Result<(), DaemonError> {
        self.process(&req.exec_id)?;
        self.reply_ok(t, Empty {});
        self.attach(t, req);
        Ok(())
    }

    /// Turns connection `t` into the attach stream of `req.exec_id` (after
    /// its `ok` line was queued).
    pub(in crate::daemon) fn attach(&mut self, t: u64, req: AttachRequest) {
        let key = req.exec_id.clone();
        let Some(p) = self.procs.get_mut(&key) else {
            return;
        };
        if let Some(exit) = p.exit.clone() {
            if let Some(c) = self.clients.get_mut(&t) {
                c.queue_exit(&exit);
            }
            return;
        }
        let a = Attach {
            key,
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr && !p.tty,
            close_stdin: req.close_stdin && !p.tty,
        };
        p.attached.push(t);
        self.set_mode(t, Mode::Attached(a));
    }

    /// `resize`: `TIOCSWINSZ` on the process's pty.
    pub(super) fn resize(
        &mut self,
        t: u64,
        key: &Key,
        height: u16,
        width: u16,
    ) -> Result<(), DaemonError> {
        let id = self.id.clone();
        let p = self.process(key)?;
        let name = p.name(&id);
        let Some(master) = &p.master else {
            return Err(if p.tty {
                DaemonError::NotRunning { name }
            } else {
                DaemonError::NoTty { name }
            });
        };
        sys::set_winsize(master, height, width)
            .map_err(|source| DaemonError::Resize { name, source })?;
        self.reply_ok(t, Empty {});
        Ok(())
    }
}
