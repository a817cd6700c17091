//! Where a container's files are on the host (`docker inspect` shows them).

use std::path::PathBuf;

use super::ContainerService;

/// The host paths of one container's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPaths {
    /// The `/etc/resolv.conf` bind-mounted into it.
    pub resolv_conf: PathBuf,
    /// The `/etc/hostname` bind-mounted into it.
    pub hostname: PathBuf,
    /// The `/etc/hosts` bind-mounted into it.
    pub hosts: PathBuf,
    /// Its json-file log.
    pub log: PathBuf,
    /// The overlay's mount point (its root filesystem while it runs).
    pub merged: PathBuf,
    /// The overlay's writable layer.
    pub upper: PathBuf,
    /// The overlay's work directory.
    pub work: PathBuf,
}

impl ContainerService {
    /// The host paths of container `id`'s files (whether they exist or not).
    pub fn paths(&self, id: &str) -> ContainerPaths {
        let dir = self.store.dir(id);
        ContainerPaths {
            resolv_conf: dir.join("resolv.conf"),
            hostname: dir.join("hostname"),
            hosts: dir.join("hosts"),
            log: self.log_path(id),
            merged: dir.join("rootfs"),
            upper: dir.join("rw/upper"),
            work: dir.join("rw/work"),
        }
    }
}
