//! The host's folders shared into the VM (virtiofs; see docs/vm.md,
//! "Host folders"): each `skiff.share=<tag>:<guest path>[:ro]` of the
//! kernel command line is mounted at its guest path before skiffd starts,
//! and skiffd is told which folders it has (`--vm --host-share PATH`), so
//! that a bind of a host path outside them is refused rather than created
//! empty in the VM.

use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use percent_encoding::percent_decode_str;

use crate::error::{Context, SysError};

/// The kernel module of the virtio file system (with `fuse`, its dependency).
pub const MODULE: &str = "virtiofs";

/// One shared folder, as the host announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The virtiofs tag of the device (`skiff0`, …).
    pub tag: String,
    /// Where it is mounted in the guest (the host's own path by default).
    pub path: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Parses one `skiff.share` value: `<tag>:<percent-encoded absolute
/// path>[:ro]`. `None` for anything else.
pub fn parse(value: &str) -> Option<Share> {
    let mut parts = value.split(':');
    let tag = parts.next().filter(|t| !t.is_empty())?;
    let path = percent_decode_str(parts.next()?).decode_utf8().ok()?;
    let read_only = match parts.next() {
        None => false,
        Some("ro") => true,
        Some(_) => return None,
    };
    if parts.next().is_some() || !path.starts_with('/') || path.split('/').any(|c| c == "..") {
        return None;
    }
    Some(Share {
        tag: tag.to_owned(),
        path: PathBuf::from(path.as_ref()),
        read_only,
    })
}

/// Mounts `share` (the virtiofs module loaded): creates its mount point
/// (parents included) and mounts the tag there.
pub fn mount_share(share: &Share) -> Result<(), SysError> {
    std::fs::create_dir_all(&share.path).at("mkdir", &share.path)?;
    let mut flags = MsFlags::MS_NODEV;
    if share.read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(
        Some(share.tag.as_str()),
        &share.path,
        Some("virtiofs"),
        flags,
        None::<&str>,
    )
    .at("mount virtiofs", &share.path)
}

/// Mounts every share, loading the module first; returns the ones mounted
/// (failures are logged on the console and left out, so that skiffd does
/// not believe a folder is shared when it is not).
pub fn mount_all(modules_dir: &Path, shares: &[Share]) -> Vec<Share> {
    if shares.is_empty() {
        return Vec::new();
    }
    match crate::kmod::plan(modules_dir, &[MODULE.to_owned()]) {
        Ok(plan) => {
            for e in crate::kmod::load_all(modules_dir, &plan).failed {
                crate::say!("{e}");
            }
        }
        Err(e) => crate::say!("modules for shared folders: {e}"),
    }
    let mut mounted = Vec::new();
    for share in shares {
        match mount_share(share) {
            Ok(()) => {
                crate::say!(
                    "shared folder {} at {}{}",
                    share.tag,
                    share.path.display(),
                    if share.read_only { " (read-only)" } else { "" }
                );
                mounted.push(share.clone());
            }
            Err(e) => crate::say!("shared folder {}: {e}", share.tag),
        }
    }
    mounted
}

/// WSL2: the Windows drives WSL mounts itself (`/mnt/c`, … — `drvfs`, a
/// 9p file system, or virtiofs), the host folders skiffd may bind from in
/// a WSL distribution (`-v /mnt/c/Users/me/src:/src`), from `mounts`
/// (`/proc/self/mountinfo`).
pub fn wsl_drives(mounts: &[skiff_mountinfo::Mount]) -> Vec<PathBuf> {
    let mut drives: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| matches!(m.fstype.as_str(), "9p" | "drvfs" | "virtiofs"))
        .filter(|m| {
            let p = m.mount_point.to_string_lossy();
            p.strip_prefix("/mnt/")
                .is_some_and(|d| d.len() == 1 && d.bytes().all(|b| b.is_ascii_lowercase()))
        })
        .map(|m| m.mount_point.clone())
        .collect();
    drives.sort();
    drives.dedup();
    drives
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsl_drives_are_the_drvfs_mounts_of_mnt() {
        let text = "\
36 25 0:30 / /mnt/c rw,noatime - 9p C:\\134 rw,aname=drvfs;path=C:\\\n\
37 25 0:31 / /mnt/d rw,noatime - 9p D:\\134 rw,aname=drvfs;path=D:\\\n\
38 25 0:32 / /mnt/wsl rw - tmpfs none rw\n\
39 25 0:33 / /mnt/wslg rw - tmpfs none rw\n\
40 25 8:32 / / rw - ext4 /dev/sdc rw\n";
        let mounts = skiff_mountinfo::parse(text);
        assert_eq!(
            wsl_drives(&mounts),
            vec![PathBuf::from("/mnt/c"), PathBuf::from("/mnt/d")]
        );
    }

    #[test]
    fn share_values() {
        assert_eq!(
            parse("skiff0:/home/me"),
            Some(Share {
                tag: "skiff0".into(),
                path: "/home/me".into(),
                read_only: false
            })
        );
        let s = parse("skiff1:/Users/me/My%20Files%3Ax%25:ro").expect("encoded");
        assert_eq!(s.path, PathBuf::from("/Users/me/My Files:x%"));
        assert!(s.read_only);
        for bad in [
            "",
            "skiff0",
            ":/x",
            "skiff0:relative",
            "skiff0:/x:rw",
            "skiff0:/x:ro:more",
            "skiff0:/a/../etc",
            "skiff0:/%ff",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
