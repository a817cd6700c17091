//! The harness leaves the host as it found it: dropping a [`Skiffd`] whose
//! test ended with a running container (or panicked) kills that container's
//! processes and removes its cgroups.

use std::path::Path;

use skiff_e2e::{Skiffd, SkiffdOpts};

#[test]
fn dropping_skiffd_kills_its_running_containers() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "busybox"]);
    let id = d
        .docker_ok(&["run", "-d", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let pid: i32 = d
        .docker_ok(&["inspect", "--format", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .expect("the container's pid");
    assert!(pid > 0, "the container runs");
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    assert!(alive(pid));
    let cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .expect("cgroupfs")
        .flatten()
        .map(|h| h.path().join("skiff").join(&id))
        .chain([Path::new("/sys/fs/cgroup/skiff").join(&id)])
        .filter(|cg| cg.is_dir())
        .collect();
    assert!(!cgroups.is_empty(), "the container has cgroups");

    drop(d);

    assert!(!alive(pid), "container process {pid} outlived its skiffd");
    for cg in cgroups {
        assert!(!cg.exists(), "{} left behind", cg.display());
    }
}
