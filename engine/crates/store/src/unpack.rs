//! Safe unpacking of one layer tar into its own snapshot directory.
//!
//! [`unpack`] reads an already-decompressed OCI/Docker layer changeset tar and
//! writes it into `dest`, the layer's own overlayfs "diff" directory. Overlay
//! later stacks those directories (`lowerdir=top:…:base`), so the layer's
//! deletions are written in overlay's native form rather than applied:
//!
//! - `dir/.wh.name` becomes a character device 0:0 at `dir/name` (an overlay
//!   whiteout);
//! - `dir/.wh..wh..opq` sets the xattr `trusted.overlay.opaque=y` on `dir`
//!   (creating `dir` if the tar did not);
//! - any other name starting with `.wh..wh.` (aufs metadata such as
//!   `.wh..wh.plnk`), and everything below such a directory, is skipped.
//!
//! Everything else is recreated exactly: regular files, directories, symlinks,
//! hard links, character/block devices and fifos; permission bits including
//! setuid/setgid/sticky; numeric uid/gid (names in the header are ignored);
//! mtimes (PAX `mtime`/`atime` with nanoseconds when present); extended
//! attributes from PAX `SCHILY.xattr.*` records (including
//! `security.capability`, set after chown since chown clears it). Directory
//! times are applied at the very end, after all their children are written.
//! An entry over an existing directory entry replaces it (a non-directory, or
//! a directory replaced by a non-directory, is removed first, recursively for
//! a directory); a directory entry over an existing directory only updates
//! its metadata, so the later entry wins, as with `tar`.
//!
//! Also decided here:
//!
//! - the entry for the layer root (`./`) is skipped: the diff directory is
//!   skiffd's, and its metadata never shows through overlay anyway;
//! - `SCHILY.xattr.trusted.overlay.*` records are skipped (counted in
//!   [`UnpackStats::xattrs_skipped`]): overlay metadata (redirects, metacopy,
//!   opaque) comes from whiteout entries only, never from raw layer xattrs;
//!   xattrs the filesystem refuses with `EPERM`/`ENOTSUP` (e.g. `user.*` on a
//!   symlink or device) are skipped and counted, as Docker does;
//! - a hard link to a symlink links the symlink itself;
//! - PAX global headers are skipped; entry types other than the ones above
//!   (e.g. GNU volume headers) are refused; hard links into aufs's
//!   `.wh..wh.plnk` (pre-2016 images) fail as missing targets.
//!
//! # Safety rules
//!
//! A layer can never make this function write outside `dest`. Refused, with
//! an error naming the entry:
//!
//! - a name containing a NUL byte, an absolute name (leading `/`; a leading
//!   `./` is normal), or any `..` component, even one that would stay inside;
//! - an entry with a parent component that is a symlink (necessarily one this
//!   tar created) or not a directory: nothing is ever written *through* a
//!   symlink;
//! - a hard link whose target has `..` or is absolute, goes through a symlink,
//!   does not exist in `dest`, or is a directory;
//! - a whiteout whose hidden name is empty, `.` or `..`.
//!
//! Symlink *targets* are data and may point anywhere (`/etc/x` is normal in
//! images); they are never followed while unpacking: final components are
//! created with `O_CREAT|O_EXCL|O_NOFOLLOW`, `mkdirat`, `mknodat`, `symlinkat`,
//! `linkat` without `AT_SYMLINK_FOLLOW`, and changed with `AT_SYMLINK_NOFOLLOW`
//! / `lsetxattr`; parent components are checked with `fstatat(…,
//! AT_SYMLINK_NOFOLLOW)` relative to a descriptor of `dest`.
//!
//! ## Why an `lstat` walk and not `openat2(RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS)`
//!
//! skiffd owns `dest` exclusively while unpacking: it is a fresh directory no
//! other process writes, and the only writer is this function, on one thread.
//! So the only symlinks that can ever be in `dest` are the ones this tar
//! created, and nothing can change between a check and the use that follows:
//! checking each parent with `fstatat(AT_SYMLINK_NOFOLLOW)` is race-free here.
//! It is also cheaper: the last verified parent chain is cached, so the
//! common case (consecutive entries in the same or nearby directories) costs
//! no extra syscall, where `openat2` would cost an open and a close per entry,
//! needs a raw syscall wrapper (`unsafe`) and still leaves xattrs on
//! non-regular files to path-based `lsetxattr`. The cache is dropped whenever
//! a directory is removed (replaced by a later entry), which is the only way a
//! verified directory can disappear or be replaced by a symlink; after such a
//! removal, deferred directory times are applied only to paths that recheck
//! as real directories under real directories.
//!
//! # Performance
//!
//! Meant for a blocking thread fed by a streamed, decompressing reader. File
//! content is copied through one reusable 256 KiB buffer straight into the
//! file (one `read` + one `write` for most files; 80 of each for a 20 MiB
//! entry, where an 8 KiB `io::copy` would make 2560, and a per-file
//! `BufWriter` would allocate per entry); no per-entry allocation is made
//! beyond paths; nothing is fsynced: durability is the caller's decision.
//! The reader is not wrapped in a `BufReader`: decompressors already buffer,
//! and an extra one copies small files' content twice (measured ~25% slower
//! from memory); a caller passing a raw file or pipe should buffer it. After
//! the end-of-archive marker the reader is drained to EOF, so a digesting
//! wrapper around it sees the whole stream.

use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};

/// Prefix of a whiteout entry's base name.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Prefix of whiteout metadata names (aufs leftovers, skipped).
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// Base name of an opaque-directory marker.
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// The overlayfs xattr that makes a directory opaque.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Overlayfs's own xattrs: never taken from the archive.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
/// PAX record prefix carrying an extended attribute.
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// Buffer for file content copies, allocated once per unpack.
const COPY_BUFFER: usize = 256 * 1024;

/// What an unpack did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackStats {
    /// Tar entries processed (PAX/GNU extension headers are not counted).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Directory entries applied.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hard links created.
    pub hardlinks: u64,
    /// Character/block devices and fifos created.
    pub specials: u64,
    /// Whiteouts turned into 0:0 character devices.
    pub whiteouts: u64,
    /// Opaque markers turned into `trusted.overlay.opaque=y`.
    pub opaques: u64,
    /// Entries skipped: aufs metadata, PAX global headers, the root entry.
    pub skipped: u64,
    /// Extended attributes not set: `trusted.overlay.*` ones (overlay
    /// metadata comes from whiteout entries only) and ones the filesystem
    /// refused with `EPERM`/`ENOTSUP` (e.g. `user.*` on a symlink).
    pub xattrs_skipped: u64,
}

/// Why an unpack failed. Entry paths are the names as written in the tar.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// An I/O error on a path inside the snapshot.
    #[error("layer entry {path:?}: {source}")]
    Io {
        /// The entry being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The destination directory could not be opened.
    #[error("opening layer directory {path:?}: {source}")]
    Dest {
        /// The destination directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The tar stream could not be read or parsed.
    #[error("reading the layer tar: {source}")]
    Archive {
        /// The underlying error.
        source: std::io::Error,
    },
    /// The tar stream failed (or ended early) inside an entry's content.
    #[error("layer entry {path:?}: reading the layer tar: {source}")]
    ArchiveEntry {
        /// The entry being read.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The entry's header is unusable.
    #[error("layer entry {path:?}: invalid header: {what}")]
    BadHeader {
        /// The entry.
        path: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The entry type cannot be unpacked (e.g. a GNU volume header).
    #[error("layer entry {path:?}: unsupported tar entry type {kind:?}")]
    UnsupportedType {
        /// The entry.
        path: String,
        /// The type flag.
        kind: char,
    },
    /// The entry's name has a `..` component.
    #[error("layer entry {path:?}: path escapes the layer directory")]
    PathEscape {
        /// The entry.
        path: String,
    },
    /// The entry's name is absolute.
    #[error("layer entry {path:?}: absolute path not allowed in a layer")]
    AbsolutePath {
        /// The entry.
        path: String,
    },
    /// The entry's name contains a NUL byte.
    #[error("layer entry {path:?}: path contains a nul byte")]
    NulByte {
        /// The entry (lossy).
        path: String,
    },
    /// A parent component of the entry is a symlink.
    #[error("layer entry {path:?}: refusing to write through symlink {symlink:?}")]
    ThroughSymlink {
        /// The entry.
        path: String,
        /// The symlink in its path.
        symlink: String,
    },
    /// A parent component of the entry exists and is not a directory.
    #[error("layer entry {path:?}: parent {parent:?} is not a directory")]
    ParentNotDirectory {
        /// The entry.
        path: String,
        /// The offending parent.
        parent: String,
    },
    /// A hard link target has a `..` component or is absolute.
    #[error("layer entry {path:?}: hard link target {target:?} escapes the layer directory")]
    HardLinkEscape {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
    },
    /// A hard link target goes through a symlink.
    #[error("layer entry {path:?}: hard link target {target:?} goes through symlink {symlink:?}")]
    HardLinkThroughSymlink {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
        /// The symlink in the target's path.
        symlink: String,
    },
    /// A hard link target does not exist in this layer.
    #[error("layer entry {path:?}: hard link target {target:?} does not exist in the layer")]
    HardLinkTargetMissing {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
    },
    /// A hard link target is a directory.
    #[error("layer entry {path:?}: hard link target {target:?} is a directory")]
    HardLinkToDirectory {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
    },
    /// A whiteout hides an empty name, `.` or `..`.
    #[error("layer entry {path:?}: invalid whiteout name")]
    InvalidWhiteout {
        /// The entry.
        path: String,
    },
    /// An entry naming the layer root is not a directory.
    #[error("layer entry {path:?}: the layer root can only be a directory")]
    RootNotDirectory {
        /// The entry.
        path: String,
    },
}

/// Unpack the (already decompressed) layer tar `archive` into `dest`.
///
/// `dest` must be an existing, empty directory owned exclusively by the
/// caller for the duration of the call; it becomes the layer's overlay diff
/// directory. See the [module docs](self) for the format rules and the
/// refusals. On error, `dest` holds a partial layer and should be discarded;
/// nothing outside `dest` has been touched. Nothing is fsynced.
pub fn unpack(archive: impl Read, dest: &Path) -> Result<UnpackStats, UnpackError> {
    let mut unpacker = Unpacker::new(dest)?;
    let mut archive = tar::Archive::new(archive);
    let entries = archive
        .entries()
        .map_err(|source| UnpackError::Archive { source })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::Archive { source })?;
        unpacker.entry(&mut entry)?;
    }
    unpacker.finish()?;
    // Read past the end-of-archive marker so a digesting reader sees it all.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|source| UnpackError::Archive { source })?;
    Ok(unpacker.stats)
}

/// A directory's times, applied once all entries are written.
struct DirTime {
    path: PathBuf,
    atime: TimeSpec,
    mtime: TimeSpec,
}

/// Metadata common to all entry kinds.
struct Meta {
    mode: Mode,
    uid: Uid,
    gid: Gid,
    atime: TimeSpec,
    mtime: TimeSpec,
}

/// Why a name was refused by [`clean`].
enum Reject {
    Nul,
    Absolute,
    DotDot,
}

/// Why a parent chain was refused by [`ensure_chain`]; the `usize` is the
/// byte length of the offending prefix of the checked directory.
enum ChainError {
    Symlink(usize),
    NotDir(usize),
    Missing(usize),
    Sys(Errno),
}

/// What an entry's (cleaned) name says it is.
enum Role {
    Normal,
    Whiteout,
    Opaque,
    Meta,
}

/// Unpacking state; the buffers are reused across entries.
struct Unpacker {
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
    stats: UnpackStats,
}

impl Unpacker {
    fn new(dest: &Path) -> Result<Self, UnpackError> {
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

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
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
            Reject::Absolute => UnpackError::AbsolutePath {
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
    fn finish(&mut self) -> Result<(), UnpackError> {
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
        let meta = read_meta(entry, &self.name)?;
        self.chown_nofollow(&meta)?;
        // `rel` is a directory (just created, or lstat'ed as one) under
        // verified parents: following it is following nothing.
        nix::sys::stat::fchmodat(
            &self.root,
            &self.rel,
            meta.mode,
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| io_err(&self.name, e))?;
        self.path_xattrs(entry)?;
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
            Err(Reject::Absolute | Reject::DotDot) => return Err(escape()),
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
        let meta = read_meta(entry, &self.name)?;
        self.chown_nofollow(&meta)?;
        // Just created as a device or fifo: not a symlink.
        nix::sys::stat::fchmodat(
            &self.root,
            &self.rel,
            meta.mode,
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| io_err(&self.name, e))?;
        self.path_xattrs(entry)?;
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

/// Clean a tar name into a relative path: drop `.` components, empty
/// components and trailing slashes; refuse NUL, absolute names and `..`.
fn clean(raw: &[u8], out: &mut PathBuf) -> Result<(), Reject> {
    out.as_mut_os_string().clear();
    if raw.contains(&0) {
        return Err(Reject::Nul);
    }
    if raw.first() == Some(&b'/') {
        return Err(Reject::Absolute);
    }
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => return Err(Reject::DotDot),
            Component::RootDir | Component::Prefix(_) => return Err(Reject::Absolute),
        }
    }
    Ok(())
}

/// Classify a cleaned path by its whiteout naming.
fn role(rel: &Path) -> Role {
    let mut components = rel.components().peekable();
    while let Some(c) = components.next() {
        let c = c.as_os_str().as_bytes();
        if components.peek().is_none() {
            return if c == WHITEOUT_OPAQUE {
                Role::Opaque
            } else if c.starts_with(WHITEOUT_META_PREFIX) {
                Role::Meta
            } else if c.starts_with(WHITEOUT_PREFIX) {
                Role::Whiteout
            } else {
                Role::Normal
            };
        }
        if c.starts_with(WHITEOUT_META_PREFIX) {
            return Role::Meta;
        }
    }
    Role::Normal
}

/// Check that every component of the relative directory `dir` is a real
/// directory under `root` (creating missing ones if `create`), then record
/// `dir` as verified. Prefixes shared with `verified` are not re-checked.
fn ensure_chain(
    root: &OwnedFd,
    verified: &mut PathBuf,
    dir: &Path,
    create: bool,
) -> Result<(), ChainError> {
    let d = dir.as_os_str().as_bytes();
    if d.is_empty() || d == verified.as_os_str().as_bytes() {
        return Ok(());
    }
    let v = verified.as_os_str().as_bytes();
    let mut trusted = true;
    let mut start = 0;
    loop {
        let end = d[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(d.len(), |p| start + p);
        let prefix = &d[..end];
        trusted =
            trusted && v.len() >= end && &v[..end] == prefix && (v.len() == end || v[end] == b'/');
        if !trusted {
            let p = Path::new(OsStr::from_bytes(prefix));
            match lstat_at(root, p) {
                Ok(st) if is_type(&st, SFlag::S_IFDIR) => {}
                Ok(st) if is_type(&st, SFlag::S_IFLNK) => return Err(ChainError::Symlink(end)),
                Ok(_) => return Err(ChainError::NotDir(end)),
                Err(Errno::ENOENT) if create => {
                    let mode = Mode::from_bits_truncate(0o755);
                    nix::sys::stat::mkdirat(root, p, mode).map_err(ChainError::Sys)?;
                    // Not subject to the process umask.
                    nix::sys::stat::fchmodat(root, p, mode, FchmodatFlags::FollowSymlink)
                        .map_err(ChainError::Sys)?;
                }
                Err(Errno::ENOENT) => return Err(ChainError::Missing(end)),
                Err(e) => return Err(ChainError::Sys(e)),
            }
        }
        if end == d.len() {
            break;
        }
        start = end + 1;
    }
    verified.as_mut_os_string().clear();
    verified.as_mut_os_string().push(dir.as_os_str());
    Ok(())
}

/// `fstatat(root, rel, AT_SYMLINK_NOFOLLOW)`.
fn lstat_at(root: &OwnedFd, rel: &Path) -> nix::Result<FileStat> {
    nix::sys::stat::fstatat(root, rel, AtFlags::AT_SYMLINK_NOFOLLOW)
}

fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// `dest` joined with `rel`, in a reused buffer.
fn full_path<'a>(buf: &'a mut PathBuf, dest: &Path, rel: &Path) -> &'a Path {
    buf.as_mut_os_string().clear();
    buf.push(dest);
    if !rel.as_os_str().is_empty() {
        buf.push(rel);
    }
    buf
}

/// The entry's mode, owner and times, from its header and PAX records.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<Meta, UnpackError> {
    let bad = |what| UnpackError::BadHeader {
        path: lossy(name),
        what,
    };
    let h = entry.header();
    let mode = h.mode().map_err(|_| bad("invalid mode"))? & 0o7777;
    let uid = h
        .uid()
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| bad("invalid uid"))?;
    let gid = h
        .gid()
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| bad("invalid gid"))?;
    let secs = h
        .mtime()
        .ok()
        .and_then(|t| i64::try_from(t).ok())
        .ok_or_else(|| bad("invalid mtime"))?;
    let mut mtime = TimeSpec::new(secs, 0);
    let mut atime = None;
    if let Some(pax) = entry
        .pax_extensions()
        .map_err(|_| bad("unreadable pax records"))?
    {
        for ext in pax {
            let ext = ext.map_err(|_| bad("malformed pax record"))?;
            match ext.key_bytes() {
                b"mtime" => {
                    mtime = parse_pax_time(ext.value_bytes())
                        .ok_or_else(|| bad("invalid pax mtime"))?;
                }
                b"atime" => {
                    atime = Some(
                        parse_pax_time(ext.value_bytes())
                            .ok_or_else(|| bad("invalid pax atime"))?,
                    );
                }
                _ => {}
            }
        }
    }
    Ok(Meta {
        mode: Mode::from_bits_truncate(mode),
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        atime: atime.unwrap_or(mtime),
        mtime,
    })
}

/// Set the entry's `SCHILY.xattr.*` records with `set`, skipping overlay's
/// own xattrs and ones the filesystem refuses with `EPERM`/`ENOTSUP`.
fn set_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &[u8],
    stats: &mut UnpackStats,
    mut set: impl FnMut(&OsStr, &[u8]) -> io::Result<()>,
) -> Result<(), UnpackError> {
    let bad = |what| UnpackError::BadHeader {
        path: lossy(name),
        what,
    };
    let Some(pax) = entry
        .pax_extensions()
        .map_err(|_| bad("unreadable pax records"))?
    else {
        return Ok(());
    };
    for ext in pax {
        let ext = ext.map_err(|_| bad("malformed pax record"))?;
        let Some(attr) = ext.key_bytes().strip_prefix(PAX_XATTR_PREFIX) else {
            continue;
        };
        if attr.starts_with(OVERLAY_XATTR_PREFIX) {
            stats.xattrs_skipped += 1;
            continue;
        }
        match set(OsStr::from_bytes(attr), ext.value_bytes()) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::EPERM | Errno::ENOTSUP
                ) =>
            {
                stats.xattrs_skipped += 1;
            }
            Err(e) => return Err(io_err(name, e)),
        }
    }
    Ok(())
}

/// Parse a PAX time (`secs[.frac]`, possibly negative).
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let (negative, v) = match v.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (secs, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &[][..]),
    };
    if secs.is_empty() || !secs.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let secs: i64 = std::str::from_utf8(secs).ok()?.parse().ok()?;
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(if !negative {
        TimeSpec::new(secs, nanos)
    } else if nanos == 0 {
        TimeSpec::new(-secs, 0)
    } else {
        TimeSpec::new(-secs - 1, 1_000_000_000 - nanos)
    })
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn io_err(name: &[u8], e: impl Into<io::Error>) -> UnpackError {
    UnpackError::Io {
        path: PathBuf::from(OsStr::from_bytes(name)),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::process::Command;
    use tar::{EntryType, Header};

    const T0: u64 = 1_600_000_000;

    /// Tests that mknod, chown and set trusted.* xattrs need root.
    fn root() -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            eprintln!("SKIPPED: this unpack test needs root");
        }
        root
    }

    fn header(kind: EntryType, mode: u32, uid: u64, gid: u64, mtime: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }

    /// A layer tar built in memory.
    struct Tar(tar::Builder<Vec<u8>>);

    impl Tar {
        fn new() -> Self {
            Self(tar::Builder::new(Vec::new()))
        }

        fn dir(&mut self, path: &str) -> &mut Self {
            self.dir_with(path, 0o755, 0, 0, T0)
        }

        fn dir_with(&mut self, path: &str, mode: u32, uid: u64, gid: u64, mtime: u64) -> &mut Self {
            let mut h = header(EntryType::Directory, mode, uid, gid, mtime);
            self.0
                .append_data(&mut h, path, io::empty())
                .expect("append dir");
            self
        }

        fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
            self.file_with(path, data, 0o644, 0, 0, T0)
        }

        fn file_with(
            &mut self,
            path: &str,
            data: &[u8],
            mode: u32,
            uid: u64,
            gid: u64,
            mtime: u64,
        ) -> &mut Self {
            let mut h = header(EntryType::Regular, mode, uid, gid, mtime);
            h.set_size(data.len() as u64);
            self.0.append_data(&mut h, path, data).expect("append file");
            self
        }

        fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
            self.symlink_with(path, target, 0, 0, T0)
        }

        fn symlink_with(
            &mut self,
            path: &str,
            target: &str,
            uid: u64,
            gid: u64,
            mtime: u64,
        ) -> &mut Self {
            let mut h = header(EntryType::Symlink, 0o777, uid, gid, mtime);
            self.0
                .append_link(&mut h, path, target)
                .expect("append symlink");
            self
        }

        fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
            let mut h = header(EntryType::Link, 0o644, 0, 0, T0);
            self.0
                .append_link(&mut h, path, target)
                .expect("append hard link");
            self
        }

        fn special(
            &mut self,
            path: &str,
            kind: EntryType,
            dev: (u32, u32),
            mode: u32,
        ) -> &mut Self {
            let mut h = header(kind, mode, 0, 0, T0);
            h.set_device_major(dev.0).expect("major");
            h.set_device_minor(dev.1).expect("minor");
            self.0
                .append_data(&mut h, path, io::empty())
                .expect("append special");
            self
        }

        fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
            self.0
                .append_pax_extensions(records.iter().copied())
                .expect("append pax");
            self
        }

        /// An entry whose name and link name are written byte for byte,
        /// bypassing tar::Builder's validation (it refuses `..`).
        fn raw(&mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> &mut Self {
            let mut h = header(kind, 0o644, 0, 0, T0);
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
            h.set_size(data.len() as u64);
            h.set_cksum();
            self.0.append(&h, data).expect("append raw");
            self
        }

        fn build(self) -> Vec<u8> {
            self.0.into_inner().expect("finish tar")
        }
    }

    fn run(tar: &[u8], dest: &Path) -> Result<UnpackStats, UnpackError> {
        unpack(tar, dest)
    }

    fn lmeta(p: &Path) -> std::fs::Metadata {
        std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
    }

    fn xattr_of(p: &Path, name: &str) -> Option<Vec<u8>> {
        xattr::get(p, name).expect("getxattr")
    }

    /// A dest directory next to an "outside" tree that must never change.
    struct Scene {
        _tmp: tempfile::TempDir,
        base: PathBuf,
        dest: PathBuf,
        outside: PathBuf,
    }

    fn scene() -> Scene {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().to_path_buf();
        let dest = base.join("dest");
        let outside = base.join("outside");
        std::fs::create_dir(&dest).expect("mkdir dest");
        std::fs::create_dir_all(outside.join("sub")).expect("mkdir outside");
        std::fs::write(outside.join("keep"), b"original").expect("write sentinel");
        Scene {
            _tmp: tmp,
            base,
            dest,
            outside,
        }
    }

    /// Everything about the tree at `dir` (minus `skip`), to compare.
    fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("dirent").path())
            .collect();
        names.sort();
        for p in names {
            if p == skip {
                continue;
            }
            let m = lmeta(&p);
            let mut xattrs: Vec<_> = xattr::list(&p).expect("listxattr").collect();
            xattrs.sort();
            let mut desc = format!(
                "mode={:o} uid={} gid={} size={} mtime={}.{} nlink={} xattrs={xattrs:?}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.nlink()
            );
            if m.file_type().is_file() {
                desc += &format!(" content={:?}", std::fs::read(&p).expect("read"));
            } else if m.file_type().is_symlink() {
                desc += &format!(" target={:?}", std::fs::read_link(&p).expect("readlink"));
            }
            out.insert(p.clone(), desc);
            if m.is_dir() {
                snapshot(&p, skip, out);
            }
        }
    }

    const ETC_SENTINEL: &str = "/etc/skiff-unpack-escape-test";

    /// Unpack `tar` built against a fresh scene, expect a refusal matching
    /// `expect`, and check that nothing outside dest changed.
    fn refused(
        case: &str,
        build: impl FnOnce(&Scene) -> Vec<u8>,
        expect: impl Fn(&UnpackError) -> bool,
    ) {
        let s = scene();
        let tar = build(&s);
        let mut before = BTreeMap::new();
        snapshot(&s.base, &s.dest, &mut before);
        let passwd_links = lmeta(Path::new("/etc/passwd")).nlink();
        let err = match run(&tar, &s.dest) {
            Ok(stats) => panic!("{case}: unpacked ({stats:?}) instead of refusing"),
            Err(e) => e,
        };
        assert!(expect(&err), "{case}: unexpected error {err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("layer entry \""), "{case}: message {msg:?}");
        let mut after = BTreeMap::new();
        snapshot(&s.base, &s.dest, &mut after);
        assert_eq!(before, after, "{case}: something outside dest changed");
        assert!(
            !Path::new(ETC_SENTINEL).exists(),
            "{case}: wrote {ETC_SENTINEL}"
        );
        assert_eq!(
            passwd_links,
            lmeta(Path::new("/etc/passwd")).nlink(),
            "{case}: linked /etc/passwd"
        );
        eprintln!("{case}: refused: {msg}");
    }

    fn outside_str(s: &Scene) -> &str {
        s.outside.to_str().expect("utf-8 tempdir")
    }

    #[test]
    fn unpack_round_trip_keeps_everything() {
        if !root() {
            return;
        }
        let s = scene();
        // security.capability v2: cap_net_raw (13) permitted + effective.
        let mut cap = Vec::new();
        for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
            cap.extend_from_slice(&word.to_le_bytes());
        }
        let long_dir = format!("./deep/{}", "d".repeat(120));
        let long_target = format!("/{}", "t".repeat(200));
        let mut t = Tar::new();
        t.dir_with("./", 0o700, 7, 7, T0)
            .dir_with("./etc/", 0o750, 1000, 1001, T0 + 10)
            .pax(&[
                ("SCHILY.xattr.user.comment", b"hello"),
                ("SCHILY.xattr.trusted.skiff", b"\x00\x01bin"),
                ("mtime", b"1600000123.123456789"),
                ("atime", b"1600000100.5"),
            ])
            .file_with("./etc/app.conf", b"key=value\n", 0o640, 1000, 1001, T0 + 20)
            .pax(&[("SCHILY.xattr.security.capability", &cap)])
            .file_with("./usr/bin/ping", b"\x7fELF ping", 0o4755, 0, 0, T0 + 30)
            .file_with("./usr/bin/sg", b"sg", 0o2755, 1000, 50, T0 + 31)
            .dir_with("./tmp/", 0o1777, 0, 0, T0 + 40)
            .pax(&[
                ("SCHILY.xattr.trusted.skiff.link", b"l"),
                ("SCHILY.xattr.user.nope", b"x"),
            ])
            .symlink_with("./etc/localtime", "/usr/share/zoneinfo/UTC", 5, 6, T0 + 50)
            .symlink("./usr/bin/sh", "busybox")
            .hardlink("./usr/bin/ping6", "./usr/bin/ping")
            .hardlink("usr/bin/ping4", "usr/bin/ping")
            .special("./dev/null", EntryType::Char, (1, 3), 0o666)
            .special("./dev/loop0", EntryType::Block, (7, 0), 0o660)
            .special("./run/fifo", EntryType::Fifo, (0, 0), 0o640)
            .file(&format!("{long_dir}/file"), b"long")
            .symlink("./deep/long-link", &long_target)
            // Replacements: later entries win.
            .file("./etc/motd", b"one")
            .file("./etc/motd", b"two")
            .file("./etc/was-file", b"f")
            .symlink("./etc/was-file", "motd")
            .dir("./etc/was-dir/")
            .file("./etc/was-dir/x", b"x")
            .file("./etc/was-dir", b"now a file")
            .file("./etc/to-dir", b"f")
            .dir("./etc/to-dir/")
            // A later directory entry updates metadata, keeps content.
            .dir_with("./etc/", 0o755, 1000, 1001, T0 + 11);
        let stats = run(&t.build(), &s.dest).expect("unpack");
        let d = &s.dest;

        let etc = lmeta(&d.join("etc"));
        assert_eq!(etc.mode() & 0o7777, 0o755);
        assert_eq!((etc.uid(), etc.gid()), (1000, 1001));
        assert_eq!(
            etc.mtime() as u64,
            T0 + 11,
            "dir mtime set after its children"
        );

        let conf = d.join("etc/app.conf");
        let m = lmeta(&conf);
        assert_eq!(std::fs::read(&conf).expect("read"), b"key=value\n");
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!((m.uid(), m.gid()), (1000, 1001));
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_123, 123_456_789));
        assert_eq!((m.atime(), m.atime_nsec()), (1_600_000_100, 500_000_000));
        assert_eq!(
            xattr_of(&conf, "user.comment").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            xattr_of(&conf, "trusted.skiff").as_deref(),
            Some(&b"\x00\x01bin"[..])
        );

        let ping = d.join("usr/bin/ping");
        let m = lmeta(&ping);
        assert_eq!(m.mode() & 0o7777, 0o4755, "setuid kept");
        assert_eq!(m.nlink(), 3);
        assert_eq!(xattr_of(&ping, "security.capability"), Some(cap));
        let sg = lmeta(&d.join("usr/bin/sg"));
        assert_eq!(sg.mode() & 0o7777, 0o2755, "setgid kept after chown");
        assert_eq!((sg.uid(), sg.gid()), (1000, 50));
        assert_eq!(lmeta(&d.join("usr/bin/ping6")).ino(), m.ino());
        assert_eq!(lmeta(&d.join("usr/bin/ping4")).ino(), m.ino());
        let implicit = lmeta(&d.join("usr"));
        assert_eq!((implicit.mode() & 0o7777, implicit.uid()), (0o755, 0));

        assert_eq!(lmeta(&d.join("tmp")).mode() & 0o7777, 0o1777);

        let lt = d.join("etc/localtime");
        let m = lmeta(&lt);
        assert!(m.file_type().is_symlink());
        assert_eq!(
            std::fs::read_link(&lt).expect("readlink"),
            Path::new("/usr/share/zoneinfo/UTC")
        );
        assert_eq!((m.uid(), m.gid(), m.mtime() as u64), (5, 6, T0 + 50));
        assert_eq!(
            xattr_of(&lt, "trusted.skiff.link").as_deref(),
            Some(&b"l"[..])
        );
        assert_eq!(
            xattr_of(&lt, "user.nope"),
            None,
            "user.* is not allowed on symlinks"
        );
        assert_eq!(
            std::fs::read_link(d.join("usr/bin/sh")).expect("readlink"),
            Path::new("busybox")
        );

        let null = lmeta(&d.join("dev/null"));
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
        assert_eq!(null.mode() & 0o7777, 0o666);
        let lp = lmeta(&d.join("dev/loop0"));
        assert!(lp.file_type().is_block_device());
        assert_eq!(lp.rdev(), nix::sys::stat::makedev(7, 0));
        assert_eq!(lp.mode() & 0o7777, 0o660);
        let fifo = lmeta(&d.join("run/fifo"));
        assert!(fifo.file_type().is_fifo());
        assert_eq!((fifo.mode() & 0o7777, fifo.mtime() as u64), (0o640, T0));

        assert_eq!(
            std::fs::read(d.join(&long_dir[2..]).join("file")).expect("read"),
            b"long"
        );
        assert_eq!(
            std::fs::read_link(d.join("deep/long-link")).expect("readlink"),
            Path::new(&long_target)
        );

        assert_eq!(std::fs::read(d.join("etc/motd")).expect("read"), b"two");
        assert_eq!(
            std::fs::read_link(d.join("etc/was-file")).expect("readlink"),
            Path::new("motd")
        );
        assert_eq!(
            std::fs::read(d.join("etc/was-dir")).expect("read"),
            b"now a file"
        );
        assert!(lmeta(&d.join("etc/to-dir")).is_dir());

        // The root entry is skiffd's, not the layer's.
        let r = lmeta(d);
        assert_ne!(r.uid(), 7);

        assert_eq!(stats.entries, 25);
        assert_eq!(stats.files, 10);
        assert_eq!(stats.bytes, 10 + 9 + 2 + 4 + 3 + 3 + 1 + 1 + 10 + 1);
        assert_eq!(stats.dirs, 5);
        assert_eq!(stats.symlinks, 4);
        assert_eq!(stats.hardlinks, 2);
        assert_eq!(stats.specials, 3);
        assert_eq!(stats.skipped, 1);
        assert_eq!(stats.xattrs_skipped, 1);
    }

    #[test]
    fn unpack_whiteouts_become_overlay_form() {
        if !root() {
            return;
        }
        let s = scene();
        let mut t = Tar::new();
        t.dir("a/")
            .file("a/.wh.gone", b"")
            .file("a/b/.wh..wh..opq", b"")
            .dir("c/")
            .file("c/kept", b"k")
            .file("c/.wh..wh..opq", b"")
            .dir(".wh..wh.plnk/")
            .file(".wh..wh.plnk/123.456", b"aufs")
            .file(".wh..wh.aufs", b"")
            .file(".wh.top", b"")
            .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
            .dir("d/");
        let stats = run(&t.build(), &s.dest).expect("unpack");
        let d = &s.dest;
        for w in ["a/gone", "top"] {
            let m = lmeta(&d.join(w));
            assert!(m.file_type().is_char_device(), "{w} is a whiteout");
            assert_eq!(m.rdev(), 0);
            assert_eq!(m.mode() & 0o7777, 0);
        }
        assert!(!d.join("a/.wh.gone").exists());
        for o in ["a/b", "c"] {
            assert!(lmeta(&d.join(o)).is_dir());
            assert_eq!(
                xattr_of(&d.join(o), OPAQUE_XATTR).as_deref(),
                Some(&b"y"[..]),
                "{o}"
            );
        }
        assert!(d.join("c/kept").exists());
        assert!(!d.join("c/.wh..wh..opq").exists());
        assert_eq!(xattr_of(&d.join("a"), OPAQUE_XATTR), None);
        assert!(!d.join(".wh..wh.plnk").exists());
        assert!(!d.join(".wh..wh.aufs").exists());
        assert_eq!(xattr_of(&d.join("d"), "trusted.overlay.redirect"), None);
        assert_eq!((stats.whiteouts, stats.opaques, stats.skipped), (2, 2, 3));
        assert_eq!(stats.xattrs_skipped, 1);
    }

    /// Unmounts on drop, so a failing assertion still cleans up.
    struct Mounted(PathBuf);

    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }

    fn tree(dir: &Path, prefix: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("dirent");
            let rel = prefix.join(e.file_name());
            let is_dir = e.file_type().expect("file type").is_dir();
            out.push(format!(
                "{}{}",
                rel.display(),
                if is_dir { "/" } else { "" }
            ));
            if is_dir {
                tree(&e.path(), &rel, out);
            }
        }
    }

    #[test]
    fn unpack_layers_stack_in_a_real_overlay() {
        if !root() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let (lower, upper, mnt) = (
            tmp.path().join("lower"),
            tmp.path().join("upper"),
            tmp.path().join("mnt"),
        );
        for d in [&lower, &upper, &mnt] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let mut t = Tar::new();
        t.dir("etc/")
            .file("etc/passwd", b"root:x:0:0")
            .file("etc/hosts", b"127.0.0.1")
            .dir("usr/")
            .dir("usr/share/")
            .dir("usr/share/doc/")
            .file("usr/share/doc/a", b"a")
            .dir("usr/share/doc/b/")
            .file("usr/share/doc/b/c", b"c")
            .dir("bin/")
            .file("bin/sh", b"sh");
        run(&t.build(), &lower).expect("unpack lower");
        let mut t = Tar::new();
        t.dir("etc/")
            .file("etc/.wh.hosts", b"")
            .dir("usr/share/doc/")
            .file("usr/share/doc/.wh..wh..opq", b"")
            .file("usr/share/doc/new", b"new")
            .dir("bin/")
            .file("bin/ls", b"ls");
        run(&t.build(), &upper).expect("unpack upper");

        let opts = format!("ro,lowerdir={}:{}", upper.display(), lower.display());
        let status = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&mnt)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount overlay: {status}");
        let _guard = Mounted(mnt.clone());

        let mut got = Vec::new();
        tree(&mnt, Path::new(""), &mut got);
        got.sort();
        let want = [
            "bin/",
            "bin/ls",
            "bin/sh",
            "etc/",
            "etc/passwd",
            "usr/",
            "usr/share/",
            "usr/share/doc/",
            "usr/share/doc/new",
        ];
        assert_eq!(got, want);
        assert_eq!(std::fs::read(mnt.join("bin/sh")).expect("read"), b"sh");
        assert_eq!(
            std::fs::read(mnt.join("usr/share/doc/new")).expect("read"),
            b"new"
        );
    }

    #[test]
    fn unpack_refuses_every_escape() {
        if !root() {
            return;
        }
        use UnpackError as E;
        let file = EntryType::Regular;
        let sym = EntryType::Symlink;
        let link = EntryType::Link;
        let raw = |name: &[u8], kind, target: &[u8]| {
            let mut t = Tar::new();
            t.raw(name, kind, target, b"pwned");
            t.build()
        };

        for name in [
            &b"../x"[..],
            b"a/../../x",
            b"a/../b",
            b"./../outside/keep",
            b"a/b/../../../x",
        ] {
            refused(
                &String::from_utf8_lossy(name),
                |_| raw(name, file, b""),
                |e| matches!(e, E::PathEscape { path } if path.as_bytes() == name),
            );
        }
        refused(
            "dir ../outside/sub/",
            |_| raw(b"../outside/sub/", EntryType::Directory, b""),
            |e| matches!(e, E::PathEscape { .. }),
        );
        refused(
            "absolute",
            |_| raw(ETC_SENTINEL.as_bytes(), file, b""),
            |e| matches!(e, E::AbsolutePath { path } if path == ETC_SENTINEL),
        );
        refused(
            "pax path with ..",
            |_| {
                let mut t = Tar::new();
                t.pax(&[("path", b"../pax-escape")])
                    .raw(b"innocent", file, b"", b"x");
                t.build()
            },
            |e| matches!(e, E::PathEscape { path } if path == "../pax-escape"),
        );
        refused(
            "nul byte in a gnu long name",
            |_| {
                let mut t = Tar::new();
                t.raw(
                    b"././@LongLink",
                    EntryType::GNULongName,
                    b"",
                    b"ok\0/../../x\0",
                )
                .raw(b"ok", file, b"", b"x");
                t.build()
            },
            |e| matches!(e, E::NulByte { .. }),
        );
        refused(
            "symlink to outside, then a file through it",
            |s| {
                let mut t = Tar::new();
                t.symlink("evil", outside_str(s)).file("evil/pwned", b"x");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "evil"),
        );
        refused(
            "symlink to outside, then overwrite a file through it",
            |s| {
                let mut t = Tar::new();
                t.symlink("evil", outside_str(s)).file("evil/keep", b"x");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { .. }),
        );
        refused(
            "symlink to .., then a file through it",
            |_| raw_pair(b"evil", sym, b"..", b"evil/outside/keep", file),
            |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "evil"),
        );
        refused(
            "symlink to .., then a directory through it",
            |_| raw_pair(b"evil", sym, b"..", b"evil/x/", EntryType::Directory),
            |e| matches!(e, E::ThroughSymlink { .. }),
        );
        refused(
            "symlink chain",
            |s| {
                let mut t = Tar::new();
                t.symlink("a", "b")
                    .symlink("b", outside_str(s))
                    .file("a/pwned", b"x");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "a"),
        );
        refused(
            "nested symlink in a real dir",
            |s| {
                let mut t = Tar::new();
                t.dir("d/")
                    .symlink("d/l", outside_str(s))
                    .file("d/l/sub/f", b"x");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "d/l"),
        );
        refused(
            "directory replaced by a symlink, then written through",
            |s| {
                let mut t = Tar::new();
                t.dir("d/")
                    .file("d/f", b"f")
                    .symlink("d", outside_str(s))
                    .file("d/x", b"x");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "d"),
        );
        refused(
            "device through a symlink",
            |s| {
                let mut t = Tar::new();
                t.symlink("evil", outside_str(s)).special(
                    "evil/null",
                    EntryType::Char,
                    (1, 3),
                    0o666,
                );
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { .. }),
        );
        refused(
            "opaque marker through a symlink",
            |s| {
                let mut t = Tar::new();
                t.symlink("evil", outside_str(s))
                    .file("evil/.wh..wh..opq", b"");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { .. }),
        );
        refused(
            "whiteout through a symlink",
            |s| {
                let mut t = Tar::new();
                t.symlink("evil", outside_str(s)).file("evil/.wh.keep", b"");
                t.build()
            },
            |e| matches!(e, E::ThroughSymlink { .. }),
        );
        refused(
            "hard link to ../outside",
            |_| raw(b"h", link, b"../outside/keep"),
            |e| matches!(e, E::HardLinkEscape { target, .. } if target == "../outside/keep"),
        );
        refused(
            "hard link to /etc/passwd",
            |_| raw(b"h", link, b"/etc/passwd"),
            |e| matches!(e, E::HardLinkEscape { target, .. } if target == "/etc/passwd"),
        );
        refused(
            "hard link through a symlink dir",
            |s| {
                let mut t = Tar::new();
                t.symlink("evil", outside_str(s)).hardlink("h", "evil/keep");
                t.build()
            },
            |e| matches!(e, E::HardLinkThroughSymlink { symlink, .. } if symlink == "evil"),
        );
        refused(
            "hard link through a symlink chain",
            |_| {
                let mut t = Tar::new();
                t.symlink("a", "b")
                    .symlink("b", "..")
                    .raw(b"h", link, b"a/outside/keep", b"");
                t.build()
            },
            |e| matches!(e, E::HardLinkThroughSymlink { .. }),
        );
        refused(
            "hard link to a missing target",
            |_| raw(b"h", link, b"nope"),
            |e| matches!(e, E::HardLinkTargetMissing { .. }),
        );
        refused(
            "hard link below a regular file",
            |_| {
                let mut t = Tar::new();
                t.file("f", b"f").hardlink("h", "f/x");
                t.build()
            },
            |e| matches!(e, E::HardLinkTargetMissing { .. }),
        );
        refused(
            "hard link to a directory",
            |_| {
                let mut t = Tar::new();
                t.dir("d/").hardlink("h", "d");
                t.build()
            },
            |e| matches!(e, E::HardLinkToDirectory { .. }),
        );
        refused(
            "hard link to the root",
            |_| raw(b"h", link, b"./"),
            |e| matches!(e, E::HardLinkToDirectory { .. }),
        );
        for name in [&b".wh.."[..], b"a/.wh...", b"a/.wh."] {
            refused(
                &String::from_utf8_lossy(name),
                |_| raw(name, file, b""),
                |e| matches!(e, E::InvalidWhiteout { .. }),
            );
        }
        refused(
            "file under a regular file",
            |_| {
                let mut t = Tar::new();
                t.file("f", b"f").raw(b"f/x", file, b"", b"x");
                t.build()
            },
            |e| matches!(e, E::ParentNotDirectory { parent, .. } if parent == "f"),
        );
        refused(
            "root as a file",
            |_| raw(b"./", EntryType::Symlink, b"/"),
            |e| matches!(e, E::RootNotDirectory { .. }),
        );
    }

    fn raw_pair(a: &[u8], ak: EntryType, alink: &[u8], b: &[u8], bk: EntryType) -> Vec<u8> {
        let mut t = Tar::new();
        t.raw(a, ak, alink, b"").raw(b, bk, b"", b"");
        t.build()
    }

    /// Entries that replace a symlink must replace it, never follow it, and
    /// times of a directory later replaced by a symlink must not be applied
    /// through that symlink.
    #[test]
    fn unpack_replaces_symlinks_without_following_them() {
        if !root() {
            return;
        }
        let s = scene();
        let out = outside_str(&s).to_owned();
        let keep = format!("{out}/keep");
        let mut t = Tar::new();
        t.symlink("f", &keep)
            .file_with("f", b"mine", 0o4755, 1, 1, T0)
            .symlink("d", &out)
            .dir_with("d/", 0o700, 1, 1, T0)
            .symlink("n", &keep)
            .special("n", EntryType::Fifo, (0, 0), 0o600)
            .symlink("h", &keep)
            .file("target", b"t")
            .hardlink("h", "target")
            .symlink("s", &keep)
            .symlink("s", "elsewhere")
            .symlink("ln", &keep)
            .hardlink("ln2", "ln")
            .dir_with("x/", 0o755, 0, 0, 1)
            .dir_with("x/sub/", 0o755, 0, 0, 1)
            .symlink("x", &out)
            .dir_with("y/", 0o755, 0, 0, 1)
            .symlink("y", &keep);
        let mut before = BTreeMap::new();
        snapshot(&s.base, &s.dest, &mut before);
        run(&t.build(), &s.dest).expect("unpack");
        let mut after = BTreeMap::new();
        snapshot(&s.base, &s.dest, &mut after);
        assert_eq!(before, after, "something outside dest changed");
        let d = &s.dest;
        assert_eq!(std::fs::read(d.join("f")).expect("read"), b"mine");
        assert!(lmeta(&d.join("f")).file_type().is_file());
        assert!(lmeta(&d.join("d")).is_dir());
        assert!(lmeta(&d.join("n")).file_type().is_fifo());
        assert_eq!(lmeta(&d.join("h")).ino(), lmeta(&d.join("target")).ino());
        assert_eq!(
            std::fs::read_link(d.join("s")).expect("readlink"),
            Path::new("elsewhere")
        );
        let ln2 = lmeta(&d.join("ln2"));
        assert!(
            ln2.file_type().is_symlink(),
            "a hard link to a symlink links the symlink"
        );
        assert_eq!(ln2.ino(), lmeta(&d.join("ln")).ino());
        assert!(lmeta(&d.join("x")).file_type().is_symlink());
        assert!(lmeta(&d.join("y")).file_type().is_symlink());
    }

    #[test]
    fn unpack_20_mib_file() {
        let s = scene();
        let mut data = vec![0u8; 20 << 20];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for chunk in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let mut t = Tar::new();
        let uid = u64::from(nix::unistd::geteuid().as_raw());
        let gid = u64::from(nix::unistd::getegid().as_raw());
        t.file_with("big.bin", &data, 0o600, uid, gid, T0)
            .file_with("after", b"ok", 0o600, uid, gid, T0);
        let stats = run(&t.build(), &s.dest).expect("unpack");
        assert_eq!(stats.bytes, (20 << 20) + 2);
        let got = std::fs::read(s.dest.join("big.bin")).expect("read");
        assert_eq!(got.len(), data.len());
        assert_eq!(fnv1a(&got), fnv1a(&data));
        assert!(got == data);
        assert_eq!(std::fs::read(s.dest.join("after")).expect("read"), b"ok");
    }

    fn fnv1a(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn unpack_truncated_tar_is_an_error() {
        let s = scene();
        let mut t = Tar::new();
        t.file("big", &vec![7u8; 1 << 20]);
        let tar = t.build();
        let err = run(&tar[..600 << 10], &s.dest).expect_err("truncated");
        assert!(
            matches!(&err, UnpackError::ArchiveEntry { path, .. } if path == "big"),
            "{err:?}"
        );
        let err = run(&tar[..700], &s.dest).expect_err("truncated header");
        assert!(matches!(
            err,
            UnpackError::ArchiveEntry { .. } | UnpackError::Archive { .. }
        ));
    }

    #[test]
    fn unpack_reads_the_stream_to_eof() {
        struct Counting<'a>(&'a [u8], usize);
        impl Read for Counting<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1 += n;
                Ok(n)
            }
        }
        let s = scene();
        let mut t = Tar::new();
        t.file("a", b"a");
        let mut tar = t.build();
        tar.extend_from_slice(&[0; 20 << 10]);
        let mut reader = Counting(&tar, 0);
        unpack(&mut reader, &s.dest).expect("unpack");
        assert_eq!(reader.1, tar.len());
    }

    #[test]
    fn unpack_cleans_names() {
        let mut out = PathBuf::new();
        for (raw, want) in [
            (&b"./a/b/"[..], "a/b"),
            (b"a//b/./c", "a/b/c"),
            (b"./", ""),
            (b".", ""),
            (b"...", "..."),
            (b"a/..b", "a/..b"),
        ] {
            assert!(clean(raw, &mut out).is_ok(), "{raw:?}");
            assert_eq!(out, Path::new(want));
        }
        assert!(matches!(clean(b"/a", &mut out), Err(Reject::Absolute)));
        assert!(matches!(clean(b"a/..", &mut out), Err(Reject::DotDot)));
        assert!(matches!(clean(b"a\0b", &mut out), Err(Reject::Nul)));
    }

    #[test]
    fn unpack_parses_pax_times() {
        let t = |v: &[u8]| parse_pax_time(v).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t(b"1600000000"), Some((1_600_000_000, 0)));
        assert_eq!(t(b"1600000000.5"), Some((1_600_000_000, 500_000_000)));
        assert_eq!(t(b"1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(t(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t(b"-3"), Some((-3, 0)));
        assert_eq!(t(b""), None);
        assert_eq!(t(b"1.x"), None);
        assert_eq!(t(b"+1"), None);
    }

    /// A ~100 MiB layer: `large` = few big files, otherwise image-like
    /// (log-uniform 64 B..256 KiB files, a 4 MiB one every 500, 40 files a
    /// directory, a symlink every 10 files).
    fn bench_tar(large: bool) -> Vec<u8> {
        let blob: Vec<u8> = (0..(8usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
        let big = [
            200usize,
            1 << 10,
            4 << 10,
            16 << 10,
            64 << 10,
            256 << 10,
            1 << 20,
            8 << 20,
        ];
        let mut t = Tar::new();
        let (mut content, mut i, mut x) = (0usize, 0usize, 0x2545_f491_4f6c_dd1du64);
        'dirs: for dir in 0.. {
            t.dir(&format!("usr/d{dir}/"));
            for j in 0..40 {
                if content >= 100 << 20 {
                    break 'dirs;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let size = if large {
                    big[i % big.len()]
                } else if i % 500 == 499 {
                    4 << 20
                } else {
                    // 2^(6 + 12u), u uniform in [0, 1).
                    (64.0 * 4096f64.powf((x >> 11) as f64 / (1u64 << 53) as f64)) as usize
                };
                let size = size.min((100 << 20) - content);
                t.file(&format!("usr/d{dir}/f{j}"), &blob[..size]);
                if matches!(j, 0 | 10 | 20 | 30) {
                    t.symlink(&format!("usr/d{dir}/l{j}"), &format!("f{j}"));
                }
                content += size;
                i += 1;
            }
        }
        t.build()
    }

    /// `cargo test --release -p skiff-store unpack_throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark"]
    fn unpack_throughput() {
        for (name, large) in [("image-like", false), ("large files", true)] {
            let tar = bench_tar(large);
            if let Ok(out) = std::env::var("SKIFF_BENCH_SAVE") {
                std::fs::write(format!("{out}-{large}.tar"), &tar).expect("save tar");
            }
            let base = std::env::var_os("SKIFF_BENCH_DIR").map(PathBuf::from);
            let mut best = f64::MAX;
            let mut stats = UnpackStats::default();
            for _ in 0..7 {
                let tmp = match &base {
                    Some(base) => tempfile::tempdir_in(base),
                    None => tempfile::tempdir(),
                }
                .expect("tempdir");
                let start = std::time::Instant::now();
                stats = unpack(&tar[..], tmp.path()).expect("unpack");
                best = best.min(start.elapsed().as_secs_f64());
            }
            eprintln!(
                "{name}: {} entries, {} files, {:.1} MiB tar: best {:.3}s = {:.0} MB/s",
                stats.entries,
                stats.files,
                tar.len() as f64 / f64::from(1 << 20),
                best,
                tar.len() as f64 / 1e6 / best
            );
        }
    }
}
