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

/// A numeric header field as Go's `archive/tar` reads it (and so docker):
/// a field of nothing but NULs and spaces is 0 rather than an error, which
/// tars written by `tar::Header::new_gnu()` without a mode or owner rely on.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> Option<u64> {
    match parsed {
        Ok(v) => Some(v),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Some(0),
        Err(_) => None,
    }
}

/// The entry's mode, owner and times, from its header and PAX records.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<Meta, UnpackError> {
    let bad = |what| UnpackError::BadHeader {
        path: lossy(name),
        what,
    };
    let h = entry.header();
    let raw = h.as_old();
    let mode = numeric(h.mode().map(u64::from), &raw.mode).ok_or_else(|| bad("invalid mode"))?
        as u32
        & 0o7777;
    let uid = numeric(h.uid(), &raw.uid)
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| bad("invalid uid"))?;
    let gid = numeric(h.gid(), &raw.gid)
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| bad("invalid gid"))?;
    let secs = numeric(h.mtime(), &raw.mtime)
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
mod tests;
