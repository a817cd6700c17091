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

mod meta;
mod names;
mod unpacker;

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

impl UnpackError {
    /// Whether the tar is at fault (a malformed or hostile archive, or a
    /// stream that broke off), rather than the disk: everything but
    /// [`Self::Io`], [`Self::Dest`] and read errors the OS reported (e.g.
    /// `ENOSPC` from a tee writing the blob while it is read).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Dest { .. } => false,
            Self::Archive { source } | Self::ArchiveEntry { source, .. } => {
                source.raw_os_error().is_none()
            }
            _ => true,
        }
    }
}

use unpacker::Unpacker;

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
        skiff_failpoint::point!(skiff_failpoint::UNPACK_MID);
    }
    unpacker.finish()?;
    // Read past the end-of-archive marker so a digesting reader sees it all.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|source| UnpackError::Archive { source })?;
    Ok(unpacker.stats)
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
