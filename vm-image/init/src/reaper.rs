//! PID 1 adopts every orphan (the containers' shims are double-forked on
//! purpose), so init reaps all children with `waitpid(-1)`. Children init
//! started itself are spawned through [`Reaper::spawn`], which hands back a
//! channel that receives their exit; spawning and reaping share a lock so
//! that std's own wait after a failed exec never races the reaper.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::oneshot;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// exit(code).
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// The reaper: spawns watched children, reaps every child.
#[derive(Debug, Default)]
pub struct Reaper {
    watched: Mutex<HashMap<i32, oneshot::Sender<Exit>>>,
}

/// Why a child could not be spawned.
#[derive(Debug, thiserror::Error)]
#[error("starting {program}: {source}")]
pub struct SpawnError {
    /// The program.
    pub program: String,
    /// The OS error.
    pub source: std::io::Error,
}

impl Reaper {
    /// Starts `cmd`; its exit arrives on the returned channel once reaped.
    pub fn spawn(&self, cmd: &mut Command) -> Result<(i32, oneshot::Receiver<Exit>), SpawnError> {
        let (tx, rx) = oneshot::channel();
        // Held across the spawn: std waits for the child itself when exec
        // fails, and the reaper must not take that status first.
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        let child = cmd.spawn().map_err(|source| SpawnError {
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let pid = child.id() as i32;
        watched.insert(pid, tx);
        // Dropping a std Child neither waits nor kills.
        drop(child);
        Ok((pid, rx))
    }

    /// Reaps every child that has exited; returns how many.
    pub fn reap(&self) -> usize {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = 0;
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Exit::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                // Stopped/continued children are not gone.
                Ok(_) => continue,
            };
            count += 1;
            if let Some(tx) = watched.remove(&pid.as_raw()) {
                let _ = tx.send(exit);
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test drives the reaper: waitpid(-1) in a test process would take
    // other tests' children.
    #[tokio::test]
    async fn reports_exits_and_reaps_strays() {
        let reaper = Reaper::default();
        let (_, ok) = reaper
            .spawn(Command::new("/bin/sh").args(["-c", "exit 3"]))
            .expect("spawn");
        let (pid, killed) = reaper
            .spawn(Command::new("/bin/sh").args(["-c", "sleep 30"]))
            .expect("spawn");
        nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
            .expect("kill");
        // A stray child nobody watches is reaped too (by `reap`, not by a wait).
        #[allow(clippy::zombie_processes)]
        let _stray = Command::new("/bin/true").spawn().expect("spawn");
        let mut ok = ok;
        let mut killed = killed;
        let mut results = (None, None);
        for _ in 0..500 {
            reaper.reap();
            if results.0.is_none() {
                results.0 = ok.try_recv().ok();
            }
            if results.1.is_none() {
                results.1 = killed.try_recv().ok();
            }
            if results.0.is_some() && results.1.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(results.0, Some(Exit::Code(3)));
        assert_eq!(results.1, Some(Exit::Signal(libc::SIGKILL)));
        assert!(
            reaper
                .spawn(&mut Command::new("/nonexistent/binary"))
                .is_err()
        );
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
    }
}
