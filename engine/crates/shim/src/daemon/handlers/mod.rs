//! The request handlers: one per request kind (`docs/shim.md`, "The
//! protocol"), grouped by lifecycle operation as youki does.
//!
//! Contract: [`Daemon::handle`] answers every request with exactly one
//! line, now or later. A handler either queues its `ok` line itself and
//! returns `Ok`, or returns the [`DaemonError`] that [`Daemon::handle`]
//! sends as the `error` line (its kind and message). A handler that cannot
//! answer yet (`wait`, `delete` of a running container) parks the
//! connection; whoever learns the answer (an exit) sends it. The handlers
//! ask the runtime through [`super::runtime::Runtime`] only.

mod attach;
mod delete;
mod exec;
mod kill;
mod pause;
mod start;

use skiff_shim::protocol::{Request, Status};

use super::Daemon;
use super::clients::Mode;
use super::error::DaemonError;
use super::procs::{Key, Proc};

impl Daemon {
    /// Answers one request of client `t`.
    pub(super) fn handle(&mut self, t: u64, req: Request) {
        let result = match req {
            Request::State { exec_id } => self.state(t, &exec_id),
            Request::Start => self.start(t),
            Request::Kill { signal, exec_id } => self.kill(t, signal, &exec_id),
            Request::Wait { exec_id } => self.wait(t, &exec_id),
            Request::Attach(a) => self.attach_request(t, a),
            Request::Resize {
                exec_id,
                height,
                width,
            } => self.resize(t, &exec_id, height, width),
            Request::Exec(e) => self.exec(t, *e),
            Request::Pause => self.pause(t),
            Request::Resume => self.resume(t),
            Request::Delete { force } => self.delete(t, force),
        };
        if let Err(e) = result {
            self.reply_err(t, &e);
        }
    }

    /// The process of `key`, or the `not_found` error naming it.
    fn process(&self, key: &Key) -> Result<&Proc, DaemonError> {
        self.procs.get(key).ok_or_else(|| no_exec(&self.id, key))
    }

    /// The process of `key`, or the `not_found` error naming it.
    fn process_mut(&mut self, key: &Key) -> Result<&mut Proc, DaemonError> {
        let id = &self.id;
        self.procs.get_mut(key).ok_or_else(|| no_exec(id, key))
    }

    /// `Ok` when the container runs and is not paused; otherwise the
    /// `conflict` to answer: `paused(id)` for a paused container.
    fn require_running(&self, paused: fn(String) -> DaemonError) -> Result<(), DaemonError> {
        let init = &self.procs.init;
        if init.running() && init.status == Status::Running {
            return Ok(());
        }
        let id = self.id.clone();
        Err(match init.status {
            Status::Paused => paused(id),
            _ => DaemonError::NotRunning {
                name: format!("container {id}"),
            },
        })
    }

    /// `state`: the process's [`skiff_shim::protocol::ProcessState`].
    fn state(&mut self, t: u64, key: &Key) -> Result<(), DaemonError> {
        let state = self.process(key)?.state(&self.id);
        self.reply_ok(t, state);
        Ok(())
    }

    /// `wait`: the exit status, now if the process is finalized, else when
    /// it is (the connection is parked meanwhile).
    fn wait(&mut self, t: u64, key: &Key) -> Result<(), DaemonError> {
        let p = self.process_mut(key)?;
        match &p.exit {
            Some(exit) => {
                let exit = exit.clone();
                self.reply_ok(t, exit);
            }
            None => {
                p.waiters.push(t);
                self.set_mode(t, Mode::Parked);
            }
        }
        Ok(())
    }
}

/// `not_found`: container `id` has no exec `key`.
fn no_exec(id: &str, key: &Key) -> DaemonError {
    DaemonError::NoExec {
        id: id.to_owned(),
        exec: key.as_deref().unwrap_or("").to_owned(),
    }
}
