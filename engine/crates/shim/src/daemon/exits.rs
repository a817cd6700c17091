//! Reaping and exits.
//!
//! Contract (`docs/shim.md`): on SIGCHLD every exited child is reaped
//! ([`super::runtime::Runtime::reap`]); unknown children are just reaped. A
//! reaped process is *finalized* once its output is drained (EOF on every
//! stream, or [`DRAIN_TIMEOUT`] after the reaping, for background children
//! that keep the pipes open): its [`ExitStatus`] is recorded (for the init
//! process also in `exit.json`, atomically, with `oom_killed` read from its
//! memory cgroup), `wait` callers are answered, attach streams get their
//! exit frame and end, and a `delete` waiting for the exit goes on.

use std::time::{Duration, Instant};

use skiff_shim::jsonlog;
use skiff_shim::paths;
use skiff_shim::protocol::{ExitStatus, Response, Status};

use super::Daemon;
use super::clients::Mode;
use super::procs::{Key, Reaped};
use super::runtime::ChildExit;

/// How long output is still read after a process was reaped, for
/// descendants that keep its pipes open (an exec's background children).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

impl Daemon {
    /// Reaps every exited child.
    pub(super) fn reap(&mut self) {
        for exit in self.runtime.reap() {
            self.record_exit(exit);
        }
    }

    fn record_exit(&mut self, exit: ChildExit) {
        let reaped = Reaped {
            code: exit.code,
            signal: exit.signal,
            finished_at: jsonlog::now(),
            deadline: Instant::now() + DRAIN_TIMEOUT,
        };
        match self.procs.unreaped(exit.pid) {
            Some(p) => p.reaped = Some(reaped),
            None => tracing::debug!(pid = exit.pid, "reaped an unknown child"),
        }
    }

    /// Finalizes the reaped processes whose output is drained (or whose
    /// drain deadline has passed).
    pub(super) fn check_exits(&mut self) {
        let now = Instant::now();
        let done: Vec<Key> = self
            .procs
            .iter()
            .filter(|(_, p)| p.exit.is_none())
            .filter(|(_, p)| {
                p.reaped
                    .as_ref()
                    .is_some_and(|r| !p.outputs_open() || now >= r.deadline)
            })
            .map(|(k, _)| k)
            .collect();
        for key in done {
            self.finalize(&key);
        }
    }

    /// The earliest drain deadline, in poll(2) milliseconds (-1: none).
    pub(super) fn next_deadline_ms(&self) -> i32 {
        let now = Instant::now();
        self.procs
            .iter()
            .filter(|(_, p)| p.exit.is_none())
            .filter_map(|(_, p)| p.reaped.as_ref().map(|r| r.deadline))
            .map(|d| {
                let ms = d.saturating_duration_since(now).as_millis() + 1;
                i32::try_from(ms).unwrap_or(i32::MAX)
            })
            .min()
            .unwrap_or(-1)
    }

    /// The process has exited and its output is drained: record the exit,
    /// answer waiters, end attach streams.
    fn finalize(&mut self, key: &Key) {
        let n = self.procs.get(key).map_or(0, |p| p.outputs.len());
        for idx in 0..n {
            self.close_output(key, idx);
        }
        let oom_killed =
            key.is_none() && self.runtime.oom_kills(&self.cgroups_path).unwrap_or(0) > 0;
        let Some(p) = self.procs.get_mut(key) else {
            return;
        };
        let Some(r) = &p.reaped else {
            return;
        };
        let exit = ExitStatus {
            pid: p.pid,
            exit_code: r.code,
            signal: r.signal,
            oom_killed,
            started_at: p.started_at.clone(),
            finished_at: r.finished_at.clone(),
        };
        p.stdin = None;
        p.master = None;
        p.status = Status::Exited;
        p.exit = Some(exit.clone());
        let waiters = std::mem::take(&mut p.waiters);
        let attached = std::mem::take(&mut p.attached);

        if key.is_none() {
            let path = paths::exit_file(&self.state_dir);
            match serde_json::to_vec(&exit) {
                Ok(json) => {
                    if let Err(e) = paths::write_atomic(&path, &json) {
                        tracing::error!("cannot write {}: {e}", path.display());
                    }
                }
                Err(e) => tracing::error!("cannot encode the exit status: {e}"),
            }
        }
        for t in waiters {
            if let Some(c) = self.clients.get_mut(&t) {
                c.queue(&Response::Ok(exit.clone()));
                c.mode = Mode::Request;
            }
            self.process_requests(t);
        }
        for t in attached {
            if let Some(c) = self.clients.get_mut(&t) {
                c.queue_exit(&exit);
            }
        }
        if key.is_none() {
            for t in std::mem::take(&mut self.pending_deletes) {
                self.finish_delete(t);
            }
        } else {
            self.procs.forget_old_execs();
        }
    }
}
