//! The unpacking state machine: one method per tar entry kind, each creating
//! its final component without following symlinks, then setting owner, mode,
//! xattrs and times in the order that keeps them (chown before
//! `security.capability`, directory times last).
//!
//! Contract: [`Unpacker::entry`] is called once per entry in archive order,
//! then [`Unpacker::finish`] once; `stats` is then the layer's count.

use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::UnlinkatFlags;

use super::meta::{Meta, read_meta, set_xattrs};
use super::names::{
    ChainError, Reject, Role, clean, ensure_chain, full_path, is_type, lstat_at, role,
};
use super::{COPY_BUFFER, OPAQUE_XATTR, UnpackError, UnpackStats, WHITEOUT_PREFIX, io_err, lossy};

/// A directory's times, applied once all entries are written.
struct DirTime {
    path: PathBuf,
    atime: TimeSpec,
    mtime: TimeSpec,
}

/// Unpacking state; the buffers are reused across entries.
pub(super) struct Unpacker {
    dest: PathBuf,
    /// `dest`, opened once: every `*at` call is relative to it.
    root: OwnedFd,
    /// The entry's raw name.
    name: Vec<u8>,
    /// The entry's raw link name.
    link: Vec<u8>,
    /// The entry's cleaned path, relative to `dest`.
    rel: PathBuf,
    /// Scratch: a cleaned hard-link target, or a whiteout's hidden path.
    aux: PathBuf,
    /// Scratch: `dest` joined with a relative path, for path-only calls.
    full: PathBuf,
    /// A relative directory whose every component is known to be a real
    /// directory (not a symlink); empty means `dest` itself.
    verified: PathBuf,
    /// Directory times to apply at the end.
    dir_times: Vec<DirTime>,
    /// Whether a directory was removed (replaced by a later entry).
    dirs_removed: bool,
    /// The content copy buffer.
    buf: Vec<u8>,
    /// What was unpacked so far.
    pub(super) stats: UnpackStats,
}

impl Unpacker {
    pub(super) fn new(dest: &Path) -> Result<Self, UnpackError> {
        let root = nix::fcntl::open(
            dest,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| UnpackError::Dest {
            path: dest.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Self {
            dest: dest.to_path_buf(),
            root,
            name: Vec::with_capacity(256),
            link: Vec::with_capacity(256),
            rel: PathBuf::with_capacity(256),
            aux: PathBuf::with_capacity(256),
            full: PathBuf::with_capacity(dest.as_os_str().len() + 256),
            verified: PathBuf::with_capacity(256),
            dir_times: Vec::new(),
            dirs_removed: false,
            buf: vec![0; COPY_BUFFER],
            stats: UnpackStats::default(),
        })
    }

    pub(super) fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        self.stats.entries += 1;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            self.stats.skipped += 1;
            return Ok(());
        }
        self.name.clear();
        self.name.extend_from_slice(&entry.path_bytes());
        clean(&self.name, &mut self.rel).map_err(|r| match r {
            Reject::Nul => UnpackError::NulByte {
                path: lossy(&self.name),
            },
            Reject::DotDot => UnpackError::PathEscape {
                path: lossy(&self.name),
            },
        })?;

        // V7-style directories: a typeflag NUL "regular file" named `x/`.
        let is_dir = kind.is_dir()
            || (entry.header().as_old().linkflag[0] == 0 && self.name.last() == Some(&b'/'));

        match role(&self.rel) {
            Role::Meta => {
                self.stats.skipped += 1;
                return Ok(());
            }
            Role::Opaque => return self.opaque(),
            Role::Whiteout => return self.whiteout(entry),
            Role::Normal => {}
        }
        if self.rel.as_os_str().is_empty() {
            // The layer root is skiffd's directory: its metadata is not the
            // layer's to set (and never shows through overlay anyway).
            if is_dir {
                self.stats.skipped += 1;
                return Ok(());
            }
            return Err(UnpackError::RootNotDirectory {
                path: lossy(&self.name),
            });
        }
        self.ensure_parent()?;

        use tar::EntryType as T;
        match kind {
            _ if is_dir => self.dir(entry),
            T::Regular | T::Continuous | T::GNUSparse => self.file(entry),
            T::Symlink => self.symlink(entry),
            T::Link => self.hardlink(entry),
            T::Char => self.special(entry, SFlag::S_IFCHR),
            T::Block => self.special(entry, SFlag::S_IFBLK),
            T::Fifo => self.special(entry, SFlag::S_IFIFO),
            other => Err(UnpackError::UnsupportedType {
                path: lossy(&self.name),
                kind: char::from(other.as_byte()),
            }),
        }
    }

    /// Apply the deferred directory times, in entry order (later wins).
    pub(super) fn finish(&mut self) -> Result<(), UnpackError> {
        let dir_times = std::mem::take(&mut self.dir_times);
        for d in &dir_times {
            let io = |e: Errno| UnpackError::Io {
                path: d.path.clone(),
                source: e.into(),
            };
            if self.dirs_removed {
                // The directory may be gone since, or now sit below a
                // symlink: recheck its chain rather than follow anything.
                let parent = d.path.parent().unwrap_or(Path::new(""));
                match ensure_chain(&self.root, &mut self.verified, parent, false) {
                    Ok(()) => {}
                    Err(ChainError::Sys(e)) => return Err(io(e)),
                    Err(_) => continue,
                }
                match lstat_at(&self.root, &d.path) {
                    Ok(st) if is_type(&st, SFlag::S_IFDIR) => {}
                    Ok(_) | Err(Errno::ENOENT) => continue,
                    Err(e) => return Err(io(e)),
                }
            }
            nix::sys::stat::utimensat(
                &self.root,
                &d.path,
                &d.atime,
                &d.mtime,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(io)?;
        }
        Ok(())
    }

    /// Make sure every parent of `rel` is a real directory, creating missing
    /// ones (0755, owned by the caller), and refusing symlinks.
    fn ensure_parent(&mut self) -> Result<(), UnpackError> {
        let parent = self.rel.parent().unwrap_or(Path::new(""));
        ensure_chain(&self.root, &mut self.verified, parent, true).map_err(|e| {
            let prefix = |n: usize| lossy(&parent.as_os_str().as_bytes()[..n]);
            match e {
                ChainError::Symlink(n) => UnpackError::ThroughSymlink {
                    path: lossy(&self.name),
                    symlink: prefix(n),
                },
                ChainError::NotDir(n) | ChainError::Missing(n) => UnpackError::ParentNotDirectory {
                    path: lossy(&self.name),
                    parent: prefix(n),
                },
                ChainError::Sys(e) => io_err(&self.name, e),
            }
        })
    }

    /// Make room at `rel` for a new entry. An existing directory is kept if
    /// `keep_dir` (returns `true`); anything else there is removed.
    fn clear_slot(&mut self, keep_dir: bool) -> Result<bool, UnpackError> {
        let st = match lstat_at(&self.root, &self.rel) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(io_err(&self.name, e)),
        };
        if is_type(&st, SFlag::S_IFDIR) {
            if keep_dir {
                return Ok(true);
            }
            let full = full_path(&mut self.full, &self.dest, &self.rel);
            // std's remove_dir_all never follows symlinks inside the tree.
            std::fs::remove_dir_all(full).map_err(|e| io_err(&self.name, e))?;
            // Only a directory removal can break a verified chain, or leave
            // deferred times naming a path that is no longer that directory.
            self.verified.as_mut_os_string().clear();
            self.dirs_removed = true;
        } else {
            nix::unistd::unlinkat(&self.root, &self.rel, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| io_err(&self.name, e))?;
        }
        Ok(false)
    }

    /// Run `create` for the entry at `rel`; if something is in the way,
    /// remove it and retry once.
    fn create(&mut self, create: impl Fn(&Self) -> nix::Result<()>) -> Result<(), UnpackError> {
        match create(self) {
            Err(Errno::EEXIST) => {
                self.clear_slot(false)?;
                create(self).map_err(|e| io_err(&self.name, e))
            }
            r => r.map_err(|e| io_err(&self.name, e)),
        }
    }

    fn file<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let open =
            |u: &Self| nix::fcntl::openat(&u.root, &u.rel, flags, Mode::from_bits_truncate(0o600));
        let fd = match open(self) {
            Err(Errno::EEXIST) => {
                self.clear_slot(false)?;
                open(self)
            }
            r => r,
        }
        .map_err(|e| io_err(&self.name, e))?;
        let mut file = File::from(fd);

        // Content first: a write by a process drops security.capability.
        let mut copied = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnpackError::ArchiveEntry {
                        path: lossy(&self.name),
                        source,
                    });
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| io_err(&self.name, e))?;
            copied += n as u64;
        }
        if copied != entry.size() {
            return Err(UnpackError::ArchiveEntry {
                path: lossy(&self.name),
                source: io::ErrorKind::UnexpectedEof.into(),
            });
        }

        let meta = read_meta(entry, &self.name)?;
        // chown before chmod (chown clears setuid/setgid) and before xattrs
        // (chown clears security.capability).
        std::os::unix::fs::fchown(&file, Some(meta.uid.as_raw()), Some(meta.gid.as_raw()))
            .map_err(|e| io_err(&self.name, e))?;
        file.set_permissions(Permissions::from_mode(meta.mode.bits()))
            .map_err(|e| io_err(&self.name, e))?;
        set_xattrs(entry, &self.name, &mut self.stats, |name, value| {
            xattr::FileExt::set_xattr(&file, name, value)
        })?;
        nix::sys::stat::futimens(&file, &meta.atime, &meta.mtime)
            .map_err(|e| io_err(&self.name, e))?;
        self.stats.files += 1;
        self.stats.bytes += copied;
        Ok(())
    }

    fn dir<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let mkdir =
            |u: &Self| nix::sys::stat::mkdirat(&u.root, &u.rel, Mode::from_bits_truncate(0o700));
        match mkdir(self) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                if !self.clear_slot(true)? {
                    mkdir(self).map_err(|e| io_err(&self.name, e))?;
                }
            }
            Err(e) => return Err(io_err(&self.name, e)),
        }
        // `rel` is a directory (just created, or lstat'ed as one) under
        // verified parents.
        let meta = self.own_not_a_symlink(entry)?;
        self.dir_times.push(DirTime {
            path: self.rel.clone(),
            atime: meta.atime,
            mtime: meta.mtime,
        });
        self.stats.dirs += 1;
        Ok(())
    }

    fn symlink<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        self.link.clear();
        match entry.link_name_bytes() {
            Some(target) if !target.is_empty() => self.link.extend_from_slice(&target),
            _ => return Err(self.bad_header("symlink without a target")),
        }
        if self.link.contains(&0) {
            return Err(self.bad_header("symlink target contains a nul byte"));
        }
        self.create(|u| {
            nix::unistd::symlinkat(Path::new(OsStr::from_bytes(&u.link)), &u.root, &u.rel)
        })?;
        let meta = read_meta(entry, &self.name)?;
        self.chown_nofollow(&meta)?;
        self.path_xattrs(entry)?;
        self.times_nofollow(&meta)?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hardlink<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        self.link.clear();
        match entry.link_name_bytes() {
            Some(target) if !target.is_empty() => self.link.extend_from_slice(&target),
            _ => return Err(self.bad_header("hard link without a target")),
        }
        let escape = || UnpackError::HardLinkEscape {
            path: lossy(&self.name),
            target: lossy(&self.link),
        };
        match clean(&self.link, &mut self.aux) {
            Ok(()) => {}
            Err(Reject::Nul) => return Err(self.bad_header("hard link target contains a nul byte")),
            Err(Reject::DotDot) => return Err(escape()),
        }
        let missing = || UnpackError::HardLinkTargetMissing {
            path: lossy(&self.name),
            target: lossy(&self.link),
        };
        let to_dir = || UnpackError::HardLinkToDirectory {
            path: lossy(&self.name),
            target: lossy(&self.link),
        };
        if self.aux.as_os_str().is_empty() {
            return Err(to_dir());
        }
        let parent = self.aux.parent().unwrap_or(Path::new(""));
        ensure_chain(&self.root, &mut self.verified, parent, false).map_err(|e| match e {
            ChainError::Symlink(n) => UnpackError::HardLinkThroughSymlink {
                path: lossy(&self.name),
                target: lossy(&self.link),
                symlink: lossy(&parent.as_os_str().as_bytes()[..n]),
            },
            ChainError::NotDir(_) | ChainError::Missing(_) => missing(),
            ChainError::Sys(e) => io_err(&self.name, e),
        })?;
        let target = match lstat_at(&self.root, &self.aux) {
            Ok(st) if is_type(&st, SFlag::S_IFDIR) => return Err(to_dir()),
            Ok(st) => st,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(missing()),
            Err(e) => return Err(io_err(&self.name, e)),
        };
        self.stats.hardlinks += 1;
        if self.aux == self.rel {
            return Ok(());
        }
        // Without AT_SYMLINK_FOLLOW a symlink target is linked itself.
        let link =
            |u: &Self| nix::unistd::linkat(&u.root, &u.aux, &u.root, &u.rel, AtFlags::empty());
        match link(self) {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => {
                match lstat_at(&self.root, &self.rel) {
                    Ok(st) if st.st_dev == target.st_dev && st.st_ino == target.st_ino => {
                        return Ok(());
                    }
                    _ => {}
                }
                self.clear_slot(false)?;
                link(self).map_err(|e| io_err(&self.name, e))
            }
            Err(e) => Err(io_err(&self.name, e)),
        }
    }

    fn special<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: SFlag,
    ) -> Result<(), UnpackError> {
        let dev = if kind == SFlag::S_IFIFO {
            0
        } else {
            let h = entry.header();
            let major = h
                .device_major()
                .map_err(|_| self.bad_header("invalid device major"))?;
            let minor = h
                .device_minor()
                .map_err(|_| self.bad_header("invalid device minor"))?;
            nix::sys::stat::makedev(u64::from(major.unwrap_or(0)), u64::from(minor.unwrap_or(0)))
        };
        self.create(|u| {
            nix::sys::stat::mknodat(&u.root, &u.rel, kind, Mode::from_bits_truncate(0o600), dev)
        })?;
        // Just created as a device or fifo: not a symlink.
        let meta = self.own_not_a_symlink(entry)?;
        self.times_nofollow(&meta)?;
        self.stats.specials += 1;
        Ok(())
    }

    /// `dir/.wh.name`: a 0:0 character device at `dir/name`.
    fn whiteout<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let hidden = |rel: &Path| -> Option<usize> {
            let base = rel.file_name()?.as_bytes();
            let hidden = base.get(WHITEOUT_PREFIX.len()..)?;
            (!hidden.is_empty() && hidden != b"." && hidden != b"..").then_some(hidden.len())
        };
        let Some(len) = hidden(&self.rel) else {
            return Err(UnpackError::InvalidWhiteout {
                path: lossy(&self.name),
            });
        };
        self.ensure_parent()?;
        let rel = self.rel.as_os_str().as_bytes();
        self.aux.as_mut_os_string().clear();
        self.aux.push(self.rel.parent().unwrap_or(Path::new("")));
        self.aux.push(OsStr::from_bytes(&rel[rel.len() - len..]));
        std::mem::swap(&mut self.rel, &mut self.aux);
        self.create(|u| {
            nix::sys::stat::mknodat(&u.root, &u.rel, SFlag::S_IFCHR, Mode::empty(), 0)
        })?;
        let meta = read_meta(entry, &self.name)?;
        self.chown_nofollow(&meta)?;
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// `dir/.wh..wh..opq`: `trusted.overlay.opaque=y` on `dir`.
    fn opaque(&mut self) -> Result<(), UnpackError> {
        self.ensure_parent()?;
        let dir = self.rel.parent().unwrap_or(Path::new(""));
        let full = full_path(&mut self.full, &self.dest, dir);
        xattr::set(full, OPAQUE_XATTR, b"y").map_err(|e| io_err(&self.name, e))?;
        self.stats.opaques += 1;
        Ok(())
    }

    /// Reads the entry's metadata and gives `rel` its owner, mode and
    /// xattrs, in that order (chown clears setuid/setgid and
    /// `security.capability`). `rel` must not be a symlink (a directory,
    /// device or fifo the caller has just created or `lstat`ed): the chmod
    /// follows it. Returns the metadata for the caller's times.
    fn own_not_a_symlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Meta, UnpackError> {
        let meta = read_meta(entry, &self.name)?;
        self.chown_nofollow(&meta)?;
        nix::sys::stat::fchmodat(
            &self.root,
            &self.rel,
            meta.mode,
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| io_err(&self.name, e))?;
        self.path_xattrs(entry)?;
        Ok(meta)
    }

    fn chown_nofollow(&self, meta: &Meta) -> Result<(), UnpackError> {
        nix::unistd::fchownat(
            &self.root,
            &self.rel,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err(&self.name, e))
    }

    fn times_nofollow(&self, meta: &Meta) -> Result<(), UnpackError> {
        nix::sys::stat::utimensat(
            &self.root,
            &self.rel,
            &meta.atime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| io_err(&self.name, e))
    }

    /// Set the entry's xattrs on `rel` by path (`lsetxattr`: not followed).
    fn path_xattrs<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let full = full_path(&mut self.full, &self.dest, &self.rel);
        set_xattrs(entry, &self.name, &mut self.stats, |name, value| {
            xattr::set(full, name, value)
        })
    }

    fn bad_header(&self, what: &'static str) -> UnpackError {
        UnpackError::BadHeader {
            path: lossy(&self.name),
            what,
        }
    }
}
