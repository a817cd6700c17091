//! What a container leaves behind when things go wrong: a shim killed with
//! SIGKILL, a skiffd killed between an `--rm` container's exit and its
//! removal. Afterwards no cgroup, process, mount or directory of the
//! container may be left, and no record lost.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use skiff_e2e::util::wait_until;
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn pid_alive(pid: i32) -> bool {
    // A zombie is dead for us (its parent may be long gone).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

#[test]
fn a_shim_killed_with_sigkill_leaves_no_cgroup_nor_process() {
    let d = with_busybox();
    let (id, pid) = d.run_sleeper();
    assert!(pid > 0 && pid_alive(pid));
    assert!(
        !d.container_cgroup_dirs(&id).is_empty(),
        "the running container has no cgroup under its daemon's parent"
    );
    let shim_dir = d.data_root().join("containers").join(&id).join("shim");
    let shim_pid: i32 = std::fs::read_to_string(shim_dir.join("shim.pid"))
        .expect("shim.pid")
        .trim()
        .parse()
        .expect("shim pid");
    kill(Pid::from_raw(shim_pid), Signal::SIGKILL).expect("kill -9 the shim");

    // skiffd notices the shim is gone, records an unknown exit and kills
    // what was left in the container's cgroups.
    assert_eq!(d.wait_container_exit(&id), 255);
    wait_until(
        "the container's process to die",
        Duration::from_secs(10),
        || !pid_alive(pid),
    );
    d.docker_ok(&["rm", "-f", &id]);
    let left = d.container_cgroup_dirs(&id);
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(!d.data_root().join("containers").join(&id).exists());
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn rm_of_a_container_whose_shim_died_with_skiffd_down() {
    let mut d = with_busybox();
    let (id, pid) = d.run_sleeper();
    let shim_dir = d.data_root().join("containers").join(&id).join("shim");
    let shim_pid: i32 = std::fs::read_to_string(shim_dir.join("shim.pid"))
        .expect("shim.pid")
        .trim()
        .parse()
        .expect("shim pid");
    // Both die: skiffd first, so it cannot watch the shim go.
    d.kill9();
    kill(Pid::from_raw(shim_pid), Signal::SIGKILL).expect("kill -9 the shim");
    d.restart();
    // The restart's reconcile finds no shim and no exit status.
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &id
        ])
        .trim(),
        "exited 255"
    );
    wait_until(
        "the container's process to die",
        Duration::from_secs(10),
        || !pid_alive(pid),
    );
    d.docker_ok(&["rm", &id]);
    let left = d.container_cgroup_dirs(&id);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

#[test]
fn removed_containers_never_come_back_and_leave_nothing() {
    let mut d = with_busybox();
    let keep = d
        .docker_ok(&["create", "--name", "keep", "busybox", "true"])
        .trim()
        .to_owned();
    for i in 0..5 {
        let out = d.docker_run(&["run", "--rm", "busybox", "sh", "-c", &format!("exit {i}")]);
        assert_eq!(out.code, i, "{}", out.stderr);
    }
    let gone = d
        .docker_ok(&["create", "--name", "gone", "busybox", "true"])
        .trim()
        .to_owned();
    d.docker_ok(&["rm", "gone"]);
    // The name is free at once.
    d.docker_ok(&["create", "--name", "gone", "busybox", "true"]);
    d.docker_ok(&["rm", "gone"]);
    // A removal renamed the directory away but was killed before deleting
    // it: it must not come back as a container.
    let containers = d.data_root().join("containers");
    let crashed = containers.join(format!(".tmp-{gone}-0123456789abcdef"));
    std::fs::create_dir_all(crashed.join("rw/upper/deep")).expect("mkdir");
    std::fs::write(crashed.join("rw/upper/deep/f"), b"x").expect("write");
    d.kill9();
    d.restart();
    assert_eq!(
        d.docker_ok(&["ps", "-aq", "--no-trunc"]).trim(),
        keep,
        "only the kept container is listed"
    );
    wait_until("leftovers to be deleted", Duration::from_secs(20), || {
        let names: Vec<String> = std::fs::read_dir(&containers)
            .expect("ls containers")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names == [keep.clone()]
    });
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.Name}} {{.State.Status}}", "keep"])
            .trim(),
        "/keep created"
    );
}

#[test]
fn an_rm_container_removed_before_it_starts_leaves_nothing() {
    // create --rm gets the container ready (mount, shim) before start:
    // removing it unstarted must undo all of that.
    let d = with_busybox();
    let id = d
        .docker_ok(&["create", "--rm", "busybox", "true"])
        .trim()
        .to_owned();
    let root = d.data_root().to_str().expect("utf8").to_owned();
    d.docker_ok(&["rm", &id]);
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.lines().any(|l| l.contains(&root)),
        "mounts left under {root}"
    );
    let left = d.container_cgroup_dirs(&id);
    assert!(left.is_empty(), "cgroups left: {left:?}");
    let shims = std::process::Command::new("pgrep")
        .args(["-f", &format!("skiff-shim start.*{id}")])
        .output()
        .expect("pgrep");
    assert!(
        shims.stdout.is_empty(),
        "shims left: {}",
        String::from_utf8_lossy(&shims.stdout)
    );
    // And one that is started runs as usual.
    let out = d.docker_run(&["run", "--rm", "busybox", "sh", "-c", "echo ready; exit 7"]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "ready");
}
