//! The instance lock: an exclusive `flock` on `<machine>/lock`, held by the
//! process that owns a running machine (the foreground `start` until it
//! hands the descriptor to the supervisor, then the supervisor). The lock
//! belongs to the open file, so it passes to a child that inherits the
//! descriptor, and it vanishes with the last process holding it, even when
//! killed.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{IoContext, MachineError, Result};

/// A held instance lock; released when every copy of the descriptor is
/// closed (never unlocked explicitly, so a child's copy keeps it).
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
}

impl InstanceLock {
    /// Takes the lock at `path` without waiting: `None` if another process
    /// holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<InstanceLock>> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx(|| format!("opening {}", path.display()))?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB)
            .ctx(|| format!("locking {}", path.display()))?
        {
            Ok(Some(InstanceLock { file }))
        } else {
            Ok(None)
        }
    }

    /// Adopts a descriptor inherited from the parent (the supervisor's
    /// `--lock-fd`), checking it is the lock file at `path` and that it
    /// still holds the lock.
    pub fn adopt(fd: std::os::fd::OwnedFd, path: &Path) -> Result<InstanceLock> {
        use std::os::unix::fs::MetadataExt;
        let file = File::from(fd);
        let ours = file
            .metadata()
            .ctx(|| format!("checking the lock descriptor of {}", path.display()))?;
        let theirs = std::fs::metadata(path).ctx(|| format!("reading {}", path.display()))?;
        if ours.ino() != theirs.ino() || ours.dev() != theirs.dev() {
            return Err(MachineError::Busy {
                name: path.display().to_string(),
                what: "the inherited lock descriptor is not this machine's lock file".into(),
            });
        }
        // Re-locking a description we hold succeeds at once; if it fails,
        // another process owns the lock.
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB)
            .ctx(|| format!("locking {}", path.display()))?
        {
            return Err(MachineError::Busy {
                name: path.display().to_string(),
                what: "the lock is held by another process".into(),
            });
        }
        Ok(InstanceLock { file })
    }

    /// The raw descriptor (to pass to a child).
    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

/// Whether some process holds the lock at `path` (a missing file: no).
pub fn is_held(path: &Path) -> Result<bool> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(MachineError::io(format!("opening {}", path.display()), err)),
    };
    // A shared lock is refused only while someone holds it exclusively;
    // ours vanishes when `file` is closed.
    Ok(!flock(&file, libc::LOCK_SH | libc::LOCK_NB)
        .ctx(|| format!("probing {}", path.display()))?)
}

/// `flock(2)`: `Ok(false)` when it would block.
fn flock(file: &File, op: i32) -> std::io::Result<bool> {
    loop {
        // SAFETY: the descriptor is valid for the lifetime of `file`, and
        // flock takes no pointers.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let (_dir, path) = crate::fsutil::temp_path("lock");
        assert!(!is_held(&path).expect("probe"));
        let lock = InstanceLock::try_acquire(&path)
            .expect("lock")
            .expect("free");
        assert!(is_held(&path).expect("probe"));
        assert!(InstanceLock::try_acquire(&path).expect("lock").is_none());
        drop(lock);
        assert!(!is_held(&path).expect("probe"));
        assert!(InstanceLock::try_acquire(&path).expect("lock").is_some());
    }

    #[test]
    fn a_duplicated_descriptor_keeps_the_lock() {
        let (dir, path) = crate::fsutil::temp_path("lock");
        let lock = InstanceLock::try_acquire(&path)
            .expect("lock")
            .expect("free");
        let dup = lock.file.try_clone().expect("dup");
        drop(lock);
        assert!(is_held(&path).expect("probe"), "the copy still holds it");
        let adopted = InstanceLock::adopt(dup.into(), &path).expect("adopt");
        assert!(is_held(&path).expect("probe"));
        drop(adopted);
        assert!(!is_held(&path).expect("probe"));
        // A descriptor of another file is refused.
        let other = File::create(dir.path().join("other")).expect("create");
        assert!(InstanceLock::adopt(other.into(), &path).is_err());
    }
}
