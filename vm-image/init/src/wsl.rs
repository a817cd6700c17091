//! `skiff-init --wsl`: the guest side inside a WSL2 distribution (the
//! `rootfs.tar` of `vm-image/build.sh --wsl-rootfs`, imported with
//! `wsl --import`). The host runs `wsl.exe -d <distro> -u root --exec
//! /usr/bin/skiff-init --wsl` and speaks the relay on its stdin/stdout.
//!
//! WSL's own init is PID 1 and owns the kernel, its modules, the network
//! and the clock, and the distribution's root is already a persistent ext4
//! disk, so this mode skips all of that. It only mounts what skiffd needs
//! and WSL may lack ([`plan`]: above all cgroup2 at `/sys/fs/cgroup`, where
//! WSL mounts the cgroup v1 hierarchies), becomes the child subreaper (the
//! shims are double-forked), and then supervises skiffd like the VM's init.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use skiff_mountinfo::Mount;

use crate::error::{Context, SysError};
use crate::mounts::{describe_options, first_accepted, unmount_order};

/// Where WSL mode writes its console lines and skiffd's output (stdout is
/// the relay, and the host discards stderr).
pub const LOG_FILE: &str = "/var/log/skiff/console.log";
/// One `skiff-init --wsl` per distribution: the holder of this lock.
pub const LOCK_FILE: &str = "/var/lib/skiff-init.lock";
/// The cgroup2 mount point skiffd expects.
pub const CGROUP: &str = "/sys/fs/cgroup";

/// One filesystem to mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountSpec {
    /// Filesystem type (also the source).
    pub fstype: &'static str,
    /// Mount point.
    pub target: &'static str,
    /// Mount flags.
    pub flags: MsFlags,
    /// Filesystem option sets, best first: the next is tried when the
    /// kernel rejects one (EINVAL).
    pub options: &'static [Option<&'static str>],
}

/// cgroup2's options in WSL mode, best first: `favordynmods` (Linux 6.0+;
/// cheaper task migrations, i.e. container starts), then the options of
/// WSL kernels before 6.0, then none.
pub const CGROUP2_OPTIONS: [Option<&str>; 3] =
    [Some("nsdelegate,favordynmods"), Some("nsdelegate"), None];

/// Lines [`apply`] logs: stderr is still the host's (which discards it)
/// while it runs, so [`redirect_stdio`] writes them to the log file.
static PENDING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What WSL mode changes in the distribution's mounts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WslPlan {
    /// Mounts to detach first, deepest first (WSL's cgroup v1 layout).
    pub detach: Vec<PathBuf>,
    /// Mounts to make, parents first.
    pub mounts: Vec<MountSpec>,
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// What skiffd needs mounted, in mount order, with the filesystem types
/// that already satisfy each mount point.
const NEEDED: [(MountSpec, &[&str]); 7] = [
    (
        MountSpec {
            fstype: "proc",
            target: "/proc",
            flags: NOSUID_NODEV_NOEXEC,
            options: &[None],
        },
        &["proc"],
    ),
    (
        MountSpec {
            fstype: "sysfs",
            target: "/sys",
            flags: NOSUID_NODEV_NOEXEC,
            options: &[None],
        },
        &["sysfs"],
    ),
    (
        MountSpec {
            fstype: "devtmpfs",
            target: "/dev",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
            options: &[Some("mode=0755"), None],
        },
        &["devtmpfs", "tmpfs"],
    ),
    (
        MountSpec {
            fstype: "devpts",
            target: "/dev/pts",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
            options: &[Some("gid=5,mode=0620,ptmxmode=0666"), None],
        },
        &["devpts"],
    ),
    (
        MountSpec {
            fstype: "tmpfs",
            target: "/dev/shm",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
            options: &[Some("mode=1777"), None],
        },
        &["tmpfs"],
    ),
    (
        MountSpec {
            fstype: "tmpfs",
            target: "/run",
            flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
            options: &[Some("mode=0755"), None],
        },
        &["tmpfs"],
    ),
    (
        MountSpec {
            fstype: "cgroup2",
            target: CGROUP,
            flags: NOSUID_NODEV_NOEXEC,
            options: &CGROUP2_OPTIONS,
        },
        &["cgroup2"],
    ),
];

/// The filesystem type visible at `point`: the last (topmost) mount there.
fn top_fstype<'a>(entries: &'a [Mount], point: &Path) -> Option<&'a str> {
    entries
        .iter()
        .rev()
        .find(|e| e.mount_point == point)
        .map(|e| e.fstype.as_str())
}

/// The mount changes WSL mode makes, from the distribution's mountinfo:
/// each missing API filesystem is mounted; a `/sys/fs/cgroup` that is not
/// cgroup2 (WSL's tmpfs of cgroup v1 hierarchies, cgroup2 under
/// `unified/`) is taken apart and replaced by cgroup2.
pub fn plan(entries: &[Mount]) -> WslPlan {
    let mut plan = WslPlan::default();
    for (spec, accepted) in NEEDED {
        let target = Path::new(spec.target);
        match top_fstype(entries, target) {
            Some(fstype) if accepted.contains(&fstype) => {}
            Some(_) if spec.target == CGROUP => {
                plan.detach = unmount_order(entries, target);
                plan.mounts.push(spec);
            }
            // Something else mounted on /dev, /run, …: mount on top of it.
            _ => plan.mounts.push(spec),
        }
    }
    plan
}

/// Carries out `plan`.
pub fn apply(plan: &WslPlan) -> Result<(), SysError> {
    for point in &plan.detach {
        // A point already gone with its parent is fine.
        match umount2(point, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(SysError::path("umount", point, e)),
        }
    }
    for spec in &plan.mounts {
        let target = Path::new(spec.target);
        std::fs::create_dir_all(target).at("mkdir", target)?;
        let used = first_accepted(spec.options, |data| {
            mount(
                Some(spec.fstype),
                target,
                Some(spec.fstype),
                spec.flags,
                data,
            )
        })
        .at("mount", target)?;
        if spec.fstype == "cgroup2" {
            let line = format!("cgroup2 mounted with {}", describe_options(used));
            PENDING
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(line);
        }
    }
    Ok(())
}

/// Becomes the child subreaper: orphans below this process (the
/// double-forked shims) are re-parented here instead of to WSL's init.
pub fn become_subreaper() -> Result<(), SysError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc < 0 {
        return Err(SysError::op(
            "prctl(PR_SET_CHILD_SUBREAPER)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn dup_cloexec(fd: i32, what: &'static str) -> Result<File, SysError> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number; no pointers.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(SysError::op(what, std::io::Error::last_os_error()));
    }
    // SAFETY: `new` is a fresh descriptor nobody else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

fn dup_onto(file: &File, fd: i32, what: &'static str) -> Result<(), SysError> {
    // SAFETY: dup2 between two open descriptor numbers; no pointers.
    if unsafe { libc::dup2(file.as_raw_fd(), fd) } < 0 {
        return Err(SysError::op(what, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Takes stdin and stdout for the relay: returned as (read, write) files
/// that no child inherits. Call [`redirect_stdio`] next.
pub fn take_relay_fds() -> Result<(File, File), SysError> {
    Ok((dup_cloexec(0, "dup stdin")?, dup_cloexec(1, "dup stdout")?))
}

/// Points descriptors 0, 1 and 2 at `/dev/null`, `log`, `log`: nothing
/// (init's lines, skiffd, the shims) may write into the relay. Needs
/// `/dev` mounted.
pub fn redirect_stdio(log: &Path) -> Result<(), SysError> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).at("mkdir", dir)?;
    }
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .at("open", log)?;
    let null = Path::new("/dev/null");
    let null_file = File::open(null).at("open", null)?;
    dup_onto(&null_file, 0, "dup2 stdin")?;
    dup_onto(&log_file, 1, "dup2 stdout")?;
    dup_onto(&log_file, 2, "dup2 stderr")?;
    let pending = std::mem::take(
        &mut *PENDING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for line in pending {
        crate::say!("{line}");
    }
    Ok(())
}

/// The holder's PID in a lock file's text.
pub fn holder(text: &str) -> Option<i32> {
    text.trim().parse().ok().filter(|p: &i32| *p > 1)
}

/// Takes the instance lock at `path` (an exclusive `flock`, held as long
/// as the returned file is open). A running instance is asked to stop
/// (SIGTERM: it stops skiffd and exits) and waited for: the newest host
/// session wins.
pub fn lock(path: &Path) -> Result<File, SysError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .at("open", path)?;
    // SAFETY: flock on a descriptor `file` owns; no pointers.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        if let Some(pid) = holder(&text) {
            crate::say!("stopping the running instance (pid {pid})");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        // SAFETY: as above; blocks until the holder is gone.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } < 0 {
            return Err(SysError::path(
                "flock",
                path,
                std::io::Error::last_os_error(),
            ));
        }
    }
    file.set_len(0).at("truncate", path)?;
    file.rewind().at("rewind", path)?;
    write!(file, "{}", std::process::id()).at("write", path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_mountinfo::parse as parse_mountinfo;

    /// A WSL2 distribution without systemd: cgroup v1 hierarchies on a
    /// tmpfs at /sys/fs/cgroup, cgroup2 under unified/, no /dev/shm.
    const WSL_HYBRID: &str = "\
60 65 0:48 / /proc rw,nosuid,nodev,noexec,noatime - proc proc rw
61 65 0:49 / /sys rw,nosuid,nodev,noexec,noatime - sysfs sysfs rw
62 65 0:5 / /dev rw,nosuid,relatime - devtmpfs none rw,size=8110000k,mode=755
63 62 0:50 / /dev/pts rw,nosuid,noexec,noatime - devpts devpts rw,gid=5,mode=620,ptmxmode=000
65 1 8:48 / / rw,relatime - ext4 /dev/sdd rw,discard,errors=remount-ro,data=ordered
66 65 0:52 / /run rw,nosuid,nodev,noexec,noatime - tmpfs none rw,mode=755
67 66 0:53 / /run/lock rw,nosuid,nodev,noexec,noatime - tmpfs none rw
68 61 0:54 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
69 68 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
70 68 0:28 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
71 68 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
72 65 0:55 / /mnt/c rw,noatime - 9p C:\\134 rw,aname=drvfs
";

    /// WSL with `cgroup_no_v1=all` (or systemd): cgroup2 in place.
    const WSL_UNIFIED: &str = "\
60 65 0:48 / /proc rw - proc proc rw
61 65 0:49 / /sys rw - sysfs sysfs rw
62 65 0:5 / /dev rw - devtmpfs none rw
63 62 0:50 / /dev/pts rw - devpts devpts rw
64 62 0:51 / /dev/shm rw - tmpfs tmpfs rw
65 1 8:48 / / rw - ext4 /dev/sdd rw
66 65 0:52 / /run rw - tmpfs none rw
68 61 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
";

    fn targets(plan: &WslPlan) -> Vec<&'static str> {
        plan.mounts.iter().map(|m| m.target).collect()
    }

    #[test]
    fn hybrid_cgroups_are_replaced_by_cgroup2_and_shm_is_added() {
        let plan = plan(&parse_mountinfo(WSL_HYBRID));
        assert_eq!(targets(&plan), vec!["/dev/shm", "/sys/fs/cgroup"]);
        assert_eq!(plan.mounts[1].fstype, "cgroup2");
        assert_eq!(
            plan.detach,
            vec![
                PathBuf::from("/sys/fs/cgroup/memory"),
                PathBuf::from("/sys/fs/cgroup/cpu"),
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/sys/fs/cgroup"),
            ],
            "children first, nothing outside /sys/fs/cgroup"
        );
    }

    #[test]
    fn a_complete_distribution_needs_nothing() {
        assert_eq!(plan(&parse_mountinfo(WSL_UNIFIED)), WslPlan::default());
    }

    #[test]
    fn an_empty_root_gets_everything_in_order() {
        let plan = plan(&[]);
        assert!(plan.detach.is_empty());
        assert_eq!(
            targets(&plan),
            vec![
                "/proc",
                "/sys",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/run",
                "/sys/fs/cgroup"
            ]
        );
    }

    #[test]
    fn the_topmost_mount_counts() {
        // An earlier run mounted cgroup2 over WSL's tmpfs, and /dev/shm.
        let text = format!(
            "{WSL_HYBRID}90 62 0:60 / /dev/shm rw - tmpfs tmpfs rw\n\
             91 68 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
        );
        assert_eq!(plan(&parse_mountinfo(&text)), WslPlan::default());
    }

    #[test]
    fn cgroup2_is_mounted_favoring_dynmods_with_fallbacks() {
        let plan = plan(&[]);
        let cgroup = plan.mounts.last().expect("cgroup2 is planned");
        assert_eq!(cgroup.fstype, "cgroup2");
        assert_eq!(
            cgroup.options,
            [Some("nsdelegate,favordynmods"), Some("nsdelegate"), None]
        );
        // A WSL kernel before 6.0 refuses favordynmods: nsdelegate alone.
        let used = first_accepted(cgroup.options, |data| {
            if data.is_some_and(|d| d.contains("favordynmods")) {
                Err(nix::Error::EINVAL)
            } else {
                Ok(())
            }
        });
        assert_eq!(used, Ok(Some("nsdelegate")));
        for spec in &plan.mounts {
            assert_eq!(
                spec.options.last(),
                Some(&None),
                "{spec:?} falls back to no options"
            );
        }
    }

    #[test]
    fn lock_file_holders() {
        assert_eq!(holder("1234\n"), Some(1234));
        assert_eq!(holder(""), None);
        assert_eq!(holder("1"), None, "never signal PID 1");
        assert_eq!(holder("x"), None);
    }

    #[test]
    fn the_lock_records_this_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("init.lock");
        let file = lock(&path).expect("lock");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            std::process::id().to_string()
        );
        let other = File::open(&path).expect("open");
        // SAFETY: flock on a descriptor opened here; no pointers.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert!(rc < 0, "the lock is held");
        drop(file);
        // SAFETY: as above.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0, "released with the file");
    }
}
