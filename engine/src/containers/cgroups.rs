//! Removing a container's cgroups once its shim is gone.
//!
//! The runtime puts a container in `<parent>/<id>` of every cgroup hierarchy
//! (each cgroup v1 controller's, or the unified v2 one), where the parent
//! is the container's `HostConfig.CgroupParent`, else the daemon's
//! `--cgroup-parent`, else [`DEFAULT_PARENT`] — fixed at create and kept
//! in the record — and its `delete`
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

/// The parent cgroup of containers when neither the container nor the
/// daemon names one (dockerd's is `/docker`).
pub const DEFAULT_PARENT: &str = "/skiff";

/// A cgroup parent as given (`--cgroup-parent`, `HostConfig.CgroupParent`)
/// made absolute (`a/b` → `/a/b`, a trailing `/` dropped); refused when a
/// component is `.` or `..` (it could name a cgroup outside the tree the
/// user meant) or it names the root itself.
pub fn normalise_parent(parent: &str) -> Result<String, &'static str> {
    let parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err("the root cgroup cannot be a parent");
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err("'.' and '..' are not allowed in a cgroup path");
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The cgroup of container `id` under `parent` (normalised), relative to
/// each hierarchy's root (the bundle's `linux.cgroupsPath` without its
/// leading `/`).
pub fn relative_path(parent: &str, id: &str) -> String {
    format!("{}/{id}", parent.trim_matches('/'))
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

/// The existing directories of cgroup `rel` (a [`relative_path`]).
pub fn dirs(rel: &str) -> Vec<PathBuf> {
    hierarchies()
        .iter()
        .map(|h| h.join(rel))
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

/// Kills whatever still runs in cgroup `rel` (a container's
/// [`relative_path`]) and removes it (children first). Call only when the
/// container must not run any more.
pub fn remove(rel: &str) -> Result<(), ContainerError> {
    let dirs = dirs(rel);
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
                "cgroup {} is still busy",
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
        // A parent of its own, removed at the end: the host keeps no trace.
        let parent = format!("/skiffd-unit-{}", std::process::id());
        let id = relative_path(&parent, "c");
        let mut made = Vec::new();
        for h in hierarchies() {
            let d = h.join(&id);
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
        for h in hierarchies() {
            let _ = std::fs::remove_dir(h.join(parent.trim_start_matches('/')));
        }
    }

    #[test]
    fn parents_are_made_absolute_and_never_climb() {
        assert_eq!(normalise_parent("a/b/").as_deref(), Ok("/a/b"));
        assert_eq!(normalise_parent("//x//y").as_deref(), Ok("/x/y"));
        assert!(normalise_parent("/").is_err());
        assert!(normalise_parent("").is_err());
        assert!(normalise_parent("/a/../b").is_err());
        assert!(normalise_parent("./a").is_err());
        assert_eq!(relative_path("/a/b", "id"), "a/b/id");
        assert_eq!(relative_path(DEFAULT_PARENT, "id"), "skiff/id");
    }
}
