//! Deleting removed containers' directories off the request path.
//!
//! `ContainerStore::remove` (`store.rs`) renames
//! a container's directory to a `.tmp-` sibling — the removal is complete
//! once that rename is — and hands it here. One thread deletes these
//! directories one after the other; before deleting one it detaches
//! whatever is still mounted below it (a crash between a rename and an
//! unmount), and it never deletes a directory that still has a mount below
//! it, so a recursive delete cannot walk into a mounted filesystem. The
//! thread exists only while there is something to delete.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::MntFlags;

/// Directories waiting to be deleted, and whether a thread deletes them.
#[derive(Debug, Default)]
struct Queue {
    dirs: VecDeque<PathBuf>,
    /// A deleting thread runs (it exits once the queue is empty, so an idle
    /// daemon has no thread for this).
    busy: bool,
}

/// The directories being deleted in the background.
#[derive(Debug, Default)]
pub struct Trash {
    queue: Arc<(Mutex<Queue>, Condvar)>,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Trash {
    /// An empty trash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deletes `dir` (a directory renamed out of the store) soon, on a
    /// thread started for the purpose (in this thread if none can start).
    pub fn delete(&self, dir: PathBuf) {
        let (m, _) = &*self.queue;
        let mut q = lock(m);
        q.dirs.push_back(dir);
        if q.busy {
            return;
        }
        q.busy = true;
        drop(q);
        let queue = self.queue.clone();
        let spawned = std::thread::Builder::new()
            .name("container-trash".into())
            .spawn(move || drain(&queue));
        if let Err(e) = spawned {
            tracing::warn!("cannot start a thread to delete containers: {e}");
            drain(&self.queue);
        }
    }

    /// Waits (up to `timeout`) until nothing is waiting to be deleted;
    /// whether that is so.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.queue;
        let mut q = lock(m);
        while q.busy || !q.dirs.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = cv
                .wait_timeout(q, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// Deletes what is queued until the queue is empty.
fn drain(queue: &(Mutex<Queue>, Condvar)) {
    let (m, cv) = queue;
    loop {
        let next = {
            let mut q = lock(m);
            let next = q.dirs.pop_front();
            if next.is_none() {
                q.busy = false;
                cv.notify_all();
            }
            next
        };
        match next {
            Some(dir) => delete_now(&dir),
            None => {
                // A burst of removals is over: give back what its requests
                // and this thread's work left free in malloc's arenas.
                crate::memory::release();
                return;
            }
        }
    }
}

/// Detaches the mounts below `dir`, then deletes it (unless a mount is left).
fn delete_now(dir: &Path) {
    for m in mounts_below(dir).iter().rev() {
        match nix::mount::umount2(m.as_path(), MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(e) => tracing::warn!("unmounting {}: {e}", m.display()),
        }
    }
    let left = mounts_below(dir);
    if let Some(m) = left.first() {
        tracing::warn!(
            "not deleting {}: {} is still mounted",
            dir.display(),
            m.display()
        );
        return;
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("deleting {}: {e}", dir.display()),
    }
}

/// Mount points at or below `dir`, parents before children.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let Ok(mounts) = skiff_mountinfo::read_self() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = mounts
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| p.components().count());
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_in_the_background() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let trash = Trash::new();
        for i in 0..3 {
            let d = tmp.path().join(format!("d{i}"));
            std::fs::create_dir_all(d.join("a/b")).expect("mkdir");
            std::fs::write(d.join("a/b/f"), b"x").expect("write");
            trash.delete(d);
        }
        assert!(trash.wait_idle(Duration::from_secs(10)));
        assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0);
    }

    #[test]
    fn never_deletes_through_a_mount() {
        // Needs root (mount); skipped otherwise.
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let doomed = tmp.path().join("doomed");
        let target = doomed.join("rootfs");
        let keep = tmp.path().join("keep");
        std::fs::create_dir_all(&target).expect("mkdir");
        std::fs::create_dir_all(&keep).expect("mkdir");
        std::fs::write(keep.join("precious"), b"x").expect("write");
        nix::mount::mount(
            Some(&keep),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind mount");
        assert_eq!(mounts_below(&doomed), vec![target.clone()]);
        delete_now(&doomed);
        assert!(!doomed.exists());
        assert!(keep.join("precious").exists(), "deleted through a mount");
    }
}
