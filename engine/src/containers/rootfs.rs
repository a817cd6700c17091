//! A container's root filesystem: an overlay of its image's layer snapshots
//! (read-only, top first) under its own writable layer, mounted at
//! `<container>/rootfs` while it runs (and briefly for `cp` / `export`).
//!
//! An `--rm` container's overlay is mounted `volatile` (Linux 5.10+): the
//! kernel never syncs its writable layer, not even when it is unmounted,
//! which would otherwise flush the whole filesystem under the data root at
//! every exit. Its writes are lost if the host crashes — the container is
//! removed on exit anyway.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::error::ContainerError;

/// Cleared when the kernel refuses `volatile` (before 5.10).
static VOLATILE_WORKS: AtomicBool = AtomicBool::new(true);

/// The directories of one container's root filesystem.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// Mount point.
    pub target: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    volatile: bool,
}

impl Rootfs {
    /// The layout under a container directory.
    pub fn new(container_dir: &Path) -> Self {
        Self {
            target: container_dir.join("rootfs"),
            upper: container_dir.join("rw/upper"),
            work: container_dir.join("rw/work"),
            volatile: false,
        }
    }

    /// Mount it `volatile` (for containers removed when they exit).
    pub fn volatile(mut self, volatile: bool) -> Self {
        self.volatile = volatile;
        self
    }

    /// Whether the overlay is mounted: the mount point is on another device
    /// than its parent (only an overlay is ever mounted there).
    pub fn is_mounted(&self) -> bool {
        let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev());
        match (dev(&self.target), self.target.parent().map(dev)) {
            (Ok(a), Some(Ok(b))) => a != b,
            _ => false,
        }
    }

    /// Mount the overlay of `lower` (top layer first); a no-op if mounted.
    pub fn mount(&self, lower: &[PathBuf]) -> Result<(), ContainerError> {
        for d in [&self.target, &self.upper, &self.work] {
            std::fs::create_dir_all(d)
                .map_err(|e| ContainerError::io(format!("creating {}", d.display()), e))?;
        }
        if self.is_mounted() {
            return Ok(());
        }
        // A volatile mount leaves this behind, and overlayfs refuses every
        // later mount while it exists.
        let incompat = self.work.join("work/incompat/volatile");
        if incompat.exists() {
            let _ = std::fs::remove_dir_all(&incompat);
        }
        let lower = lower
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let data = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            self.upper.display(),
            self.work.display()
        );
        let mount = |data: &str| {
            nix::mount::mount(
                Some("overlay"),
                &self.target,
                Some("overlay"),
                MsFlags::empty(),
                Some(data),
            )
        };
        let result = if self.volatile && VOLATILE_WORKS.load(Ordering::Relaxed) {
            match mount(&format!("{data},volatile")) {
                Err(Errno::EINVAL) => {
                    let plain = mount(&data);
                    if plain.is_ok() {
                        tracing::info!("overlayfs has no volatile option (Linux < 5.10)");
                        VOLATILE_WORKS.store(false, Ordering::Relaxed);
                    }
                    plain
                }
                other => other,
            }
        } else {
            mount(&data)
        };
        result.map_err(|source| ContainerError::Sys {
            context: format!("mounting the root filesystem at {}", self.target.display()),
            source,
        })
    }

    /// Unmount the overlay (detached); a no-op if it is not mounted.
    pub fn unmount(&self) -> Result<(), ContainerError> {
        match nix::mount::umount2(&self.target, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point.
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
            Err(source) => Err(ContainerError::Sys {
                context: format!("unmounting {}", self.target.display()),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_overlays_mount_again_and_unmount() {
        // Needs root (mount); skipped otherwise.
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let lower = tmp.path().join("lower");
        std::fs::create_dir_all(&lower).expect("mkdir");
        std::fs::write(lower.join("f"), b"lower").expect("write");
        let container = tmp.path().join("c");
        let rootfs = Rootfs::new(&container).volatile(true);
        assert!(!rootfs.is_mounted());
        rootfs.unmount().expect("not mounted: a no-op");
        for round in 0..2 {
            rootfs
                .mount(std::slice::from_ref(&lower))
                .unwrap_or_else(|e| panic!("mount {round}: {e}"));
            assert!(rootfs.is_mounted());
            rootfs.mount(std::slice::from_ref(&lower)).expect("no-op");
            assert_eq!(
                std::fs::read(rootfs.target.join("f")).expect("read"),
                b"lower"
            );
            std::fs::write(rootfs.target.join(format!("w{round}")), b"x").expect("write");
            rootfs.unmount().expect("unmount");
            assert!(!rootfs.is_mounted());
        }
        // The writable layer kept both rounds' writes.
        assert!(container.join("rw/upper/w0").exists());
        assert!(container.join("rw/upper/w1").exists());
        // And a plain mount works after a volatile one.
        let plain = Rootfs::new(&container);
        plain.mount(&[lower]).expect("plain mount");
        assert!(plain.is_mounted());
        plain.unmount().expect("unmount");
    }
}
