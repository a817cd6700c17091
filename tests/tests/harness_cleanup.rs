//! The harness leaves the host as it found it: dropping a [`Skiffd`] whose
//! test ended with a running container (or panicked) kills that container's
//! processes and removes its cgroups.

use skiff_e2e::{Skiffd, SkiffdOpts};

#[test]
fn dropping_skiffd_kills_its_running_containers() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "busybox"]);
    let (id, pid) = d.run_sleeper();
    assert!(pid > 0, "the container runs");
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    assert!(alive(pid));
    let parent = d.cgroup_parent().expect("harness parent").to_owned();
    let cgroups: Vec<_> = skiff_e2e::cgroups::dirs(&format!("{parent}/{id}"))
        .into_iter()
        .filter(|cg| cg.is_dir())
        .collect();
    assert!(!cgroups.is_empty(), "the container has cgroups");

    drop(d);

    assert!(!alive(pid), "container process {pid} outlived its skiffd");
    for cg in cgroups {
        assert!(!cg.exists(), "{} left behind", cg.display());
    }
    // The daemon's own parent goes too: nothing of the test stays.
    for cg in skiff_e2e::cgroups::dirs(&parent) {
        assert!(!cg.exists(), "{} left behind", cg.display());
    }
}
