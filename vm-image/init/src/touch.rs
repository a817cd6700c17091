//! Host-side changes made visible to inotify watchers in the guest.
//!
//! virtiofs (FUSE) delivers no events for changes made on the host, so dev
//! servers watching a bind mount never reload. The host follows its shared
//! folders (the `notify` crate) and sends `touch <path>` on the control
//! port; [`nudge`] then does, through the guest's own VFS, what makes the
//! kernel raise events without changing the file: an open for writing and
//! its close (`IN_OPEN`, `IN_CLOSE_WRITE`). Nothing is written back: the
//! host reports the guest's own writes too, and a chmod to the mode just
//! read (for `IN_ATTRIB`) undid a container's `chmod` that came between
//! (docs/vm.md).

use std::os::unix::fs::OpenOptionsExt;
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
    // Opened and closed at once: the close raises IN_CLOSE_WRITE.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
