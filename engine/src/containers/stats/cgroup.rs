//! Finding a container's cgroups: from `/proc/<pid>/cgroup` of its init
//! process and skiffd's `/proc/self/mountinfo`, so every layout works —
//! cgroup v1 controllers (with or without a v2 `unified` mount beside them,
//! as on hybrid hosts) and the pure v2 hierarchy.
//!
//! A v1 controller is used when it is mounted; otherwise the v2 directory.
//! Only directories whose path names the container (its id) are accepted:
//! a process still in its parent's cgroup must never make `top` or `stats`
//! report the host's processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skiff_mountinfo::CgroupMount;

/// The cgroup directories of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cgroups {
    /// v1 controller name (`memory`, `cpuacct`, `name=systemd`, …) → directory.
    v1: BTreeMap<String, PathBuf>,
    /// The v2 (unified) directory.
    v2: Option<PathBuf>,
}

/// The mount point + (`path` relative to the mount's `root`), if `path` is under it.
fn under(m: &CgroupMount, path: &str) -> Option<PathBuf> {
    let rest = if m.root == "/" {
        path
    } else {
        let rest = path.strip_prefix(m.root.as_str())?;
        if !rest.is_empty() && !rest.starts_with('/') {
            return None;
        }
        rest
    };
    let rest = rest.trim_start_matches('/');
    Some(if rest.is_empty() {
        m.mount_point.clone()
    } else {
        m.mount_point.join(rest)
    })
}

impl Cgroups {
    /// The cgroups of process `pid`, accepted only where their path
    /// contains `id`.
    pub fn of_pid(pid: i64, id: &str) -> std::io::Result<Self> {
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        Ok(Self::parse(&own, &mountinfo, id))
    }

    /// Pure part of [`Cgroups::of_pid`]: `/proc/<pid>/cgroup` and
    /// mountinfo texts.
    pub fn parse(proc_cgroup: &str, mountinfo: &str, id: &str) -> Self {
        let mounts = skiff_mountinfo::cgroups(mountinfo);
        let mut out = Cgroups::default();
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !path.contains(id) {
                continue;
            }
            if ctrls.is_empty() {
                if let Some(dir) = mounts
                    .iter()
                    .filter(|m| m.unified)
                    .find_map(|m| under(m, path))
                {
                    out.v2 = Some(dir);
                }
                continue;
            }
            let wanted: Vec<&str> = ctrls.split(',').collect();
            let dir = mounts
                .iter()
                .filter(|m| {
                    !m.unified && wanted.iter().all(|c| m.controllers.iter().any(|x| x == c))
                })
                .find_map(|m| under(m, path));
            if let Some(dir) = dir {
                for c in wanted {
                    out.v1.insert(c.to_owned(), dir.clone());
                }
            }
        }
        out
    }

    /// Whether any directory was found.
    pub fn is_empty(&self) -> bool {
        self.v1.is_empty() && self.v2.is_none()
    }

    /// The v1 directory of `controller`, if that controller is mounted as v1.
    pub fn v1(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    /// The v2 directory, used for controllers that are not v1 ones.
    pub fn v2(&self) -> Option<&Path> {
        self.v2.as_deref()
    }

    /// The directory whose `cgroup.procs` lists the container's processes:
    /// a v1 hierarchy every container joins, else the v2 directory.
    pub fn procs_dir(&self) -> Option<&Path> {
        ["pids", "memory", "freezer", "cpu", "cpuacct", "devices"]
            .iter()
            .find_map(|c| self.v1(c))
            .or(self.v2())
    }

    /// Every process in the container's cgroup and its descendants, sorted.
    pub fn pids(&self) -> std::io::Result<Vec<i32>> {
        let dir = self.procs_dir().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no cgroup directory")
        })?;
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids, 0)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>, depth: usize) -> std::io::Result<()> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs"))?;
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if depth > 16 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            // A sub-cgroup that vanished meanwhile is no error.
            let _ = collect_pids(&entry.path(), out, depth + 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";

    #[test]
    fn v1_controllers_beside_a_unified_mount() {
        let own = "\
9:name=systemd:/
4:memory:/skiff/abc
3:pids:/skiff/abc
2:cpu,cpuacct:/skiff/abc
0::/
";
        let c = Cgroups::parse(own, HYBRID_MOUNTS, "abc");
        assert_eq!(
            c.v1("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/skiff/abc"))
        );
        assert_eq!(
            c.v1("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/skiff/abc"))
        );
        assert_eq!(c.v1("name=systemd"), None, "not the container's");
        assert_eq!(c.v2(), None, "the unified path is the parent's");
        assert_eq!(
            c.procs_dir(),
            Some(Path::new("/sys/fs/cgroup/pids/skiff/abc"))
        );
    }

    #[test]
    fn pure_v2_and_mount_roots() {
        let mounts = "35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        let c = Cgroups::parse("0::/skiff/abc\n", mounts, "abc");
        assert_eq!(c.v2(), Some(Path::new("/sys/fs/cgroup/skiff/abc")));
        assert_eq!(c.procs_dir(), Some(Path::new("/sys/fs/cgroup/skiff/abc")));
        // A namespaced mount whose root is a sub-tree.
        let mounts = "35 24 0:30 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let c = Cgroups::parse("0::/outer/skiff/abc\n", mounts, "abc");
        assert_eq!(c.v2(), Some(Path::new("/sys/fs/cgroup/skiff/abc")));
        let c = Cgroups::parse("0::/elsewhere/abc\n", mounts, "abc");
        assert!(c.is_empty());
    }

    #[test]
    fn a_process_outside_the_containers_cgroup_gives_nothing() {
        let c = Cgroups::parse(
            "4:memory:/\n3:pids:/user.slice\n0::/\n",
            HYBRID_MOUNTS,
            "abc",
        );
        assert!(c.is_empty());
        assert!(c.pids().is_err());
    }

    #[test]
    fn pids_are_collected_from_sub_cgroups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("skiff/abc");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("cgroup.procs"), "12\n7\n").expect("write");
        std::fs::write(root.join("sub/cgroup.procs"), "9\n7\n").expect("write");
        let mounts = format!(
            "35 24 0:30 / {} rw - cgroup2 cgroup2 rw\n",
            dir.path().display()
        );
        let c = Cgroups::parse("0::/skiff/abc\n", &mounts, "abc");
        assert_eq!(c.pids().expect("pids"), vec![7, 9, 12]);
    }
}
