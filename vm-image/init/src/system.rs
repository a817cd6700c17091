//! The system disk: the image's read-only ext4 filesystem (`system.img`,
//! label [`LABEL`]) holding `/usr` — skiffd, skiff-shim, the libraries,
//! busybox, every kernel module. The initramfs keeps only what mounting it
//! needs (this binary, its libraries, `/etc`, the virtio modules of
//! `modules.boot`), so the kernel unpacks ~2 MiB instead of ~37 MiB.
//!
//! Contract (docs/vm.md): the host attaches `system.img` read-only as a
//! second virtio-blk disk (after the data disk); skiff-init finds it by
//! its label among the `vd*` disks other than `skiff.data`, and mounts it
//! at `/usr` (`ro,nodev`) right after the boot modules. An initramfs that
//! still holds `/usr/bin/skiffd` (the older, single-file layout) needs no
//! system disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{MsFlags, mount};

use crate::disk::{self, Superblock};
use crate::error::{Context, SysError};

/// The system filesystem's ext4 label (`vm-image/build.sh` sets it).
pub const LABEL: &str = "skiff-system";
/// Where it is mounted.
pub const MOUNT_POINT: &str = "/usr";
/// What tells an initramfs that holds everything (no system disk needed).
const ENGINE_IN_INITRAMFS: &str = "/usr/bin/skiffd";

/// Why the system disk could not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// No disk labelled [`LABEL`] appeared.
    #[error("no disk labelled {LABEL} appeared within {0:?} (disks seen: {1})")]
    Missing(Duration, String),
    /// Reading a disk or mounting it failed.
    #[error(transparent)]
    Sys(#[from] SysError),
}

/// Whether the running initramfs needs the system disk (it has no skiffd).
pub fn needed() -> bool {
    !Path::new(ENGINE_IN_INITRAMFS).exists()
}

/// The first of `disks` (device, its superblock if any) that carries the
/// system label and is not the data disk `data`.
pub fn pick(disks: &[(PathBuf, Option<Superblock>)], data: &Path) -> Option<PathBuf> {
    disks
        .iter()
        .filter(|(dev, _)| dev != data)
        .find(|(_, sb)| sb.as_ref().is_some_and(|sb| sb.label == LABEL))
        .map(|(dev, _)| dev.clone())
}

/// The virtio disks the kernel has now (`/dev/vd*`, from `/sys/block`),
/// with their ext superblocks; a disk whose node is not there yet or that
/// cannot be read has `None`.
fn virtio_disks() -> Vec<(PathBuf, Option<Superblock>)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("vd"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let dev = Path::new("/dev").join(n);
            let sb = disk::probe(&dev).ok().flatten();
            (dev, sb)
        })
        .collect()
}

/// Waits (up to `timeout`) for the system disk and mounts it read-only at
/// [`MOUNT_POINT`]; returns the device.
pub fn mount_usr(data: &Path, timeout: Duration) -> Result<PathBuf, SystemError> {
    let started = Instant::now();
    let device = loop {
        let disks = virtio_disks();
        if let Some(dev) = pick(&disks, data) {
            break dev;
        }
        if started.elapsed() > timeout {
            let seen: Vec<String> = disks.iter().map(|(d, _)| d.display().to_string()).collect();
            return Err(SystemError::Missing(timeout, seen.join(", ")));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let target = Path::new(MOUNT_POINT);
    mount(
        Some(&device),
        target,
        Some("ext4"),
        MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .at("mount", target)?;
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(label: &str) -> Option<Superblock> {
        Some(Superblock {
            uuid: "u".into(),
            label: label.into(),
        })
    }

    #[test]
    fn picks_the_labelled_disk_that_is_not_the_data_disk() {
        let disks = vec![
            (PathBuf::from("/dev/vda"), sb("skiff-data")),
            (PathBuf::from("/dev/vdb"), sb(LABEL)),
        ];
        assert_eq!(
            pick(&disks, Path::new("/dev/vda")),
            Some(PathBuf::from("/dev/vdb"))
        );
        // Whatever order the hypervisor gave them.
        let swapped = vec![
            (PathBuf::from("/dev/vda"), sb(LABEL)),
            (PathBuf::from("/dev/vdb"), None),
        ];
        assert_eq!(
            pick(&swapped, Path::new("/dev/vdb")),
            Some(PathBuf::from("/dev/vda"))
        );
    }

    #[test]
    fn never_the_data_disk_nor_an_unlabelled_one() {
        // A data disk someone labelled skiff-system is still the data disk.
        let disks = vec![
            (PathBuf::from("/dev/vda"), sb(LABEL)),
            (PathBuf::from("/dev/vdb"), sb("other")),
            (PathBuf::from("/dev/vdc"), None),
        ];
        assert_eq!(pick(&disks, Path::new("/dev/vda")), None);
        assert_eq!(pick(&[], Path::new("/dev/vda")), None);
    }
}
