//! Leaving the initramfs: the kernel unpacks it into `rootfs`, the initial
//! mount, which has no parent mount — and `pivot_root(2)` refuses a root
//! without one, so every container start would fail on it.
//!
//! The cheap way out ([`bind_switch`]): bind-mount rootfs onto a directory
//! of itself and move that bind mount onto `/`. The files are the same (no
//! copy), but the root is now a mount with a parent, which is all
//! `pivot_root` asks for. If that fails, [`switch_to_tmpfs`] does what
//! `switch_root` does: moves every file into a fresh tmpfs (freeing each
//! original as it goes), makes the tmpfs `/` and re-executes `/init`.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{Gid, Uid};

use crate::error::{Context, SysError};

/// Where the new root is assembled before it is moved onto `/`.
const NEW_ROOT: &str = "/.skiff-root";
/// Set in the environment of the re-executed init, to the uptime (ms) at
/// which the first one started.
pub const SWITCHED_ENV: &str = "SKIFF_INIT_SWITCHED";

/// Whether `/` is the kernel's initial `rootfs` (needs proc mounted at `/proc`).
pub fn on_rootfs(mountinfo: &str) -> bool {
    skiff_mountinfo::parse(mountinfo)
        .iter()
        .rev()
        .find(|e| e.mount_point == Path::new("/"))
        .is_some_and(|e| e.fstype == "rootfs")
}

/// Probes whether `/` is rootfs (mounting and unmounting a temporary proc).
pub fn running_on_rootfs() -> Result<bool, SysError> {
    let proc_dir = Path::new("/proc");
    std::fs::create_dir_all(proc_dir).at("mkdir", proc_dir)?;
    mount(
        Some("proc"),
        proc_dir,
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    )
    .at("mount", proc_dir)?;
    let info = std::fs::read_to_string("/proc/self/mountinfo");
    nix::mount::umount(proc_dir).at("umount", proc_dir)?;
    let info_path = Path::new("/proc/self/mountinfo");
    Ok(on_rootfs(&info.at("read", info_path)?))
}

/// Makes a bind mount of rootfs the root of this process (and of every
/// process it starts).
pub fn bind_switch() -> Result<(), SysError> {
    let new_root = Path::new(NEW_ROOT);
    std::fs::create_dir_all(new_root).at("mkdir", new_root)?;
    mount(
        Some("/"),
        new_root,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .at("bind mount /", new_root)?;
    std::env::set_current_dir(new_root).at("chdir", new_root)?;
    mount(
        Some("."),
        Path::new("/"),
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .at("move mount", new_root)?;
    nix::unistd::chroot(".").at("chroot", new_root)?;
    std::env::set_current_dir("/").at("chdir", Path::new("/"))?;
    // The mount point left behind on rootfs is this same (empty) directory.
    let _ = std::fs::remove_dir(new_root);
    Ok(())
}

/// Moves the root's content into a tmpfs, makes it `/` and re-executes
/// `/init` (telling it `started_ms`, when the first init started). Returns
/// only on failure.
pub fn switch_to_tmpfs(started_ms: u64) -> Result<std::convert::Infallible, SysError> {
    let new_root = Path::new(NEW_ROOT);
    std::fs::create_dir_all(new_root).at("mkdir", new_root)?;
    mount(
        Some("tmpfs"),
        new_root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .at("mount", new_root)?;
    let root_dev = std::fs::symlink_metadata("/")
        .at("stat", Path::new("/"))?
        .dev();
    let entries = std::fs::read_dir("/").at("readdir", Path::new("/"))?;
    for entry in entries {
        let entry = entry.at("readdir", Path::new("/"))?;
        let name = entry.file_name();
        if name.as_bytes() == &NEW_ROOT.as_bytes()[1..] {
            continue;
        }
        move_tree(&Path::new("/").join(&name), &new_root.join(&name), root_dev)?;
    }
    std::env::set_current_dir(new_root).at("chdir", new_root)?;
    mount(
        Some(new_root),
        Path::new("/"),
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .at("move mount", new_root)?;
    nix::unistd::chroot(".").at("chroot", new_root)?;
    std::env::set_current_dir("/").at("chdir", Path::new("/"))?;
    let init =
        CString::new("/init").map_err(|e| SysError::op("exec /init", std::io::Error::other(e)))?;
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(
        CString::new(format!("{SWITCHED_ENV}={started_ms}"))
            .map_err(|e| SysError::op("exec /init", std::io::Error::other(e)))?,
    );
    let args = if args.is_empty() {
        vec![init.clone()]
    } else {
        args
    };
    nix::unistd::execve(&init, &args, &env).at("exec", Path::new("/init"))
}

/// Recreates `src` at `dst` and removes `src` (files are freed one by one,
/// so the peak memory is the image plus one file). Other filesystems
/// mounted below `src` are left alone.
fn move_tree(src: &Path, dst: &Path, root_dev: u64) -> Result<(), SysError> {
    let meta = std::fs::symlink_metadata(src).at("stat", src)?;
    if meta.dev() != root_dev {
        return Ok(());
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        std::fs::create_dir(dst).at("mkdir", dst)?;
        for entry in std::fs::read_dir(src).at("readdir", src)? {
            let entry = entry.at("readdir", src)?;
            let name: &OsStr = &entry.file_name();
            move_tree(&src.join(name), &dst.join(name), root_dev)?;
        }
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .at("chmod", dst)?;
        // A directory still holding a mount point cannot go; that is fine.
        let _ = std::fs::remove_dir(src);
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src).at("readlink", src)?;
        std::os::unix::fs::symlink(&target, dst).at("symlink", dst)?;
        std::fs::remove_file(src).at("unlink", src)?;
    } else if ft.is_file() {
        std::fs::copy(src, dst).at("copy", src)?;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .at("chmod", dst)?;
        std::fs::remove_file(src).at("unlink", src)?;
    } else {
        let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
        let rdev = meta.rdev();
        mknod(
            dst,
            kind,
            Mode::from_bits_truncate(meta.mode() & 0o7777),
            makedev(libc::major(rdev).into(), libc::minor(rdev).into()),
        )
        .at("mknod", dst)?;
        std::fs::remove_file(src).at("unlink", src)?;
    }
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        dst,
        Some(Uid::from_raw(meta.uid())),
        Some(Gid::from_raw(meta.gid())),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .at("chown", dst)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_rootfs() {
        assert!(on_rootfs(
            "1 1 0:2 / / rw - rootfs rootfs rw\n2 1 0:3 / /proc rw - proc proc rw\n"
        ));
        assert!(!on_rootfs(
            "1 1 0:2 / / rw - rootfs rootfs rw\n5 1 0:9 / / rw - tmpfs tmpfs rw\n"
        ));
        assert!(!on_rootfs(
            "20 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n"
        ));
    }

    #[test]
    fn moves_a_tree_with_links_and_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("usr/bin")).expect("mkdir");
        std::fs::write(src.join("usr/bin/tool"), b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(
            src.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o750),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("usr/bin", src.join("bin")).expect("symlink");
        let dev = std::fs::symlink_metadata(&src).expect("stat").dev();
        let dst = dir.path().join("dst");
        move_tree(&src, &dst, dev).expect("move");
        assert!(!src.exists());
        assert_eq!(
            std::fs::read(dst.join("bin/tool")).expect("read"),
            b"#!/bin/sh\n"
        );
        let mode = std::fs::metadata(dst.join("usr/bin/tool"))
            .expect("stat")
            .mode();
        assert_eq!(mode & 0o7777, 0o750);
        assert_eq!(
            std::fs::read_link(dst.join("bin")).expect("readlink"),
            Path::new("usr/bin")
        );
    }
}
