//! The OS calls behind the local driver's device mounts: `mount(2)`,
//! `umount2(2)`, and "is this path a mount point", behind [`Mounter`] so the
//! service's logic is tested without root (youki's style).
//!
//! [`SysMounter`] is the real one. It reads `/proc/thread-self/mountinfo`, so
//! a thread that entered its own mount namespace (as the root test does) sees
//! its own mounts.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

/// One `mount(2)` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountCall {
    /// The device (empty for a propagation change or a remount).
    pub source: String,
    /// The mount point.
    pub target: PathBuf,
    /// The filesystem type (empty for a propagation change or a remount).
    pub fstype: String,
    /// `MS_*` flags.
    pub flags: u64,
    /// Filesystem-specific data (`size=64m`).
    pub data: String,
    /// What the call is, for errors: `mount`, `remount`, `remount-ro`.
    pub op: &'static str,
}

/// A failed mount or unmount, worded as `github.com/moby/sys/mount` words it:
/// `mount /dev:/target, flags: 0x1000, data: x: no such file or directory`.
#[derive(Debug, thiserror::Error)]
pub struct MountError {
    /// `mount`, `remount`, `remount-ro`, `umount`.
    pub op: &'static str,
    /// The device, if any.
    pub device: String,
    /// The mount point.
    pub target: PathBuf,
    /// The flags passed.
    pub flags: u64,
    /// The data passed.
    pub data: String,
    /// The error number.
    pub errno: Errno,
}

impl fmt::Display for MountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.op)?;
        if self.device.is_empty() {
            write!(f, "{}", self.target.display())?;
        } else {
            write!(f, "{}:{}", self.device, self.target.display())?;
        }
        if self.flags != 0 {
            write!(f, ", flags: 0x{:x}", self.flags)?;
        }
        if !self.data.is_empty() {
            write!(f, ", data: {}", self.data)?;
        }
        // Go prints strerror in lower case.
        let desc = self.errno.desc();
        let mut chars = desc.chars();
        let lower: String = chars
            .next()
            .map(|c| c.to_lowercase().chain(chars).collect())
            .unwrap_or_default();
        write!(f, ": {lower}")
    }
}

impl MountError {
    /// The error of a failed `umount2(target, MNT_DETACH)`.
    pub fn umount(target: &Path, errno: Errno) -> Self {
        Self {
            op: "umount",
            device: String::new(),
            target: target.to_owned(),
            flags: libc::MNT_DETACH as u64,
            data: String::new(),
            errno,
        }
    }

    /// The error of a failed `call`.
    pub fn of(call: &MountCall, errno: Errno) -> Self {
        Self {
            op: call.op,
            device: call.source.clone(),
            target: call.target.clone(),
            flags: call.flags,
            data: call.data.clone(),
            errno,
        }
    }
}

/// The mount operations the local driver needs.
pub trait Mounter: Send + Sync + fmt::Debug {
    /// Perform one `mount(2)` call.
    fn mount(&self, call: &MountCall) -> Result<(), Errno>;
    /// Detach the mount at `target` (`MNT_DETACH`); `EINVAL` (not a mount
    /// point) counts as success.
    fn unmount(&self, target: &Path) -> Result<(), Errno>;
    /// Whether `path` is a mount point.
    fn is_mounted(&self, path: &Path) -> io::Result<bool>;
}

/// The real mount calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysMounter;

fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

impl Mounter for SysMounter {
    fn mount(&self, call: &MountCall) -> Result<(), Errno> {
        nix::mount::mount(
            non_empty(&call.source),
            &call.target,
            non_empty(&call.fstype),
            MsFlags::from_bits_retain(call.flags),
            non_empty(&call.data),
        )
    }

    fn unmount(&self, target: &Path) -> Result<(), Errno> {
        match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn is_mounted(&self, path: &Path) -> io::Result<bool> {
        let real = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let table = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
        Ok(mount_points(&table).any(|p| p == real))
    }
}

/// The mount points listed in a `mountinfo` table (field 5, octal escapes
/// such as `\040` decoded).
pub fn mount_points(table: &str) -> impl Iterator<Item = PathBuf> + '_ {
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
}

fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let digits = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(digits, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod fake {
    //! A [`Mounter`] that records calls and keeps a mount table in memory.

    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;

    /// Records every call; `fail_with` makes the next mounts fail.
    #[derive(Debug, Default)]
    pub struct FakeMounter {
        /// Every mount call, in order.
        pub calls: Mutex<Vec<MountCall>>,
        /// Every unmount, in order.
        pub unmounts: Mutex<Vec<PathBuf>>,
        /// What is mounted now.
        pub table: Mutex<BTreeSet<PathBuf>>,
        /// An errno to fail mounts with.
        pub fail_with: Mutex<Option<Errno>>,
    }

    impl Mounter for FakeMounter {
        fn mount(&self, call: &MountCall) -> Result<(), Errno> {
            if let Some(e) = *self.fail_with.lock().expect("lock") {
                return Err(e);
            }
            self.calls.lock().expect("lock").push(call.clone());
            self.table.lock().expect("lock").insert(call.target.clone());
            Ok(())
        }

        fn unmount(&self, target: &Path) -> Result<(), Errno> {
            self.unmounts.lock().expect("lock").push(target.to_owned());
            self.table.lock().expect("lock").remove(target);
            Ok(())
        }

        fn is_mounted(&self, path: &Path) -> io::Result<bool> {
            Ok(self.table.lock().expect("lock").contains(path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_moby_sys_mount() {
        let call = MountCall {
            source: "/nope".into(),
            target: "/v/_data".into(),
            fstype: "none".into(),
            flags: 0x1000,
            data: String::new(),
            op: "mount",
        };
        assert_eq!(
            MountError::of(&call, Errno::ENOENT).to_string(),
            "mount /nope:/v/_data, flags: 0x1000: no such file or directory"
        );
        let call = MountCall {
            source: String::new(),
            data: "size=1m".into(),
            flags: 0,
            op: "remount",
            ..call
        };
        assert_eq!(
            MountError::of(&call, Errno::EPERM).to_string(),
            "remount /v/_data, data: size=1m: operation not permitted"
        );
    }

    #[test]
    fn reads_mount_points_with_escapes() {
        let table = "22 1 0:21 / / rw - ext4 /dev/sda rw\n\
                     40 22 0:40 / /var/lib/with\\040space rw - tmpfs tmpfs rw\n";
        let points: Vec<_> = mount_points(table).collect();
        assert_eq!(
            points,
            [PathBuf::from("/"), PathBuf::from("/var/lib/with space")]
        );
    }

    #[test]
    fn a_plain_directory_is_not_a_mount_point() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!SysMounter.is_mounted(dir.path()).expect("mountinfo"));
        assert!(
            !SysMounter
                .is_mounted(&dir.path().join("gone"))
                .expect("missing")
        );
        assert!(SysMounter.is_mounted(Path::new("/")).expect("root"));
    }
}
