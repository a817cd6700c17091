//! The guest's filesystems: the API mounts (proc, sys, dev, cgroup2, run,
//! tmp), cgroup controllers, and unmounting at shutdown.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;

use skiff_mountinfo::Mount;

use crate::error::{Context, SysError};

/// The mount points at or below `prefix`, deepest (most recently mounted)
/// first: the order to unmount them in.
pub fn unmount_order(entries: &[Mount], prefix: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = entries
        .iter()
        .filter(|e| e.mount_point.starts_with(prefix))
        .map(|e| e.mount_point.clone())
        .collect();
    points.reverse();
    points
}

/// The controllers to enable for the children of a cgroup: every controller
/// the cgroup has, as a `cgroup.subtree_control` write (`+cpu +memory …`).
pub fn subtree_control_line(controllers: &str) -> String {
    controllers
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// cgroup2's mount options at `/sys/fs/cgroup`, best first; the next set
/// is tried when the kernel rejects one (EINVAL). `favordynmods` (Linux
/// 6.0+) makes moving a task into a cgroup (every container start) skip an
/// RCU grace period, at the cost of slower forks and exits.
pub const CGROUP2_OPTIONS: [Option<&str>; 3] = [
    Some("nsdelegate,memory_recursiveprot,favordynmods"),
    Some("nsdelegate,memory_recursiveprot"),
    None,
];

/// Calls `attempt` with each option set in turn until one succeeds, and
/// returns that set. Only EINVAL (options the kernel does not know) moves
/// on to the next set; any other error, or EINVAL on the last set, is
/// returned.
pub fn first_accepted<'a>(
    options: &[Option<&'a str>],
    mut attempt: impl FnMut(Option<&'a str>) -> nix::Result<()>,
) -> nix::Result<Option<&'a str>> {
    let mut last = nix::Error::EINVAL;
    for &data in options {
        match attempt(data) {
            Ok(()) => return Ok(data),
            Err(nix::Error::EINVAL) => last = nix::Error::EINVAL,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// An option set as logged: the options, or `no options`.
pub fn describe_options(data: Option<&str>) -> &str {
    data.unwrap_or("no options")
}

/// Moves init (and so everything it starts later) into a new cgroup
/// namespace rooted at the root cgroup: the same view of the hierarchy,
/// but cgroup2's root options (favordynmods, nsdelegate, …) now only
/// change on a mount from the initial namespace. Without this, every
/// container (no cgroup namespace of its own) mounting cgroup2 at its
/// `/sys/fs/cgroup` would reset them to the defaults.
fn keep_cgroup2_options() -> Result<(), SysError> {
    // SAFETY: unshare with a flag constant; no pointers.
    if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } < 0 {
        return Err(SysError::op(
            "unshare(CLONE_NEWCGROUP)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn mount_fs(
    fstype: &str,
    target: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SysError> {
    let target = Path::new(target);
    std::fs::create_dir_all(target).at("mkdir", target)?;
    mount(Some(fstype), target, Some(fstype), flags, data).at("mount", target)
}

/// Mounts the API filesystems. Must run once, in the final root.
pub fn mount_api() -> Result<(), SysError> {
    let common = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs("proc", "/proc", common, None)?;
    mount_fs("sysfs", "/sys", common, None)?;
    mount_fs(
        "devtmpfs",
        "/dev",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755"),
    )?;
    mount_fs(
        "devpts",
        "/dev/pts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("gid=5,mode=0620,ptmxmode=0666"),
    )?;
    mount_fs(
        "tmpfs",
        "/dev/shm",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    let cgroup = Path::new("/sys/fs/cgroup");
    std::fs::create_dir_all(cgroup).at("mkdir", cgroup)?;
    let used = first_accepted(&CGROUP2_OPTIONS, |data| {
        mount(Some("cgroup2"), cgroup, Some("cgroup2"), common, data)
    })
    .at("mount", cgroup)?;
    crate::say!("cgroup2 mounted with {}", describe_options(used));
    if let Err(e) = keep_cgroup2_options() {
        crate::say!("{e}: a container's cgroup2 mount will reset the options");
    }
    mount_fs(
        "tmpfs",
        "/run",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )?;
    mount_fs(
        "tmpfs",
        "/tmp",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        match std::os::unix::fs::symlink(target, link) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(SysError::path("symlink", Path::new(link), e));
            }
            _ => {}
        }
    }
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    Ok(())
}

/// Enables every available controller for the root cgroup's children
/// (cpu, memory, io, pids, …), one at a time if the kernel refuses the lot.
pub fn enable_cgroup_controllers() -> Result<String, SysError> {
    let root = Path::new("/sys/fs/cgroup");
    let controllers_path = root.join("cgroup.controllers");
    let controllers = std::fs::read_to_string(&controllers_path).at("read", &controllers_path)?;
    let control = root.join("cgroup.subtree_control");
    let line = subtree_control_line(&controllers);
    if std::fs::write(&control, &line).is_err() {
        for one in line.split(' ') {
            std::fs::write(&control, one).at("write", &control)?;
        }
    }
    Ok(controllers.trim().to_string())
}

/// Unmounts everything at or below `prefix` (deepest first); a busy mount
/// is detached lazily. Returns how many mounts were removed.
pub fn unmount_below(prefix: &Path) -> Result<usize, SysError> {
    let info_path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info_path).at("read", info_path)?;
    let order = unmount_order(&skiff_mountinfo::parse(&text), prefix);
    let mut count = 0;
    for point in order {
        if umount2(&point, MntFlags::empty()).is_ok()
            || umount2(&point, MntFlags::MNT_DETACH).is_ok()
        {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
1 1 0:2 / / rw - rootfs rootfs rw,size=4012k
22 1 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw
30 1 254:0 / /var/lib/skiff rw,noatime - ext4 /dev/vda rw
41 30 0:45 / /var/lib/skiff/containers/ab/rootfs rw - overlay overlay rw,lowerdir=/x
42 30 0:46 / /var/lib/skiff/with\\040space rw - tmpfs my\\134src rw
43 1 0:47 / /var/lib/skiffy rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_mountinfo() {
        let entries = skiff_mountinfo::parse(INFO);
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[0].fstype, "rootfs");
        assert_eq!(entries[0].mount_point, PathBuf::from("/"));
        assert_eq!(entries[1].fstype, "proc");
        assert_eq!(entries[2].source, "/dev/vda");
        assert_eq!(
            entries[4].mount_point,
            PathBuf::from("/var/lib/skiff/with space")
        );
        assert_eq!(entries[4].source, "my\\src");
    }

    #[test]
    fn unmounts_children_first_and_only_below() {
        let order = unmount_order(&skiff_mountinfo::parse(INFO), Path::new("/var/lib/skiff"));
        assert_eq!(
            order,
            vec![
                PathBuf::from("/var/lib/skiff/with space"),
                PathBuf::from("/var/lib/skiff/containers/ab/rootfs"),
                PathBuf::from("/var/lib/skiff"),
            ]
        );
    }

    #[test]
    fn controllers_line() {
        assert_eq!(
            subtree_control_line("cpuset cpu io memory hugetlb pids rdma misc\n"),
            "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"
        );
        assert_eq!(subtree_control_line(""), "");
    }

    #[test]
    fn cgroup2_options_favor_dynmods_then_fall_back() {
        assert_eq!(
            CGROUP2_OPTIONS,
            [
                Some("nsdelegate,memory_recursiveprot,favordynmods"),
                Some("nsdelegate,memory_recursiveprot"),
                None,
            ]
        );
        let mut tried = Vec::new();
        let used = first_accepted(&CGROUP2_OPTIONS, |data| {
            tried.push(data);
            Ok(())
        });
        assert_eq!(used, Ok(CGROUP2_OPTIONS[0]));
        assert_eq!(tried.len(), 1, "the first accepted set wins");
    }

    #[test]
    fn a_kernel_without_favordynmods_gets_the_previous_options() {
        let used = first_accepted(&CGROUP2_OPTIONS, |data| {
            if data.is_some_and(|d| d.contains("favordynmods")) {
                Err(nix::Error::EINVAL)
            } else {
                Ok(())
            }
        });
        assert_eq!(used, Ok(Some("nsdelegate,memory_recursiveprot")));
        assert_eq!(
            describe_options(used.ok().flatten()),
            "nsdelegate,memory_recursiveprot"
        );
    }

    #[test]
    fn only_einval_falls_back() {
        let mut tried = Vec::new();
        let used = first_accepted(&CGROUP2_OPTIONS, |data| {
            tried.push(data);
            Err(if data.is_some() {
                nix::Error::EINVAL
            } else {
                nix::Error::EBUSY
            })
        });
        assert_eq!(used, Err(nix::Error::EBUSY));
        assert_eq!(tried, CGROUP2_OPTIONS.to_vec(), "every set, in order");
        let mut count = 0;
        let used = first_accepted(&CGROUP2_OPTIONS, |_| {
            count += 1;
            Err(nix::Error::EPERM)
        });
        assert_eq!(used, Err(nix::Error::EPERM));
        assert_eq!(count, 1, "EPERM is not an unknown option");
        assert_eq!(
            first_accepted(&CGROUP2_OPTIONS, |_| Err(nix::Error::EINVAL)),
            Err(nix::Error::EINVAL)
        );
        assert_eq!(describe_options(None), "no options");
    }
}
