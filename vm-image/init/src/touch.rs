//! Host-side changes made visible to inotify watchers in the guest.
//!
//! virtiofs (FUSE) delivers no events for changes made on the host, so dev
//! servers watching a bind mount never reload. The host follows its shared
//! folders (the `notify` crate) and sends `touch <path>` on the control
//! port; [`nudge`] then does, through the guest's own VFS, what makes the
//! kernel raise events without changing the file: an open for writing and
//! its close (`IN_OPEN`, `IN_CLOSE_WRITE`) and a chmod to the same mode
//! (`IN_ATTRIB`, which libuv/Node, watchdog and busybox's inotifyd see).
//! The content and mtime stay as the host left them; on the host the
//! chmod changes only the ctime (an attribute event the host side ignores,
//! so nothing loops).

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Raises inotify events for `path` in the guest. A path that is gone, a
/// directory, a read-only share: nothing, or only what can be done.
pub fn nudge(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    let mode = std::fs::Permissions::from_mode(meta.permissions().mode() & 0o7777);
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => {
            let _ = file.set_permissions(mode);
        }
        Err(_) => {
            let _ = std::fs::set_permissions(path, mode);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_content_and_mtime_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.txt");
        std::fs::write(&f, "kept\n").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let before = std::fs::metadata(&f)
            .expect("meta")
            .modified()
            .expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        nudge(&f);
        nudge(&dir.path().join("missing"));
        nudge(dir.path());
        let meta = std::fs::metadata(&f).expect("meta");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "kept\n");
        assert_eq!(meta.modified().expect("mtime"), before);
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    }
}
