//! Extracting a tar into a directory of a container (`docker cp` into a
//! container), in a container [`view`](super::view), with the rules of
//! docker's `archive.Untar`:
//!
//! - names are cleaned (`filepath.Clean`); one that would land above the
//!   destination (`../x`) is refused, as is a hard link whose target would,
//!   or a symlink whose target, taken relative to its directory, would;
//! - missing parent directories are created (0755, root);
//! - an existing entry is replaced unless both are directories (then only
//!   the metadata changes); with `no_overwrite_dir_non_dir`, replacing a
//!   directory by a non-directory or the reverse is an error;
//! - owner from the archive (or the container user's with `copyUIDGID`),
//!   permission bits (setuid, setgid, sticky included) except on symlinks,
//!   `SCHILY.xattr.*` records (best effort), modification times (those of
//!   directories last); whiteout names are ordinary names here.
//!
//! The view's root is the container's: parent components resolve (symlinks
//! included) inside the container, and the entry itself is created with
//! `O_EXCL|O_NOFOLLOW`, `mkdir`, `symlink`, `link`, `mknod`, so nothing is
//! ever written outside the container's filesystem.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use super::pathstat::clean;

/// How to extract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Refuse to replace a directory by a non-directory and the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner for every entry instead of the archive's.
    pub chown: Option<(u32, u32)>,
}

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The archive could not be read.
    #[error("reading the archive: {0}")]
    Archive(io::Error),
    /// An entry would land outside the destination.
    #[error("{0}")]
    Breakout(String),
    /// An existing entry cannot be replaced.
    #[error("{0}")]
    Overwrite(String),
    /// Writing an entry failed.
    #[error("{path}: {source}")]
    Io {
        /// The path in the container.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An entry type that cannot be extracted.
    #[error("unhandled tar header type {0}")]
    Unsupported(u8),
}

fn io_at(path: &Path, source: impl Into<io::Error>) -> ExtractError {
    ExtractError::Io {
        path: path.display().to_string(),
        source: source.into(),
    }
}

/// Go's `filepath.Join(dest, name)` followed by `Clean`.
fn join(dest: &str, name: &str) -> String {
    clean(&format!("{dest}/{name}"))
}

/// Whether `path` is `dest` or below it (`filepath.Rel` not starting `../`).
fn within(dest: &str, path: &str) -> bool {
    dest == "/" || path == dest || path.starts_with(&format!("{dest}/"))
}

/// Extract `archive` into the existing directory `dest` (absolute, clean).
pub fn extract(archive: impl Read, dest: &str, opts: &ExtractOptions) -> Result<(), ExtractError> {
    let mut archive = tar::Archive::new(archive);
    let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
    let entries = archive.entries().map_err(ExtractError::Archive)?;
    for entry in entries {
        let mut entry = entry.map_err(ExtractError::Archive)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let name = clean(&String::from_utf8_lossy(&raw));
        let path = join(dest, &name);
        if !within(dest, &path) {
            return Err(ExtractError::Breakout(format!(
                "{:?} is outside of {dest:?}",
                String::from_utf8_lossy(&raw)
            )));
        }
        let p = PathBuf::from(&path);
        implied_parents(&p, opts)?;
        let is_dir = kind.is_dir();
        if let Ok(existing) = std::fs::symlink_metadata(&p) {
            let existing_dir = existing.is_dir();
            if opts.no_overwrite_dir_non_dir && existing_dir && !is_dir {
                return Err(ExtractError::Overwrite(format!(
                    "cannot overwrite directory {path:?} with non-directory {dest:?}"
                )));
            }
            if opts.no_overwrite_dir_non_dir && !existing_dir && is_dir {
                return Err(ExtractError::Overwrite(format!(
                    "cannot overwrite non-directory {path:?} with directory {dest:?}"
                )));
            }
            if existing_dir && name == "." {
                continue;
            }
            if !(existing_dir && is_dir) {
                let removed = if existing_dir {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                removed.map_err(|e| io_at(&p, e))?;
            }
        }
        let mtime = entry.header().mtime().unwrap_or(0) as i64;
        create(&mut entry, kind, &p, dest, opts)?;
        if is_dir {
            dirs.push((p, mtime));
        } else if kind != EntryType::Symlink {
            set_times(&p, mtime, false)?;
        } else {
            set_times(&p, mtime, true)?;
        }
    }
    for (p, mtime) in dirs {
        set_times(&p, mtime, false)?;
    }
    Ok(())
}

/// docker's `createImpliedDirectories`: the parent of an entry the archive
/// did not create.
fn implied_parents(path: &Path, opts: &ExtractOptions) -> Result<(), ExtractError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    if std::fs::symlink_metadata(parent).is_ok() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut p = parent;
    while std::fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(up) => p = up,
            None => break,
        }
    }
    for d in missing.iter().rev() {
        std::fs::create_dir(d).map_err(|e| io_at(d, e))?;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_at(d, e))?;
        let (uid, gid) = opts.chown.unwrap_or((0, 0));
        std::os::unix::fs::lchown(d, Some(uid), Some(gid)).map_err(|e| io_at(d, e))?;
    }
    Ok(())
}

fn create<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    kind: EntryType,
    path: &Path,
    dest: &str,
    opts: &ExtractOptions,
) -> Result<(), ExtractError> {
    let h = entry.header();
    let mode = h.mode().unwrap_or(0o644) & 0o7777;
    let (uid, gid) = opts
        .chown
        .unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
    let link = entry
        .link_name_bytes()
        .map(|l| OsStr::from_bytes(&l).to_owned());
    let mut chmod = true;
    match kind {
        EntryType::Directory => {
            let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            if !is_dir {
                std::fs::create_dir(path).map_err(|e| io_at(path, e))?;
            }
        }
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(|e| io_at(path, e))?;
            io::copy(entry, &mut file).map_err(|e| io_at(path, e))?;
        }
        EntryType::Symlink => {
            let target = link.ok_or_else(|| io_at(path, io::ErrorKind::InvalidData))?;
            let parent = path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let resolved = join(&parent, &target.to_string_lossy());
            if !within(dest, &resolved) {
                return Err(ExtractError::Breakout(format!(
                    "invalid symlink {:?} -> {:?}",
                    path.display().to_string(),
                    target.to_string_lossy()
                )));
            }
            std::os::unix::fs::symlink(&target, path).map_err(|e| io_at(path, e))?;
            chmod = false;
        }
        EntryType::Link => {
            let target = link.ok_or_else(|| io_at(path, io::ErrorKind::InvalidData))?;
            let resolved = join(dest, &target.to_string_lossy());
            if !within(dest, &resolved) {
                return Err(ExtractError::Breakout(format!(
                    "invalid hardlink {resolved:?} -> {:?}",
                    target.to_string_lossy()
                )));
            }
            // link(2) never follows a symlink at the target.
            std::fs::hard_link(&resolved, path).map_err(|e| io_at(path, e))?;
            chmod = std::fs::symlink_metadata(&resolved).is_ok_and(|m| !m.file_type().is_symlink());
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let (flag, dev) = match kind {
                EntryType::Fifo => (SFlag::S_IFIFO, 0),
                _ => {
                    let major = h.device_major().ok().flatten().unwrap_or(0);
                    let minor = h.device_minor().ok().flatten().unwrap_or(0);
                    let flag = if kind == EntryType::Char {
                        SFlag::S_IFCHR
                    } else {
                        SFlag::S_IFBLK
                    };
                    (
                        flag,
                        nix::sys::stat::makedev(u64::from(major), u64::from(minor)),
                    )
                }
            };
            nix::sys::stat::mknod(path, flag, Mode::from_bits_truncate(0o600), dev)
                .map_err(|e| io_at(path, e))?;
        }
        other => return Err(ExtractError::Unsupported(other.as_byte())),
    }
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| io_at(path, e))?;
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            if let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                // Best effort, as docker: not every filesystem takes them.
                let _ = xattr_set(path, OsStr::from_bytes(attr), ext.value_bytes());
            }
        }
    }
    if chmod {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_at(path, e))?;
    }
    Ok(())
}

/// `lsetxattr(2)`.
fn xattr_set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let name = std::ffi::CString::new(name.as_bytes())?;
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `value` is a valid buffer of `value.len()` bytes.
    let r = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_times(path: &Path, mtime: i64, nofollow: bool) -> Result<(), ExtractError> {
    let t = TimeSpec::new(mtime, 0);
    let flag = if nofollow {
        UtimensatFlags::NoFollowSymlink
    } else {
        UtimensatFlags::FollowSymlink
    };
    nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, path, &t, &t, flag).map_err(|e| io_at(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::archive::view::{Root, run};
    use std::os::unix::fs::MetadataExt;

    fn owner(path: &Path) -> Option<(u32, u32)> {
        std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.uid(), m.gid()))
    }

    fn tar_of(entries: &[(&str, EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if *kind == EntryType::Directory {
                0o750
            } else {
                0o640
            });
            h.set_uid(1234);
            h.set_gid(5678);
            h.set_mtime(1_000_000);
            h.set_size(data.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).expect("link");
            }
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    async fn in_root<T: Send + 'static>(root: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
        run(Root::dir(root), move || Ok(f())).await.expect("view")
    }

    #[tokio::test]
    async fn files_dirs_links_owners_and_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("dst")).expect("mkdir");
        let tar = tar_of(&[
            ("d/", EntryType::Directory, "", b""),
            ("d/f", EntryType::Regular, "", b"hello"),
            ("d/s", EntryType::Symlink, "/etc/passwd", b""),
            ("d/h", EntryType::Link, "d/f", b""),
            ("deep/er/x", EntryType::Regular, "", b"x"),
        ]);
        let r = in_root(dir.path(), move || {
            extract(&tar[..], "/dst", &ExtractOptions::default()).map_err(|e| e.to_string())
        })
        .await;
        assert_eq!(r, Ok(()));
        let d = dir.path().join("dst");
        assert_eq!(
            std::fs::read_to_string(d.join("d/f")).expect("read"),
            "hello"
        );
        assert_eq!(
            std::fs::read_link(d.join("d/s")).expect("link"),
            Path::new("/etc/passwd")
        );
        let m = std::fs::metadata(d.join("d/f")).expect("stat");
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()),
            (1234, 5678, 0o640, 2)
        );
        assert_eq!(m.mtime(), 1_000_000);
        assert_eq!(
            std::fs::metadata(d.join("d")).expect("dir").mtime(),
            1_000_000
        );
        assert_eq!(
            owner(&d.join("deep/er")),
            Some((0, 0)),
            "implied parents are root's"
        );
    }

    #[tokio::test]
    async fn nothing_lands_outside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("tmp")).expect("mkdir");
        std::os::unix::fs::symlink("/", root.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("../../../..", root.join("tmp/up")).expect("symlink");
        let tar = tar_of(&[
            ("escape/tmp/x", EntryType::Regular, "", b"1"),
            ("tmp/up/tmp/y", EntryType::Regular, "", b"2"),
        ]);
        let r = in_root(&root, move || {
            extract(&tar[..], "/", &ExtractOptions::default()).map_err(|e| e.to_string())
        })
        .await;
        assert_eq!(r, Ok(()));
        assert_eq!(std::fs::read_to_string(root.join("tmp/x")).expect("x"), "1");
        assert_eq!(std::fs::read_to_string(root.join("tmp/y")).expect("y"), "2");
        assert!(!dir.path().join("tmp").exists());
        let evil = tar_of(&[("../../etc/evil", EntryType::Regular, "", b"x")]);
        let r = in_root(&root, move || {
            extract(&evil[..], "/tmp", &ExtractOptions::default()).map_err(|e| e.to_string())
        })
        .await;
        assert!(r.expect_err("breakout").contains("outside"), "refused");
    }

    #[tokio::test]
    async fn overwrite_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_owned();
        std::fs::create_dir_all(root.join("t/adir/inner")).expect("mkdir");
        std::fs::write(root.join("t/afile"), "old").expect("write");
        let strict = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            chown: Some((7, 8)),
        };
        let file_over_dir = tar_of(&[("adir", EntryType::Regular, "", b"x")]);
        let dir_over_file = tar_of(&[("afile/", EntryType::Directory, "", b"")]);
        let replace = tar_of(&[("afile", EntryType::Regular, "", b"new")]);
        let r = in_root(&root, move || {
            (
                extract(&file_over_dir[..], "/t", &strict).map_err(|e| e.to_string()),
                extract(&dir_over_file[..], "/t", &strict).map_err(|e| e.to_string()),
                extract(&replace[..], "/t", &strict).map_err(|e| e.to_string()),
                extract(&file_over_dir[..], "/t", &ExtractOptions::default())
                    .map_err(|e| e.to_string()),
            )
        })
        .await;
        assert!(
            r.0.expect_err("strict")
                .contains("cannot overwrite directory")
        );
        assert!(
            r.1.expect_err("strict")
                .contains("cannot overwrite non-directory")
        );
        assert_eq!(r.2, Ok(()));
        assert_eq!(
            std::fs::read_to_string(root.join("t/afile")).expect("read"),
            "new"
        );
        assert_eq!(owner(&root.join("t/afile")), Some((7, 8)));
        assert_eq!(r.3, Ok(()));
        assert!(
            std::fs::metadata(root.join("t/adir"))
                .expect("stat")
                .is_file()
        );
    }
}
