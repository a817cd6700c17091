//! PID 1 adopts every orphan (the containers' shims are double-forked on
//! purpose), so init must reap children it never started. But code running
//! inside init also starts and waits for its own children (the relay's
//! `skiff machine shell` runs `sh` through `tokio::process`), and a blind
//! `waitpid(-1)` would steal their exit statuses.
//!
//! So the reaper looks before it reaps: it lists this process's zombie
//! children (`/proc/self/task/*/children`), reaps at once the ones it
//! started itself ([`Reaper::spawn`], which hands back a channel for the
//! exit), and reaps any other zombie only after a grace period in which
//! its own waiter, if it has one, has had every chance to collect it.
//! Spawning and reaping share a lock so that std's own wait after a failed
//! exec never races the reaper.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
#[derive(Debug)]
pub struct Reaper {
    grace: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    watched: HashMap<i32, oneshot::Sender<Exit>>,
    /// Zombies nobody here started, and since when they are known.
    strays: HashMap<i32, Instant>,
}

impl Default for Reaper {
    /// Strays are reaped after 2 s.
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
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

/// The state letter of a `/proc/<pid>/stat` line (after the command).
pub fn stat_state(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// This process's children that are zombies.
fn zombie_children() -> Vec<i32> {
    let mut children: Vec<i32> = Vec::new();
    let mut have_lists = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.filter_map(Result::ok) {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                have_lists = true;
                children.extend(
                    list.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    if !have_lists {
        // A kernel without CONFIG_PROC_CHILDREN: every process, by parent.
        let me = std::process::id().to_string();
        if let Ok(all) = std::fs::read_dir("/proc") {
            for entry in all.filter_map(Result::ok) {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|p| p.parse::<i32>().ok())
                else {
                    continue;
                };
                let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                let ppid = stat
                    .rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().nth(1));
                if ppid == Some(me.as_str()) {
                    children.push(pid);
                }
            }
        }
    }
    children.sort_unstable();
    children.dedup();
    children.retain(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| stat_state(&s) == Some('Z'))
    });
    children
}

fn exit_of(status: WaitStatus) -> Option<(i32, Exit)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), Exit::Code(code))),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), Exit::Signal(sig as i32))),
        _ => None,
    }
}

fn reap_pid(pid: i32) -> Option<Exit> {
    waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG))
        .ok()
        .and_then(exit_of)
        .map(|(_, exit)| exit)
}

impl Reaper {
    /// A reaper that leaves other waiters' zombies alone for `grace`.
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            state: Mutex::new(State::default()),
        }
    }

    /// Starts `cmd`; its exit arrives on the returned channel once reaped.
    pub fn spawn(&self, cmd: &mut Command) -> Result<(i32, oneshot::Receiver<Exit>), SpawnError> {
        let (tx, rx) = oneshot::channel();
        // Held across the spawn: std waits for the child itself when exec
        // fails, and the reaper must not take that status first.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let child = cmd.spawn().map_err(|source| SpawnError {
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let pid = child.id() as i32;
        state.watched.insert(pid, tx);
        // Dropping a std Child neither waits nor kills.
        drop(child);
        Ok((pid, rx))
    }

    /// Reaps the zombies due: the ones started through [`Reaper::spawn`]
    /// at once, others after the grace period. Returns how many.
    pub fn reap(&self) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let zombies = zombie_children();
        let mut count = 0;
        for &pid in &zombies {
            if let Some(tx) = state.watched.remove(&pid) {
                match reap_pid(pid) {
                    Some(exit) => {
                        let _ = tx.send(exit);
                        count += 1;
                    }
                    None => {
                        state.watched.insert(pid, tx);
                    }
                }
                continue;
            }
            let since = *state.strays.entry(pid).or_insert(now);
            if now.duration_since(since) >= self.grace && reap_pid(pid).is_some() {
                state.strays.remove(&pid);
                count += 1;
            }
        }
        state.strays.retain(|pid, _| zombies.contains(pid));
        count
    }

    /// Reaps every exited child now, whoever started it (at shutdown).
    pub fn reap_all(&self) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = 0;
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => match exit_of(status) {
                    Some(e) => e,
                    // Stopped/continued children are not gone.
                    None => continue,
                },
            };
            count += 1;
            state.strays.remove(&pid);
            if let Some(tx) = state.watched.remove(&pid) {
                let _ = tx.send(exit);
            }
        }
        count
    }
}

/// Reaps on every SIGCHLD, and every second for strays whose grace period
/// ran out, for as long as the runtime lives. Must be called inside a
/// tokio runtime.
pub fn spawn_reaping(reaper: std::sync::Arc<Reaper>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigchld = signal(SignalKind::child())?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            reaper.reap();
            tokio::select! {
                sig = sigchld.recv() => if sig.is_none() { return },
                _ = tick.tick() => {}
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_from_stat_lines() {
        assert_eq!(stat_state("42 (sh) Z 1 42 42 0 -1"), Some('Z'));
        assert_eq!(stat_state("7 (a) b) S 1 7 7"), Some('S'));
        assert_eq!(stat_state("garbage"), None);
    }

    fn gone(pid: u32) -> bool {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    // One test drives the reaper: it reaps this test process's children.
    #[tokio::test]
    async fn reports_exits_leaves_others_waiters_alone_and_reaps_strays() {
        let reaper = Reaper::new(Duration::from_millis(300));
        let (_, mut ok) = reaper
            .spawn(Command::new("/bin/sh").args(["-c", "exit 3"]))
            .expect("spawn");
        let (pid, mut killed) = reaper
            .spawn(Command::new("/bin/sh").args(["-c", "sleep 30"]))
            .expect("spawn");
        nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
            .expect("kill");
        // A child some other code waits for (as the relay's shell does).
        let mut theirs = tokio::process::Command::new("/bin/sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("spawn");
        let their_wait = tokio::spawn(async move { theirs.wait().await });
        // A stray nobody waits for: reaped after the grace period.
        #[allow(clippy::zombie_processes)]
        let stray = Command::new("/bin/true").spawn().expect("spawn");
        let stray_pid = stray.id();
        let mut results = (None, None);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            reaper.reap();
            if results.0.is_none() {
                results.0 = ok.try_recv().ok();
            }
            if results.1.is_none() {
                results.1 = killed.try_recv().ok();
            }
            if results.0.is_some() && results.1.is_some() && gone(stray_pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(results.0, Some(Exit::Code(3)));
        assert_eq!(results.1, Some(Exit::Signal(libc::SIGKILL)));
        assert!(gone(stray_pid), "the stray was reaped");
        let status = their_wait
            .await
            .expect("join")
            .expect("their waiter still gets the status");
        assert_eq!(status.code(), Some(7));
        assert!(
            reaper
                .spawn(&mut Command::new("/nonexistent/binary"))
                .is_err()
        );
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
    }
}
