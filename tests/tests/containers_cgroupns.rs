//! `--cgroupns` with the real docker CLI: the daemon's default on this
//! host (`host`, since `/sys/fs/cgroup` is not a cgroup2 mount here), a
//! private namespace that shows the container's cgroup as `/` and leaves
//! the host's cgroup2 mount options alone, limits that still apply in it,
//! and docker's message for an unknown mode.

use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

/// The cgroup paths (third field) of a container's `/proc/self/cgroup`, for
/// the controller hierarchies the runtime places it in (`pids`, `memory`,
/// … — not `name=systemd` nor, on this hybrid host, the unified one).
fn cgroup_paths(d: &Skiffd, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "cat", "/proc/self/cgroup"]);
    let out = d.docker_ok(&args);
    let paths: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let controllers = f.nth(1)?;
            let real = !controllers.is_empty() && !controllers.starts_with("name=");
            real.then(|| f.next().map(str::to_owned)).flatten()
        })
        .collect();
    assert!(!paths.is_empty(), "{out}");
    paths
}

/// The mount options (per-mount and superblock) of the host's cgroup2
/// mount, from `/proc/self/mountinfo`.
fn host_cgroup2_options() -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mut r = right.split(' ');
        (r.next() == Some("cgroup2")).then(|| {
            let per_mount = left.split(' ').nth(5).unwrap_or_default();
            let superblock = r.nth(1).unwrap_or_default();
            format!(
                "{} {per_mount} {superblock}",
                left.split(' ').nth(4).unwrap_or_default()
            )
        })
    })
}

#[test]
fn default_is_host_here_and_private_shows_its_own_root() {
    let d = with_busybox();
    let v2_before = host_cgroup2_options();

    // Default (this host is v1/hybrid): the host's namespace, the
    // container's own cgroup under <the daemon's parent>/<id>.
    let own = format!("{}/", d.cgroup_parent().expect("harness parent"));
    d.docker_ok(&["create", "--name", "dflt", "busybox", "true"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "dflt"])
            .trim(),
        "host"
    );
    d.docker_ok(&["rm", "dflt"]);
    let paths = cgroup_paths(&d, &[]);
    assert!(paths.iter().all(|p| p.starts_with(&own)), "{paths:?}");
    let paths = cgroup_paths(&d, &["--cgroupns", "host"]);
    assert!(paths.iter().all(|p| p.starts_with(&own)), "{paths:?}");

    // Private: every hierarchy's root is the container's cgroup.
    let paths = cgroup_paths(&d, &["--cgroupns", "private"]);
    assert!(paths.iter().all(|p| p == "/"), "{paths:?}");
    d.docker_ok(&[
        "create",
        "--name",
        "priv",
        "--cgroupns",
        "private",
        "busybox",
        "true",
    ]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "priv"])
            .trim(),
        "private"
    );
    // The container's cgroup2 mount did not reset the host's options.
    assert_eq!(host_cgroup2_options(), v2_before);
}

#[test]
fn unknown_mode_fails_with_dockers_message() {
    let d = with_busybox();
    let (code, err) = d.docker_fail(&["run", "--rm", "--cgroupns", "bogus", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("--cgroupns: invalid CGROUP mode"), "{err}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn limits_apply_in_a_private_cgroup_namespace() {
    let d = with_busybox();
    let out = d.docker_run(&[
        "run",
        "--name",
        "hog",
        "--cgroupns",
        "private",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.OOMKilled}}", "hog"])
            .trim(),
        "true"
    );
    let fork = "for i in $(seq 30); do sleep 2 & done; wait; echo done";
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--cgroupns",
        "private",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        fork,
    ]);
    assert!(out.stderr.contains("can't fork"), "{out:?}");
    assert_ne!(out.code, 0, "{out:?}");
}

#[test]
fn the_api_refuses_an_unknown_mode_like_dockerd() {
    use std::io::{Read, Write};
    let d = with_busybox();
    let body = r#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"bogus"}}"#;
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
    write!(
        s,
        "POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#"{"message":"invalid cgroup namespace mode: bogus"}"#),
        "{answer}"
    );
}

#[test]
fn the_daemon_default_can_be_set() {
    let d = Skiffd::start(SkiffdOpts::default().arg("--default-cgroupns-mode=private"));
    let own = format!("{}/", d.cgroup_parent().expect("harness parent"));
    d.docker_ok(&["pull", "-q", "busybox"]);
    d.docker_ok(&["create", "--name", "dc", "busybox", "true"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "dc"])
            .trim(),
        "private"
    );
    let paths = cgroup_paths(&d, &[]);
    assert!(paths.iter().all(|p| p == "/"), "{paths:?}");
    let paths = cgroup_paths(&d, &["--cgroupns", "host"]);
    assert!(paths.iter().all(|p| p.starts_with(&own)), "{paths:?}");
}
