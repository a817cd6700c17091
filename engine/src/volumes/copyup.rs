//! dockerd's copy-up: when a fresh, empty volume is mounted over a directory
//! of the image, the directory's content is copied into the volume first
//! (`copyExistingContents`, over containerd continuity's `fs.CopyDir`).
//!
//! Contract of [`copy_up`]:
//! - nothing happens if the volume already holds anything, or if the image
//!   path is missing or not a directory;
//! - otherwise every entry is copied with its owner, mode, times and
//!   extended attributes (a filesystem without xattr support is not an
//!   error); symlinks are copied as links, hard links stay hard links,
//!   devices, FIFOs and sockets are recreated;
//! - the volume's root takes the image directory's owner and mode (so a
//!   `USER 999` image can write its data directory), even when the image
//!   directory is empty.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// Copy the content of `image_dir` into the empty volume directory
/// `volume_dir`. Returns whether anything was done (see the module's
/// contract).
pub fn copy_up(image_dir: &Path, volume_dir: &Path) -> io::Result<bool> {
    let meta = match fs::metadata(image_dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if fs::read_dir(volume_dir)?.next().is_some() {
        return Ok(false);
    }
    let mut inodes = HashMap::new();
    copy_dir(image_dir, volume_dir, &meta, &mut inodes)?;
    Ok(true)
}

/// Copy the entries of `src` into the existing directory `dst`, then give
/// `dst` the attributes of `src` (`meta`).
fn copy_dir(
    src: &Path,
    dst: &Path,
    meta: &Metadata,
    inodes: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let m = fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_dir() {
            fs::create_dir(&to)?;
            copy_dir(&from, &to, &m, inodes)?;
            continue;
        }
        if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = inodes.get(&(m.dev(), m.ino())) {
                    fs::hard_link(first, &to)?;
                    continue;
                }
                inodes.insert((m.dev(), m.ino()), to.clone());
            }
            fs::copy(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket() {
            let kind = SFlag::from_bits_truncate(m.mode() & libc::S_IFMT);
            nix::sys::stat::mknod(
                &to,
                kind,
                Mode::from_bits_truncate(m.mode() & 0o7777),
                m.rdev(),
            )?;
        } else {
            tracing::warn!("copy-up: skipping {} of unsupported type", from.display());
            continue;
        }
        copy_attributes(&from, &to, &m)?;
    }
    copy_attributes(src, dst, meta)
}

/// Owner, mode (not for symlinks), times and xattrs of `src` onto `dst`, in
/// continuity's order (chown first: it clears set-id bits).
fn copy_attributes(src: &Path, dst: &Path, m: &Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))?;
    let is_link = m.file_type().is_symlink();
    if !is_link {
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    let atime = TimeSpec::new(m.atime(), m.atime_nsec());
    let mtime = TimeSpec::new(m.mtime(), m.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        dst,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    copy_xattrs(src, dst)
}

/// Extended attributes of `src` onto `dst` (never following symlinks); a
/// filesystem that does not support them is not an error.
fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let unsupported = |e: &io::Error| e.raw_os_error() == Some(libc::ENOTSUP);
    let names = match xattr::list(src) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        let Some(value) = xattr::get(src, &name)? else {
            continue;
        };
        match xattr::set(dst, &name, &value) {
            Err(e) if !unsupported(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn copies_content_links_modes_and_xattrs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (img, vol) = (dir.path().join("img"), dir.path().join("vol"));
        fs::create_dir_all(img.join("sub")).expect("mkdir");
        fs::write(img.join("sub/file"), b"data").expect("write");
        fs::set_permissions(img.join("sub/file"), fs::Permissions::from_mode(0o640))
            .expect("chmod");
        fs::hard_link(img.join("sub/file"), img.join("again")).expect("link");
        std::os::unix::fs::symlink("sub/file", img.join("link")).expect("symlink");
        nix::unistd::mkfifo(&img.join("fifo"), Mode::from_bits_truncate(0o600)).expect("fifo");
        let xattrs = xattr::set(img.join("sub/file"), "user.note", b"kept").is_ok();
        fs::set_permissions(&img, fs::Permissions::from_mode(0o711)).expect("chmod");
        fs::create_dir(&vol).expect("vol");

        assert!(copy_up(&img, &vol).expect("copy"));
        assert_eq!(fs::read(vol.join("sub/file")).expect("read"), b"data");
        let f = fs::metadata(vol.join("sub/file")).expect("stat");
        assert_eq!(f.mode() & 0o7777, 0o640);
        assert_eq!(
            f.ino(),
            fs::metadata(vol.join("again")).expect("stat").ino()
        );
        assert_eq!(
            fs::read_link(vol.join("link")).expect("link"),
            Path::new("sub/file")
        );
        assert!(
            fs::symlink_metadata(vol.join("fifo"))
                .expect("fifo")
                .file_type()
                .is_fifo()
        );
        assert_eq!(fs::metadata(&vol).expect("root").mode() & 0o7777, 0o711);
        assert_eq!(
            fs::metadata(vol.join("sub/file")).expect("m").mtime(),
            fs::metadata(img.join("sub/file")).expect("m").mtime()
        );
        if xattrs {
            assert_eq!(
                xattr::get(vol.join("sub/file"), "user.note")
                    .expect("get")
                    .as_deref(),
                Some(&b"kept"[..])
            );
        }
    }

    #[test]
    fn leaves_a_populated_volume_and_odd_sources_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (img, vol) = (dir.path().join("img"), dir.path().join("vol"));
        fs::create_dir_all(&img).expect("mkdir");
        fs::write(img.join("new"), b"x").expect("write");
        fs::create_dir(&vol).expect("vol");
        fs::write(vol.join("old"), b"y").expect("write");
        assert!(!copy_up(&img, &vol).expect("populated"));
        assert!(!vol.join("new").exists());
        assert!(!copy_up(&dir.path().join("missing"), &vol).expect("missing"));
        assert!(!copy_up(&img.join("new"), &vol).expect("file"));
    }

    #[test]
    fn the_volume_takes_the_image_directorys_owner() {
        if !is_root() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (img, vol) = (dir.path().join("img"), dir.path().join("vol"));
        fs::create_dir_all(&img).expect("mkdir");
        std::os::unix::fs::chown(&img, Some(999), Some(998)).expect("chown");
        fs::create_dir(&vol).expect("vol");
        assert!(
            copy_up(&img, &vol).expect("copy"),
            "empty image dir still copies"
        );
        let m = fs::metadata(&vol).expect("stat");
        assert_eq!((m.uid(), m.gid()), (999, 998));
    }
}
