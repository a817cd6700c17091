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
//!
//! Each nudge first re-reads the file's attributes from the host
//! (`statx` with `AT_STATX_FORCE_SYNC`, which FUSE answers with a fresh
//! GETATTR): the guest caches attributes for a second, and what a nudge
//! looked up at a file's creation (empty, mode 0644) would otherwise stay
//! the guest's view of it for that second — a binary built on the host and
//! run at once in a container was refused as not executable.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file type of `path` as the host has it now (the guest's cached
/// attributes of it refreshed on the way), or `None` when it is gone.
fn fresh_file_type(path: &Path) -> Option<libc::mode_t> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero `statx` is a valid value of a plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string and `stx` a writable
    // `statx` that outlive the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_FORCE_SYNC,
            libc::STATX_TYPE | libc::STATX_MODE | libc::STATX_SIZE,
            &mut stx,
        )
    };
    (rc == 0).then_some(libc::mode_t::from(stx.stx_mode) & libc::S_IFMT)
}

/// Raises inotify events for `path` in the guest, after refreshing the
/// guest's view of its attributes. A path that is gone, a directory, a
/// read-only share: nothing, or only what can be done.
pub fn nudge(path: &Path) {
    if fresh_file_type(path) != Some(libc::S_IFREG) {
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
