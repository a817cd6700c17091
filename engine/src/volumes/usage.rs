//! What containers do with volumes: reference them (in-use answers, ref
//! counts), mount them (the local driver's device mounts, counted), and
//! populate fresh ones from the image (copy-up).

use std::path::{Path, PathBuf};

use super::copyup::copy_up;
use super::mounter::MountError;
use super::{DATA_DIR, LOCAL_DRIVER, State, VolumeError, VolumeService};

/// Where a container mounts a volume: the `mount` event's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountRef<'a> {
    /// The container's id.
    pub container: &'a str,
    /// The path in the container.
    pub destination: &'a str,
    /// Mounted read-write.
    pub read_write: bool,
    /// The propagation (`rprivate`…, or empty).
    pub propagation: &'a str,
}

impl VolumeService {
    /// Record that `container` uses volume `name` (idempotent). A volume
    /// with users cannot be removed or pruned and is not dangling.
    pub fn add_ref(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        let mut state = self.lock();
        if !state.volumes.contains_key(name) {
            return Err(VolumeError::NotFound(name.to_owned()));
        }
        state
            .refs
            .entry(name.to_owned())
            .or_default()
            .insert(container.to_owned());
        Ok(())
    }

    /// Forget that `container` uses volume `name` (nothing if it did not).
    pub fn release(&self, name: &str, container: &str) {
        let mut state = self.lock();
        if let Some(users) = state.refs.get_mut(name) {
            users.remove(container);
            if users.is_empty() {
                state.refs.remove(name);
            }
        }
    }

    /// The containers using volume `name`, sorted.
    pub fn users(&self, name: &str) -> Vec<String> {
        self.lock()
            .refs
            .get(name)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Mount volume `name` for a container: the device of a volume with
    /// driver options is mounted on its `_data` by the first user and stays
    /// until the last one unmounts. Returns the path to bind into the
    /// container. Publishes `mount`.
    pub fn mount(&self, name: &str, at: &MountRef<'_>) -> Result<PathBuf, VolumeError> {
        let path = self.driver_mount(&mut self.lock(), name)?;
        self.event(
            "mount",
            name,
            &[
                ("driver", LOCAL_DRIVER),
                ("container", at.container),
                ("destination", at.destination),
                ("read/write", if at.read_write { "true" } else { "false" }),
                ("propagation", at.propagation),
            ],
        );
        Ok(path)
    }

    /// Re-take one mount of volume `name` for a container that kept running
    /// across a skiffd restart (no event: the container mounted it before).
    pub fn reacquire(&self, name: &str) -> Result<PathBuf, VolumeError> {
        self.driver_mount(&mut self.lock(), name)
    }

    /// Undo one [`VolumeService::mount`] by `container`. Publishes
    /// `unmount`.
    pub fn unmount(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        self.driver_unmount(&mut self.lock(), name)?;
        self.event(
            "unmount",
            name,
            &[("driver", LOCAL_DRIVER), ("container", container)],
        );
        Ok(())
    }

    /// dockerd's copy-up for a volume just created for a container: copy
    /// `image_dir` (the image's content at the mount's destination) into
    /// the volume if the volume is empty, giving it the directory's owner
    /// and mode (see [`copy_up`]). Mounts the volume's device for the copy
    /// and unmounts it after, without events. Returns whether it copied.
    pub fn populate(&self, name: &str, image_dir: &Path) -> Result<bool, VolumeError> {
        let data = self.driver_mount(&mut self.lock(), name)?;
        let copied = copy_up(image_dir, &data).map_err(VolumeError::io("copying up", image_dir));
        let unmounted = self.driver_unmount(&mut self.lock(), name);
        let copied = copied?;
        unmounted?;
        Ok(copied)
    }

    fn driver_mount(&self, state: &mut State, name: &str) -> Result<PathBuf, VolumeError> {
        let data = self.dir(name).join(DATA_DIR);
        let entry = state
            .volumes
            .get_mut(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        let Some(opts) = entry.local.as_ref().filter(|o| o.needs_mount()) else {
            return Ok(data);
        };
        if !entry.mounted {
            for call in opts.mount_calls(&data) {
                if let Err(errno) = self.mounter.mount(&call) {
                    // A mount made before a failed propagation change or
                    // read-only remount goes away again.
                    let _ = self.mounter.unmount(&data);
                    return Err(VolumeError::Mount(MountError::of(&call, errno)));
                }
            }
            entry.mounted = true;
        }
        entry.active += 1;
        Ok(data)
    }

    fn driver_unmount(&self, state: &mut State, name: &str) -> Result<(), VolumeError> {
        let data = self.dir(name).join(DATA_DIR);
        let entry = state
            .volumes
            .get_mut(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        if !entry.local.as_ref().is_some_and(|o| o.needs_mount()) {
            return Ok(());
        }
        if entry.active == 0 {
            tracing::error!("volume {name}: unmount without a mount");
            return Ok(());
        }
        entry.active -= 1;
        if entry.active > 0 || !entry.mounted {
            return Ok(());
        }
        if let Err(errno) = self.mounter.unmount(&data) {
            if self.mounter.is_mounted(&data).unwrap_or(true) {
                return Err(VolumeError::Unmount(MountError::umount(&data, errno)));
            }
        }
        entry.mounted = false;
        Ok(())
    }
}
