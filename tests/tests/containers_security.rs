//! Runtime hardening with the real docker CLI: docker's default seccomp
//! profile (and `seccomp=unconfined`, custom profiles, `no-new-privileges`),
//! capabilities (`--cap-add`, `--cap-drop`, `--privileged`), masked and
//! read-only paths, `--init` (and skiffd's `--init` / `--init-path`), and
//! the cgroup limits of `--cpus`, `--pids-limit` and `--memory`; and the
//! isolation regression probe (issue 19 §2): what a default container must
//! not do, what `--privileged` lifts, and the engine socket.

use std::time::{Duration, Instant};

use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox(opts: SkiffdOpts) -> Skiffd {
    let d = Skiffd::start(opts);
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

/// `Key:\tvalue` lines of the container's `/proc/self/status`.
fn status(d: &Skiffd, flags: &[&str], keys: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    let pattern = format!("^({keys}):");
    args.extend_from_slice(&["busybox", "grep", "-E", &pattern, "/proc/self/status"]);
    d.docker_ok(&args).replace('\t', " ")
}

#[test]
fn default_seccomp_profile_blocks_what_docker_blocks() {
    let d = with_busybox(SkiffdOpts::default());
    assert_eq!(
        status(&d, &[], "Seccomp|NoNewPrivs"),
        "NoNewPrivs: 0\nSeccomp: 2\n"
    );
    // Ordinary work, forks included (clone without namespace flags is
    // allowed, clone3 answers ENOSYS and libc falls back).
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo $(echo a) | cat; mkdir /x && cd /x && touch f && ls; chroot / true && echo chroot"
        ]),
        "a\nf\nchroot\n"
    );
    // A new user namespace needs no capability, only the filter stops it.
    let out = d.docker_run(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(out.code, 0, "unshare -U ran under the default profile");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(status(&d, &unconfined, "Seccomp"), "Seccomp: 0\n");
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert_eq!(out.code, 0, "unshare -U unconfined: {}", out.stderr);
    // Mounting stays denied without CAP_SYS_ADMIN, filter or not.
    let out = d.docker_run(&[
        "run", "--rm", "busybox", "mount", "-t", "tmpfs", "t", "/tmp",
    ]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    // no-new-privileges is docker's opt-in.
    assert_eq!(
        status(
            &d,
            &["--security-opt", "no-new-privileges"],
            "Seccomp|NoNewPrivs"
        ),
        "NoNewPrivs: 1\nSeccomp: 2\n"
    );
    let (code, err) = d.docker_fail(&[
        "run",
        "--rm",
        "--security-opt",
        "bogus=1",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("invalid --security-opt 2"), "{err}");
}

#[test]
fn custom_seccomp_profiles_apply() {
    let d = with_busybox(SkiffdOpts::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .expect("write profile");
    let opt = format!("seccomp={}", profile.display());
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "touch /f && echo touched; mkdir /d",
    ]);
    assert_eq!(out.stdout, "touched\n", "{}", out.stderr);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    std::fs::write(&profile, "{\"syscalls\": 3}").expect("write profile");
    let (code, err) = d.docker_fail(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("seccomp profile"), "{err}");
}

/// The bounding set of this process (what a privileged container gets).
fn own_bounding_set() -> String {
    std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd")
        .trim()
        .to_owned()
}

#[test]
fn capabilities_follow_cap_add_cap_drop_and_privileged() {
    let d = with_busybox(SkiffdOpts::default());
    let caps = |flags: &[&str]| status(&d, flags, "CapEff|CapBnd");
    assert_eq!(
        caps(&[]),
        "CapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\n"
    );
    // NET_ADMIN is bit 12.
    assert_eq!(
        caps(&["--cap-add", "NET_ADMIN"]),
        "CapEff: 00000000a80435fb\nCapBnd: 00000000a80435fb\n"
    );
    assert_eq!(
        caps(&["--cap-drop", "CHOWN"]),
        "CapEff: 00000000a80425fa\nCapBnd: 00000000a80425fa\n"
    );
    assert_eq!(
        caps(&["--cap-drop", "ALL", "--cap-add", "cap_kill"]),
        "CapEff: 0000000000000020\nCapBnd: 0000000000000020\n"
    );
    // The capability is real: NET_ADMIN may take lo down, the default may not.
    let ip = ["busybox", "ip", "link", "set", "lo", "down"];
    let out = d.docker_run(&[&["run", "--rm"][..], &ip[..]].concat());
    assert_ne!(out.code, 0, "lo down without NET_ADMIN");
    let out = d.docker_run(&[&["run", "--rm", "--cap-add", "NET_ADMIN"][..], &ip[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (code, err) = d.docker_fail(&["run", "--rm", "--cap-add", "FOO", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("unknown capability: \"CAP_FOO\""), "{err}");

    // --privileged: every capability skiffd has, no filter, writable /sys,
    // no masked paths, the host's devices.
    let bnd = own_bounding_set();
    assert_eq!(
        status(&d, &["--privileged"], "CapEff|Seccomp"),
        format!("CapEff: {bnd}\nSeccomp: 0\n")
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep ' /sys sysfs ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
         test $(cat /proc/timer_list | wc -c) -gt 0 && echo unmasked; \
         test -c /dev/loop-control && echo devices; mount -t tmpfs t /tmp && echo mounted",
    ]);
    assert_eq!(out, "rw\nunmasked\ndevices\nmounted\n");
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "test -e /dev/loop-control || echo none"
        ]),
        "none\n"
    );
}

#[test]
fn masked_and_read_only_paths() {
    let d = with_busybox(SkiffdOpts::default());
    // Docker's masked files that this kernel has read empty; its masked
    // directories list nothing.
    let files: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    let dirs: Vec<&str> = ["/proc/acpi", "/proc/scsi", "/sys/firmware"]
        .into_iter()
        .filter(|p| std::path::Path::new(p).is_dir())
        .collect();
    assert!(!files.is_empty() && !dirs.is_empty());
    let script = files
        .iter()
        .map(|f| format!("cat {f} | wc -c;"))
        .chain(dirs.iter().map(|d| format!("ls -A {d} | wc -l;")))
        .collect::<String>()
        + "grep ' /sys sysfs ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1";
    let out = d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", &script]);
    let expected = "0\n".repeat(files.len() + dirs.len()) + "ro\n";
    assert_eq!(out, expected, "{script}");
    for (what, cmd) in [
        ("/proc/sys", "echo x > /proc/sys/kernel/hostname"),
        ("/sys", "mkdir /sys/fs/x"),
    ] {
        let out = d.docker_run(&["run", "--rm", "busybox", "sh", "-c", cmd]);
        assert_ne!(out.code, 0, "{what} is writable");
        assert!(
            out.stderr.contains("Read-only file system"),
            "{what}: {}",
            out.stderr
        );
    }
    // Every read-only path this kernel has is mounted read-only.
    let ro: Vec<&str> = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    let mounts = d.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/mounts"]);
    for path in &ro {
        let options = mounts.lines().rev().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(1) == Some(path)).then(|| f.get(3).copied().unwrap_or_default())
        });
        assert!(
            options.is_some_and(|o| o.split(',').any(|x| x == "ro")),
            "{path}: {mounts}"
        );
    }
}

#[test]
fn init_runs_as_pid1_and_forwards_signals() {
    let d = with_busybox(SkiffdOpts::default());
    let ps = d.docker_ok(&["run", "--rm", "--init", "busybox", "ps", "-o", "pid,args"]);
    let mut lines = ps.lines().skip(1).map(str::trim);
    assert_eq!(
        lines.next(),
        Some("1 /sbin/docker-init -- ps -o pid,args"),
        "{ps}"
    );
    let child = lines.next().unwrap_or_default();
    assert!(
        child.ends_with(" ps -o pid,args") && !child.starts_with("1 "),
        "{ps}"
    );
    // Without --init the command is pid 1.
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/1/comm"]),
        "cat\n"
    );

    d.docker_ok(&[
        "run", "-d", "--init", "--name", "sl", "busybox", "sleep", "100",
    ]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.Init}} {{.Path}}", "sl"])
            .trim(),
        "true sleep"
    );
    let t = Instant::now();
    d.docker_ok(&["stop", "-t", "5", "sl"]);
    let took = t.elapsed();
    // tini forwards SIGTERM to sleep, which dies of it: no 5 s wait, no SIGKILL.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "sl"])
            .trim(),
        "143"
    );
}

#[test]
fn daemon_init_settings() {
    // daemon.json `init: true` gives every container an init unless it says no.
    let d = with_busybox(
        SkiffdOpts::default().config_json(r#"{"init": true, "init-path": "/usr/bin/tini-static"}"#),
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/1/comm"]),
        "docker-init\n"
    );
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "--init=false",
            "busybox",
            "cat",
            "/proc/1/comm"
        ]),
        "cat\n"
    );
    drop(d);

    // A missing init binary is a clear error for --init only.
    let d = with_busybox(
        SkiffdOpts::default()
            .arg("--init-path")
            .arg("/nonexistent/tini"),
    );
    let (code, err) = d.docker_fail(&["run", "--rm", "--init", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("init binary /nonexistent/tini (--init-path) not found"),
        "{err}"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "ok"]),
        "ok\n"
    );
}

/// The value of `file` in the container's cgroup for `controller`, read on
/// the host: cgroup v1 (`/sys/fs/cgroup/<controller>/…`) or the v2 unified
/// hierarchy (`v2_file`), whichever the container is in.
fn cgroup_value(pid: &str, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if ctrls.split(',').any(|c| c == controller) {
            let file = format!("/sys/fs/cgroup/{controller}{path}/{v1_file}");
            if let Ok(v) = std::fs::read_to_string(&file) {
                return v.trim().to_owned();
            }
        }
        if ctrls.is_empty() && path != "/" {
            for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                if let Ok(v) = std::fs::read_to_string(format!("{root}{path}/{v2_file}")) {
                    return v.trim().to_owned();
                }
            }
        }
    }
    panic!("no {controller} cgroup file for pid {pid}: {cgroups}");
}

#[test]
fn cpu_pids_and_memory_limits_reach_the_cgroup() {
    let d = with_busybox(SkiffdOpts::default());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--cpus",
        "0.5",
        "--pids-limit",
        "10",
        "--memory",
        "32m",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}",
            "lim"
        ])
        .trim(),
        "500000000 10 33554432"
    );
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "lim"]);
    let pid = pid.trim();
    let quota = cgroup_value(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    let period = cgroup_value(pid, "cpu", "cpu.cfs_period_us", "cpu.max");
    assert!(
        (quota == "50000" && period == "100000") || quota == "50000 100000",
        "{quota} {period}"
    );
    assert_eq!(cgroup_value(pid, "pids", "pids.max", "pids.max"), "10");
    assert_eq!(
        cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max"),
        "33554432"
    );
    // The container sees the same limits in its own /sys/fs/cgroup.
    let inside = d.docker_ok(&[
        "exec",
        "lim",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(inside.trim(), "10");
    d.docker_ok(&["rm", "-f", "lim"]);

    // Forking past the limit fails inside (and the shell gives up)…
    let fork = "for i in $(seq 30); do sleep 2 & done; wait; echo done";
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        fork,
    ]);
    assert!(out.stderr.contains("can't fork"), "{out:?}");
    assert_ne!(out.code, 0, "{out:?}");
    // …and works without one.
    let out = d.docker_run(&["run", "--rm", "busybox", "sh", "-c", fork]);
    assert_eq!((out.stdout.as_str(), out.code), ("done\n", 0), "{out:?}");
}

/// `Key:\tvalue` lines of `/proc/self/status` in a `docker exec` of `c`.
fn exec_status(d: &Skiffd, c: &str, flags: &[&str], keys: &str) -> String {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    let pattern = format!("^({keys}):");
    args.extend_from_slice(&[c, "grep", "-E", &pattern, "/proc/self/status"]);
    d.docker_ok(&args).replace('\t', " ")
}

#[test]
fn execs_get_the_containers_seccomp_filter() {
    let d = with_busybox(SkiffdOpts::default());
    let run = |name: &str, flags: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sleep", "1000"]);
        d.docker_ok(&args);
    };
    let keys = "Seccomp|NoNewPrivs|CapEff|CapPrm|CapBnd";
    run("sc", &[]);
    // The filter, and none of the CAP_SYS_ADMIN the shim lends to load it.
    assert_eq!(
        exec_status(&d, "sc", &[], keys),
        "CapPrm: 00000000a80425fb\nCapEff: 00000000a80425fb\n\
         CapBnd: 00000000a80425fb\nNoNewPrivs: 0\nSeccomp: 2\n"
    );
    assert_eq!(
        exec_status(&d, "sc", &["-u", "1000"], "Seccomp|CapEff"),
        "CapEff: 0000000000000000\nSeccomp: 2\n"
    );
    let out = d.docker_run(&["exec", "sc", "unshare", "-U", "true"]);
    assert_ne!(out.code, 0, "unshare -U ran in an exec under the profile");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    // The init process is filtered as before.
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "sc"]);
    let init = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).expect("status");
    assert!(init.contains("Seccomp:\t2\n"), "{init}");
    assert!(init.contains("CapEff:\t00000000a80425fb\n"), "{init}");

    // No capability at all, and no-new-privileges: still filtered.
    run("none", &["--cap-drop", "ALL"]);
    assert_eq!(
        exec_status(&d, "none", &[], "Seccomp|CapEff"),
        "CapEff: 0000000000000000\nSeccomp: 2\n"
    );
    run("nnp", &["--security-opt", "no-new-privileges"]);
    assert_eq!(
        exec_status(&d, "nnp", &[], "Seccomp|NoNewPrivs"),
        "NoNewPrivs: 1\nSeccomp: 2\n"
    );

    // Unconfined and privileged containers' execs stay unconfined.
    run("scu", &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(exec_status(&d, "scu", &[], "Seccomp"), "Seccomp: 0\n");
    let out = d.docker_run(&["exec", "scu", "unshare", "-U", "true"]);
    assert_eq!(out.code, 0, "unshare -U unconfined: {}", out.stderr);
    run("scp", &["--privileged"]);
    assert_eq!(exec_status(&d, "scp", &[], "Seccomp"), "Seccomp: 0\n");
    d.docker_ok(&["rm", "-f", "sc", "none", "nnp", "scu", "scp"]);
}

/// `tests/fixtures/probes/isolation.c`, built static into `dir` (with the
/// gcc the fixtures need anyway).
fn build_probe(dir: &std::path::Path) -> std::path::PathBuf {
    let src = skiff_e2e::util::workspace_root().join("tests/fixtures/probes/isolation.c");
    let out = dir.join("isolation");
    let status = std::process::Command::new("gcc")
        .args(["-static", "-Os", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("running gcc (needed by the fixtures too)");
    assert!(status.success(), "gcc -static {}", src.display());
    out
}

/// The probe's `name → outcome` lines, run in a container with `flags`.
fn probe(
    d: &Skiffd,
    dir: &str,
    flags: &[&str],
    args: &[&str],
) -> std::collections::BTreeMap<String, String> {
    let mount = format!("{dir}:/probe:ro");
    let mut cmd = vec!["run", "--rm", "-v", &mount];
    cmd.extend_from_slice(flags);
    cmd.extend_from_slice(&["busybox", "/probe/isolation"]);
    cmd.extend_from_slice(args);
    d.docker_ok(&cmd)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Inside a default container: mount, unshare, keyctl, module loading,
/// opening a block device it made (device cgroup), ptrace of a process
/// outside its namespace, writing `/proc/sysrq-trigger` and `/sys` all
/// fail, and the engine socket is not there. `--privileged` lifts what
/// dockerd's does (the namespace stays: the outside process is still not
/// there); a bind-mounted engine socket answers.
#[test]
fn a_default_container_is_isolated_and_privileged_lifts_it() {
    let d = with_busybox(SkiffdOpts::default());
    let dir = tempfile::tempdir().expect("tempdir");
    build_probe(dir.path());
    let dir = dir.path().to_str().expect("utf8").to_owned();
    // A process outside every container: this test.
    let outside = std::process::id().to_string();
    let socket = d.socket().to_str().expect("utf8").to_owned();

    let got = probe(&d, &dir, &[], &[&outside, &socket]);
    let eperm = "Operation not permitted";
    let erofs = "Read-only file system";
    // A kernel without magic SysRq has no /proc/sysrq-trigger.
    let sysrq = std::path::Path::new("/proc/sysrq-trigger").exists();
    let (sysrq_default, sysrq_privileged) = if sysrq {
        (erofs, "ok")
    } else {
        ("No such file or directory", "No such file or directory")
    };
    let expected = [
        ("mount", eperm),
        ("unshare", eperm),
        ("keyctl", eperm),
        ("finit_module", eperm),
        // CAP_MKNOD is docker's default; the device cgroup denies the open.
        ("mknod", "ok"),
        ("open-block-device", eperm),
        ("ptrace-outside", "No such process"),
        ("open-sysrq-trigger", sysrq_default),
        ("mkdir-sys", erofs),
        ("engine-socket", "No such file or directory"),
    ];
    for (name, want) in expected {
        assert_eq!(
            got.get(name).map(String::as_str),
            Some(want),
            "{name}: {got:?}"
        );
    }

    let got = probe(&d, &dir, &["--privileged"], &[&outside]);
    assert_eq!(
        got.get("open-sysrq-trigger").map(String::as_str),
        Some(sysrq_privileged),
        "{got:?}"
    );
    for name in ["mount", "unshare", "keyctl", "mknod"] {
        assert_eq!(
            got.get(name).map(String::as_str),
            Some("ok"),
            "{name}: {got:?}"
        );
    }
    // Past seccomp, the capability check and the device cgroup: the kernel
    // looks at the fd (or has no module support: ENOSYS), opens the device.
    for name in ["finit_module", "open-block-device"] {
        let v = got.get(name).map(String::as_str).unwrap_or_default();
        assert_ne!(v, eperm, "{name}: {got:?}");
    }
    // /sys is writable (sysfs itself may still refuse a mkdir).
    assert_ne!(
        got.get("mkdir-sys").map(String::as_str),
        Some(erofs),
        "{got:?}"
    );
    assert_eq!(
        got.get("ptrace-outside").map(String::as_str),
        Some("No such process"),
        "{got:?}"
    );

    // Bind-mounted, the engine socket is reachable (as with dockerd).
    let bind = format!("{socket}:/var/run/docker.sock");
    let got = probe(
        &d,
        &dir,
        &["-v", &bind],
        &[&outside, "/var/run/docker.sock"],
    );
    assert_eq!(
        got.get("engine-socket").map(String::as_str),
        Some("ok"),
        "{got:?}"
    );
}
