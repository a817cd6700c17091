//! What the targets that write files share: a description of a directory
//! tree, to check that nothing outside a target's own directory changed,
//! and emptying that directory between runs.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Every path under `dir` but `skip`, with its type, mode, owner, size,
/// mtime, content or link target.
pub fn state(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let meta = std::fs::symlink_metadata(&d).expect("lstat");
        let mut desc = format!(
            "{:o} {}:{} {} {}.{}",
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec()
        );
        if meta.file_type().is_symlink() {
            desc.push_str(&format!(
                " -> {:?}",
                std::fs::read_link(&d).expect("readlink")
            ));
        } else if meta.is_file() {
            desc.push_str(&format!(" {:?}", std::fs::read(&d).expect("read")));
        } else if meta.is_dir() {
            for e in std::fs::read_dir(&d).expect("readdir") {
                let p = e.expect("entry").path();
                if p != skip {
                    todo.push(p);
                }
            }
        }
        out.insert(d, desc);
    }
    out
}

/// Empty `dir` (kept, so its parent's mtime does not change).
pub fn clear(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("readdir snapshot") {
        let p = e.expect("entry").path();
        let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(&p).or_else(|_| {
                // A directory of mode 0 is removable by root only: open it up.
                let _ = std::process::Command::new("chmod")
                    .arg("-R")
                    .arg("u+rwx")
                    .arg(&p)
                    .status();
                std::fs::remove_dir_all(&p)
            })
        } else {
            std::fs::remove_file(&p)
        };
        removed.expect("clearing the snapshot dir");
    }
}

/// Where a target makes its sandbox: `$SKIFF_FUZZ_SANDBOX` (set by
/// `scripts/fuzz.sh`), else the temp dir; one directory per process.
pub fn sandbox_dir(target: &str) -> PathBuf {
    std::env::var_os("SKIFF_FUZZ_SANDBOX")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("skiff-fuzz-{target}-{}", std::process::id()))
}

/// Panic naming what `what` changed when `after` differs from `before`.
pub fn assert_unchanged(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    what: &str,
) {
    if after != before {
        let changed: Vec<_> = after
            .iter()
            .filter(|(p, d)| before.get(*p) != Some(d))
            .map(|(p, _)| p)
            .chain(before.keys().filter(|p| !after.contains_key(*p)))
            .collect();
        panic!("{what} changed files outside its directory: {changed:?}");
    }
}
