//! The app's processes, from `/proc`: which are alive under a process (the
//! app under tauri-driver, WebKit's processes under the app) and their
//! resident memory.

use std::fs;

/// A process: its pid and `comm` (the kernel's 15-character name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// The pid.
    pub pid: u32,
    /// `/proc/<pid>/comm`, e.g. `WebKitWebProces`.
    pub comm: String,
}

/// `(pid, ppid, comm)` of every process (those that vanish while read are
/// skipped).
fn table() -> Vec<(u32, u32, String)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`: comm may hold spaces and parens.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm))
        })
        .collect()
}

/// The live descendants of `root` (not `root` itself).
pub fn descendants(root: u32) -> Vec<Proc> {
    let table = table();
    let mut found: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, comm) in &table {
            if *ppid == parent && !found.iter().any(|p| p.pid == *pid) {
                found.push(Proc {
                    pid: *pid,
                    comm: comm.clone(),
                });
                frontier.push(*pid);
            }
        }
    }
    found
}

/// The first descendant of `root` named `comm`.
pub fn find_descendant(root: u32, comm: &str) -> Option<u32> {
    descendants(root)
        .into_iter()
        .find(|p| p.comm == comm)
        .map(|p| p.pid)
}

/// WebKit's processes (web, network, GPU) under `root`.
pub fn webkit_processes(root: u32) -> Vec<Proc> {
    descendants(root)
        .into_iter()
        .filter(|p| p.comm.starts_with("WebKit"))
        .collect()
}

/// WebKit's web processes (a page each: DOM, JavaScriptCore) under `root`.
pub fn web_processes(root: u32) -> Vec<Proc> {
    descendants(root)
        .into_iter()
        .filter(|p| p.comm.starts_with("WebKitWebProces"))
        .collect()
}

/// `VmRSS` of `pid` in KiB; `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_found_under_its_parent_with_its_memory() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let me = std::process::id();
        let found = find_descendant(me, "sleep");
        let rss = rss_kib(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, Some(child.id()));
        assert!(rss.is_some_and(|k| k > 0), "{rss:?}");
        assert!(webkit_processes(me).is_empty() && web_processes(me).is_empty());
        assert_eq!(rss_kib(child.id()), None);
    }
}
