//! The cgroup trees a test's engine made, found and removed: every engine a
//! test starts (skiffd, dockerd) gets a cgroup parent of its own, so a
//! test's containers never share a cgroup with another test's or with a
//! user's engine, and the test removes the whole tree when it ends.

use std::fs;
use std::path::{Path, PathBuf};

/// `/sys/fs/cgroup/<hierarchy>/<parent>` for every hierarchy (and the root
/// of a pure v2 host); not all of them need exist.
pub fn dirs(parent: &str) -> Vec<PathBuf> {
    let rel = parent.trim_start_matches('/');
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![base.join(rel)];
    if let Ok(entries) = fs::read_dir(base) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path.join(rel));
            }
        }
    }
    dirs
}

/// Every cgroup directory under `dir` (itself included), deepest first.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(tree(&entry.path()));
            }
        }
    }
    if dir.is_dir() {
        out.push(dir.to_path_buf());
    }
    out
}

/// SIGKILLs every process in these cgroups and their children, thawing
/// frozen ones (a frozen process cannot die); whether any was found.
pub fn kill_members(cgroups: &[PathBuf]) -> bool {
    let mut found = false;
    for cgroup in cgroups.iter().flat_map(|c| tree(c)) {
        for (file, thawed) in [("freezer.state", "THAWED"), ("cgroup.freeze", "0")] {
            let path = cgroup.join(file);
            if path.exists() {
                let _ = fs::write(&path, thawed);
            }
        }
        let Ok(procs) = fs::read_to_string(cgroup.join("cgroup.procs")) else {
            continue;
        };
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            found = true;
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    found
}

/// Removes these cgroups and their children (rmdir, deepest first).
pub fn remove(cgroups: &[PathBuf]) {
    for cgroup in cgroups.iter().flat_map(|c| tree(c)) {
        let _ = fs::remove_dir(&cgroup);
    }
}

/// Kills what runs under `parent` in every hierarchy and removes the trees,
/// retrying for up to `patience` while processes leave their cgroups.
pub fn clear(parent: &str, patience: std::time::Duration) {
    let cgroups = dirs(parent);
    let deadline = std::time::Instant::now() + patience;
    loop {
        kill_members(&cgroups);
        remove(&cgroups);
        if cgroups.iter().all(|c| !c.exists()) || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
