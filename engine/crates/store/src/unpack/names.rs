//! Entry names and parent chains: what a name means (normal, whiteout,
//! opaque marker, aufs metadata), absolute names rooted in the layer (as
//! dockerd and containerd read them: `/etc/x` is `etc/x`), the refusal of
//! `..` and NUL names, and the `lstat` walk that proves a parent chain
//! holds real directories only.
//!
//! Contract: nothing here writes; every check is relative to the
//! destination's descriptor and never follows a symlink.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag};

use super::{WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

/// Why a name was refused by [`clean`].
pub(super) enum Reject {
    Nul,
    DotDot,
}

/// Why a parent chain was refused by [`ensure_chain`]; the `usize` is the
/// byte length of the offending prefix of the checked directory.
pub(super) enum ChainError {
    Symlink(usize),
    NotDir(usize),
    Missing(usize),
    Sys(Errno),
}

/// What an entry's (cleaned) name says it is.
pub(super) enum Role {
    Normal,
    Whiteout,
    Opaque,
    Meta,
}

/// Clean a tar name into a path relative to the layer: drop `.`
/// components, empty components and trailing slashes; root an absolute
/// name in the layer (`/` is the layer's root, `/etc/x` its `etc/x`, as
/// `umoci insert … /` writes them); refuse NUL and `..` (which could
/// escape).
pub(super) fn clean(raw: &[u8], out: &mut PathBuf) -> Result<(), Reject> {
    out.as_mut_os_string().clear();
    if raw.contains(&0) {
        return Err(Reject::Nul);
    }
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return Err(Reject::DotDot),
        }
    }
    Ok(())
}

/// Classify a cleaned path by its whiteout naming.
pub(super) fn role(rel: &Path) -> Role {
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
pub(super) fn ensure_chain(
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
pub(super) fn lstat_at(root: &OwnedFd, rel: &Path) -> nix::Result<FileStat> {
    nix::sys::stat::fstatat(root, rel, AtFlags::AT_SYMLINK_NOFOLLOW)
}

pub(super) fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// `dest` joined with `rel`, in a reused buffer.
pub(super) fn full_path<'a>(buf: &'a mut PathBuf, dest: &Path, rel: &Path) -> &'a Path {
    buf.as_mut_os_string().clear();
    buf.push(dest);
    if !rel.as_os_str().is_empty() {
        buf.push(rel);
    }
    buf
}
