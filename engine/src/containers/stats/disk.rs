//! Disk usage of containers (`/system/df`, `SizeRw`): the bytes of their
//! writable layers, counted as dockerd's `directory.Size` counts them —
//! every non-directory's size once per inode, symlinks not followed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::super::ContainerService;

/// The size in bytes of the files under `dir` (0 if it does not exist).
pub fn tree_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.nlink() <= 1 || seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}

impl ContainerService {
    /// The size of a container's writable layer (blocking: walks it).
    pub fn size_rw(&self, id: &str) -> u64 {
        tree_size(&self.store.dir(id).join("rw/upper"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_once_and_never_follows_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).expect("mkdir");
        std::fs::write(d.join("a/one"), vec![0u8; 100]).expect("write");
        std::fs::write(d.join("a/b/two"), vec![0u8; 50]).expect("write");
        std::fs::hard_link(d.join("a/one"), d.join("a/b/again")).expect("link");
        std::os::unix::fs::symlink("/usr", d.join("a/usr")).expect("symlink");
        let link_len = std::fs::symlink_metadata(d.join("a/usr"))
            .expect("lstat")
            .len();
        assert_eq!(tree_size(d), 150 + link_len);
        assert_eq!(tree_size(&d.join("missing")), 0);
    }
}
