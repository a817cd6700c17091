//! A container's init layer, as dockerd's (`daemon/initlayer`): a layer
//! between its image's layers and its writable layer holding `/.dockerenv`
//! and the mount points the runtime mounts over (`/proc`, `/sys`,
//! `/dev/pts`, `/dev/shm`, `/dev/console`, `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`) plus `/etc/mtab` → `/proc/mounts`. They are part of
//! the container's filesystem (`ls /`, `docker export`) but not changes of
//! it (`docker diff`, `docker commit` walk the writable layer over this
//! layer and the image's).
//!
//! The layer is the directory `init` of the container's directory, made
//! once (at create, or at the first start of a container made before it
//! existed) under a temporary name and renamed into place, so a crash
//! leaves either no layer or a whole one.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// What dockerd's init layer holds: a path and what it is.
const ENTRIES: [(&str, Entry); 10] = [
    ("dev/pts", Entry::Dir),
    ("dev/shm", Entry::Dir),
    ("proc", Entry::Dir),
    ("sys", Entry::Dir),
    (".dockerenv", Entry::File),
    ("etc/resolv.conf", Entry::File),
    ("etc/hosts", Entry::File),
    ("etc/hostname", Entry::File),
    ("dev/console", Entry::File),
    ("etc/mtab", Entry::Symlink("/proc/mounts")),
];

/// One entry of the init layer.
#[derive(Clone, Copy)]
enum Entry {
    /// A directory (0755).
    Dir,
    /// An empty file (0755, as dockerd creates it).
    File,
    /// A symbolic link to the target.
    Symlink(&'static str),
}

/// The init layer of the container whose directory is `container_dir`.
pub fn path(container_dir: &Path) -> PathBuf {
    container_dir.join("init")
}

/// Make the init layer of the container whose directory is
/// `container_dir`, unless it has one. Owned by root (the daemon's user).
pub fn ensure(container_dir: &Path) -> io::Result<()> {
    let done = path(container_dir);
    if done.is_dir() {
        return Ok(());
    }
    let tmp = container_dir.join("init.tmp");
    match fs::remove_dir_all(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut dirs = fs::DirBuilder::new();
    dirs.recursive(true).mode(0o755);
    dirs.create(&tmp)?;
    for (rel, entry) in ENTRIES {
        let p = tmp.join(rel);
        if let Some(parent) = p.parent() {
            dirs.create(parent)?;
        }
        match entry {
            Entry::Dir => dirs.create(&p)?,
            Entry::File => {
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o755)
                    .open(&p)?
                    .sync_all()?;
            }
            Entry::Symlink(target) => symlink(target, &p)?,
        }
    }
    // Modes as dockerd's whatever the umask.
    for rel in ["", "dev", "etc"].into_iter().chain(
        ENTRIES
            .iter()
            .filter(|(_, e)| !matches!(e, Entry::Symlink(_)))
            .map(|(rel, _)| *rel),
    ) {
        fs::set_permissions(tmp.join(rel), fs::Permissions::from_mode(0o755))?;
    }
    fs::rename(&tmp, &done)?;
    fs::File::open(container_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_dockerds_entries_once() {
        let d = tempfile::tempdir().expect("tempdir");
        ensure(d.path()).expect("init layer");
        let init = path(d.path());
        for (rel, entry) in ENTRIES {
            let md = fs::symlink_metadata(init.join(rel)).expect(rel);
            match entry {
                Entry::Dir => assert!(md.is_dir(), "{rel}"),
                Entry::File => {
                    assert!(md.is_file(), "{rel}");
                    assert_eq!(md.len(), 0, "{rel}");
                    assert_eq!(md.permissions().mode() & 0o777, 0o755, "{rel}");
                }
                Entry::Symlink(t) => {
                    assert_eq!(fs::read_link(init.join(rel)).expect("link"), Path::new(t))
                }
            }
        }
        assert!(!d.path().join("init.tmp").exists());
        // A second call leaves the layer as it is.
        fs::write(init.join("marker"), "").expect("marker");
        ensure(d.path()).expect("again");
        assert!(init.join("marker").exists());
    }

    #[test]
    fn a_half_made_layer_is_made_again() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(d.path().join("init.tmp/proc")).expect("half");
        ensure(d.path()).expect("init layer");
        assert!(path(d.path()).join(".dockerenv").is_file());
        assert!(!d.path().join("init.tmp").exists());
    }
}
