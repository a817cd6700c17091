//! `/proc/<pid>/mountinfo`, parsed (proc(5)). A line reads
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
//! ```
//!
//! mount id, parent id, major:minor, root of the mount within its
//! filesystem, mount point, mount options, optional fields up to the `-`
//! separator, filesystem type, source, super-block options. The kernel
//! escapes a space, tab, newline and backslash in the path-like fields as
//! an octal `\ooo` (`\040` for a space); [`parse`] undoes that, so a mount
//! point with a space in it is the path it names.
//!
//! procfs's `MountInfo` (the `procfs` crate) keeps the escapes in
//! `mount_point` and `root`, so it cannot serve here.

#![warn(missing_docs)]

use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem that is the root of this mount
    /// (`/` for a whole filesystem, a sub-directory for a bind mount).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem type (`ext4`, `cgroup2`, `overlay`, …).
    pub fstype: String,
    /// The source (`/dev/vda`, `overlay`, …); empty where the line has none.
    pub source: String,
    /// The super-block options, comma-separated as the kernel wrote them
    /// (not unescaped); empty where the line has none.
    pub super_options: String,
}

/// The mounts of a mountinfo text, in its order (parents before the mounts
/// on top of them). A line that does not have the fields up to the
/// filesystem type is skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// One mountinfo line, if it has the fields up to the filesystem type.
pub fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let mut left = left.split(' ').skip(3);
    let root = left.next()?;
    let mount_point = left.next()?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let source = right.next().unwrap_or_default();
    let super_options = right.next().unwrap_or_default();
    Some(Mount {
        root: unescape(root),
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype: unescape(fstype),
        source: unescape(source),
        super_options: super_options.to_owned(),
    })
}

/// The mounts of `/proc/self/mountinfo` (the calling process's mount
/// namespace).
pub fn read_self() -> std::io::Result<Vec<Mount>> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|text| parse(&text))
}

/// Undoes the kernel's octal escapes: `\040` (space), `\011` (tab), `\012`
/// (newline), `\134` (backslash) — any `\` followed by three octal digits
/// that make a byte. Anything else, a lone or short `\` included, stays as
/// it is; bytes that are not UTF-8 are replaced (lossy).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(byte) = bytes.get(i + 1..i + 4).and_then(octal_byte)
        {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Three octal digits as a byte (`None` past `\377`).
fn octal_byte(digits: &[u8]) -> Option<u8> {
    digits.iter().try_fold(0u8, |acc, d| {
        let digit = (b'0'..=b'7').contains(d).then(|| d - b'0')?;
        acc.checked_mul(8)?.checked_add(digit)
    })
}

/// A cgroup hierarchy's mount (filesystem type `cgroup` or `cgroup2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The root of the mount within its hierarchy (`/`, or the cgroup a
    /// namespaced mount shows).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The v1 controllers it carries (`memory`, `cpu`, `name=systemd`, …:
    /// the super-block options that are not mount flags); empty for v2.
    pub controllers: Vec<String>,
    /// Whether it is the v2 (unified, `cgroup2`) hierarchy.
    pub unified: bool,
}

impl Mount {
    /// This mount as a cgroup hierarchy, if it is one.
    pub fn cgroup(&self) -> Option<CgroupMount> {
        let unified = match self.fstype.as_str() {
            "cgroup2" => true,
            "cgroup" => false,
            _ => return None,
        };
        let controllers = if unified {
            Vec::new()
        } else {
            self.super_options
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro" | "relatime" | "noatime")
                        && (!o.contains('=') || o.starts_with("name="))
                })
                .map(str::to_owned)
                .collect()
        };
        Some(CgroupMount {
            root: self.root.clone(),
            mount_point: self.mount_point.clone(),
            controllers,
            unified,
        })
    }
}

/// The cgroup hierarchies (v1 and v2) of a mountinfo text, in its order.
pub fn cgroups(text: &str) -> Vec<CgroupMount> {
    parse(text).iter().filter_map(Mount::cgroup).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const INFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid - proc proc rw
30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
31 22 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 22 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd,release_agent=/x
40 22 0:33 /data/a\\040dir /mnt/my\\040disk rw master:3 - ext4 /dev/vd\\134b rw
41 22 0:34 / /bare rw - tmpfs
no separator here
";

    #[test]
    fn parses_every_complete_line() {
        let mounts = parse(INFO);
        assert_eq!(mounts.len(), 7);
        assert_eq!(
            mounts[0],
            Mount {
                root: "/".into(),
                mount_point: "/".into(),
                fstype: "ext4".into(),
                source: "/dev/vda".into(),
                super_options: "rw".into(),
            }
        );
        // Optional fields before the separator, escapes in root, point
        // and source.
        assert_eq!(mounts[5].root, "/data/a dir");
        assert_eq!(mounts[5].mount_point, Path::new("/mnt/my disk"));
        assert_eq!(mounts[5].source, r"/dev/vd\b");
        // Source and super options may be missing.
        assert_eq!(mounts[6].fstype, "tmpfs");
        assert_eq!(
            (mounts[6].source.as_str(), mounts[6].super_options.as_str()),
            ("", "")
        );
        assert_eq!(parse_line("1 2 3:4 /"), None);
    }

    #[test]
    fn unescapes_only_octal_bytes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\011b\012c"), "/a\tb\nc");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape(r"/a\\b"), r"/a\\b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape(r"a\x"), r"a\x");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
        assert_eq!(unescape("/end\\"), "/end\\");
        assert_eq!(unescape(r"/a\089"), r"/a\089");
        // Past a byte: kept as written.
        assert_eq!(unescape(r"/a\777"), r"/a\777");
        assert_eq!(unescape(r"\377"), "\u{FFFD}");
    }

    #[test]
    fn recognises_cgroup_hierarchies() {
        let cgroups = cgroups(INFO);
        assert_eq!(cgroups.len(), 3);
        assert!(cgroups[0].unified);
        assert!(cgroups[0].controllers.is_empty());
        assert_eq!(cgroups[0].mount_point, Path::new("/sys/fs/cgroup"));
        assert!(!cgroups[1].unified);
        assert_eq!(cgroups[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(cgroups[2].controllers, ["name=systemd"]);
        assert_eq!(cgroups[2].root, "/");
    }
}
