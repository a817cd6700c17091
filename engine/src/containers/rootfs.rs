//! A container's root filesystem: an overlay of its image's layer snapshots
//! (read-only, top first) under its own writable layer, mounted at
//! `<container>/rootfs` while it runs (and briefly for `cp` / `export`).

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::error::ContainerError;

/// The directories of one container's root filesystem.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// Mount point.
    pub target: PathBuf,
    upper: PathBuf,
    work: PathBuf,
}

impl Rootfs {
    /// The layout under a container directory.
    pub fn new(container_dir: &Path) -> Self {
        Self {
            target: container_dir.join("rootfs"),
            upper: container_dir.join("rw/upper"),
            work: container_dir.join("rw/work"),
        }
    }

    /// Whether the overlay is mounted.
    pub fn is_mounted(&self) -> bool {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let target = self.target.to_string_lossy();
        mounts
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(&*target))
    }

    /// Mount the overlay of `lower` (top layer first); a no-op if mounted.
    pub fn mount(&self, lower: &[PathBuf]) -> Result<(), ContainerError> {
        for d in [&self.target, &self.upper, &self.work] {
            std::fs::create_dir_all(d)
                .map_err(|e| ContainerError::Runtime(format!("creating {}: {e}", d.display())))?;
        }
        if self.is_mounted() {
            return Ok(());
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
        nix::mount::mount(
            Some("overlay"),
            &self.target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| {
            ContainerError::Runtime(format!(
                "mounting the root filesystem at {}: {e}",
                self.target.display()
            ))
        })
    }

    /// Unmount the overlay; a no-op if it is not mounted.
    pub fn unmount(&self) -> Result<(), ContainerError> {
        if !self.is_mounted() {
            return Ok(());
        }
        nix::mount::umount2(&self.target, MntFlags::MNT_DETACH).map_err(|e| {
            ContainerError::Runtime(format!("unmounting {}: {e}", self.target.display()))
        })
    }
}
