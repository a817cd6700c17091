//! An entry's metadata as docker reads it: numeric header fields (Go's
//! leniency for blank fields), PAX times with nanoseconds, and
//! `SCHILY.xattr.*` records, with overlay's own xattrs filtered out.
//!
//! Contract: reading only; applying the metadata is the unpacker's job.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::stat::Mode;
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use super::{OVERLAY_XATTR_PREFIX, PAX_XATTR_PREFIX, UnpackError, UnpackStats, io_err, lossy};

/// Metadata common to all entry kinds.
pub(super) struct Meta {
    pub(super) mode: Mode,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    pub(super) atime: TimeSpec,
    pub(super) mtime: TimeSpec,
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
pub(super) fn read_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &[u8],
) -> Result<Meta, UnpackError> {
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
pub(super) fn set_xattrs<R: Read>(
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
pub(super) fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
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
