//! Removing a container's cgroups once its shim is gone.
//!
//! The runtime puts a container in `skiff/<id>` of every cgroup hierarchy
//! (each cgroup v1 controller's, or the unified v2 one) and its `delete`
//! removes them. When that does not happen — the shim was killed, or its
//! delete gave up on a busy cgroup — the directories stay forever (and,
//! if the shim died, the container's processes with them). [`remove`]
//! kills what is left in them and removes them; it costs a few failed
//! `open`s when there is nothing to do.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::error::ContainerError;

/// The cgroup of container `id`, relative to each hierarchy's root (the
/// bundle's `linux.cgroupsPath`, without its leading `/`).
pub fn relative_path(id: &str) -> String {
    format!("skiff/{id}")
}

/// How long processes get to leave a cgroup after SIGKILL.
const DRAIN: Duration = Duration::from_secs(2);

/// Mount points of the cgroup hierarchies (v1 and v2), read once.
fn hierarchies() -> &'static [PathBuf] {
    static MOUNTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    MOUNTS.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        skiff_mountinfo::cgroups(&info)
            .into_iter()
            .map(|m| m.mount_point)
            .collect()
    })
}

/// The existing cgroup directories of container `id`.
pub fn dirs(id: &str) -> Vec<PathBuf> {
    let rel = relative_path(id);
    hierarchies()
        .iter()
        .map(|h| h.join(&rel))
        .filter(|d| d.is_dir())
        .collect()
}

fn pids(dir: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills whatever still runs in container `id`'s cgroups and removes them
/// (children first). Call only when the container must not run any more.
pub fn remove(id: &str) -> Result<(), ContainerError> {
    let dirs = dirs(id);
    if dirs.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + DRAIN;
    let mut left = dirs;
    loop {
        let mut busy = Vec::new();
        for dir in left {
            if remove_tree(&dir) {
                continue;
            }
            kill_all(&dir);
            busy.push(dir);
        }
        if busy.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ContainerError::Runtime(format!(
                "container {id}: cgroup {} is still busy",
                busy[0].display()
            )));
        }
        left = busy;
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes `dir` and the cgroups below it; whether it is gone.
fn remove_tree(dir: &std::path::Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// SIGKILLs every process in `dir` and below, thawing a frozen cgroup (a
/// frozen process cannot die).
fn kill_all(dir: &std::path::Path) {
    if dir.join("cgroup.kill").exists() {
        let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    }
    for pid in pids(dir) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    if dir.join("freezer.state").exists() {
        let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
    }
    if dir.join("cgroup.freeze").exists() {
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                kill_all(&e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_and_removes_a_leftover_cgroup() {
        // Needs root and a cgroup hierarchy; skipped otherwise.
        if !nix::unistd::geteuid().is_root() || hierarchies().is_empty() {
            return;
        }
        let id = format!("skiffd-unit-{}", std::process::id());
        let mut made = Vec::new();
        for h in hierarchies() {
            let d = h.join(relative_path(&id));
            if std::fs::create_dir_all(&d).is_ok() {
                made.push(d);
            }
        }
        if made.is_empty() {
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id().to_string();
        // Where a process may be moved (a v2 parent with controllers enabled
        // refuses): one is enough.
        let joined = made
            .iter()
            .any(|d| std::fs::write(d.join("cgroup.procs"), &pid).is_ok());
        assert_eq!(dirs(&id).len(), made.len());
        remove(&id).expect("remove");
        assert!(dirs(&id).is_empty(), "left: {:?}", dirs(&id));
        if !joined {
            let _ = child.kill();
        }
        let status = child.wait().expect("wait");
        assert!(!status.success(), "sleep was not killed");
    }
}
