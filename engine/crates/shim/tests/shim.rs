//! End-to-end behaviour of `skiff-shim` with real busybox containers.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{alive, eventually, exec_request, ppid, world};
use skiff_shim::protocol::{AttachRequest, ErrorKind, Status};
use skiff_shim::{Frame, LogTarget, Shim, ShimHandle, jsonlog};

fn all_streams() -> AttachRequest {
    AttachRequest {
        stdout: true,
        stderr: true,
        ..Default::default()
    }
}

#[test]
fn echo_is_logged_and_streamed_to_an_attached_client() {
    let Some(w) = world() else { return };
    let cfg = w.config("echo", &["sh", "-c", "echo hi; echo oops >&2"]);
    let (shim, opts) = w.spawn_created(&cfg, false);
    let state = shim.state().expect("state");
    assert_eq!(state.status, Status::Created);
    assert!(state.pid > 0);

    let attach = shim.attach(all_streams()).expect("attach");
    shim.start().expect("start");
    let got = attach.collect().expect("collect");
    assert_eq!(String::from_utf8_lossy(&got.stdout), "hi\n");
    assert_eq!(String::from_utf8_lossy(&got.stderr), "oops\n");
    assert_eq!(got.exit.as_ref().map(|e| e.exit_code), Some(0));

    let exit = shim.wait().expect("wait");
    assert_eq!(exit.exit_code, 0);
    assert!(exit.started_at.is_some());

    let log = std::fs::read_to_string(skiff_shim::paths::container_log(&opts.state_dir))
        .expect("read log");
    let entries: Vec<jsonlog::Entry> = log
        .lines()
        .map(|l| jsonlog::parse(l.as_bytes()).expect("json line"))
        .collect();
    assert_eq!(entries.len(), 2, "{log}");
    let out = entries
        .iter()
        .find(|e| e.stream == "stdout")
        .expect("stdout entry");
    assert_eq!(out.log, "hi\n");
    assert!(
        out.time.ends_with('Z') && out.time.contains('T'),
        "{}",
        out.time
    );
    let err = entries
        .iter()
        .find(|e| e.stream == "stderr")
        .expect("stderr entry");
    assert_eq!(err.log, "oops\n");

    shim.delete(false).expect("delete");
    assert!(eventually(Duration::from_secs(5), || {
        !skiff_shim::paths::socket(&opts.state_dir).exists()
    }));
    // exit.json outlives the shim.
    let recorded = ShimHandle::read_exit(&opts.state_dir).expect("read exit.json");
    assert_eq!(recorded, Some(exit));
}

#[test]
fn exit_codes_are_recorded() {
    let Some(w) = world() else { return };
    for (id, args, code) in [
        ("exit0", vec!["true"], 0),
        ("exit3", vec!["sh", "-c", "exit 3"], 3),
    ] {
        let shim = w.spawn(id, &args);
        let exit = shim.wait().expect("wait");
        assert_eq!(exit.exit_code, code, "{id}");
        assert_eq!(exit.signal, None);
        assert!(!exit.oom_killed);
        let state = shim.state().expect("state");
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.exit.as_ref().map(|e| e.exit_code), Some(code));
        let recorded = ShimHandle::read_exit(shim.state_dir()).expect("exit.json");
        assert_eq!(recorded.map(|e| e.exit_code), Some(code));
        shim.delete(false).expect("delete");
    }
}

#[test]
fn stdin_flows_through_attach_and_half_close_ends_it() {
    let Some(w) = world() else { return };
    let cfg = w.config("cat", &["cat"]);
    let (shim, _) = w.spawn_created(&cfg, true);
    let mut attach = shim
        .attach(AttachRequest {
            stdin: true,
            stdout: true,
            stderr: true,
            close_stdin: true,
            exec_id: None,
        })
        .expect("attach");
    shim.start().expect("start");
    attach.write_stdin(b"hello\n").expect("write");
    // cat echoes the line while stdin is still open.
    attach
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    match attach.next_frame().expect("frame") {
        Some(Frame::Stdout(b)) => assert_eq!(b, b"hello\n"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(shim.state().expect("state").status, Status::Running);
    attach.write_stdin(b"bye").expect("write");
    attach.close_stdin().expect("half-close");
    let got = attach.collect().expect("collect");
    assert_eq!(String::from_utf8_lossy(&got.stdout), "bye");
    assert_eq!(got.exit.map(|e| e.exit_code), Some(0));
    shim.delete(false).expect("delete");
}

#[test]
fn tty_mode_gives_a_pty_that_can_be_resized() {
    let Some(w) = world() else { return };
    let mut cfg = w.config("tty", &["sh", "-c", "tty; stty size"]);
    cfg.tty = true;
    let (shim, opts) = w.spawn_created(&cfg, false);
    assert!(shim.state().expect("state").tty);
    shim.resize(None, 40, 100).expect("resize");
    let attach = shim.attach(all_streams()).expect("attach");
    shim.start().expect("start");
    let got = attach.collect().expect("collect");
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("40 100"), "{text:?}");
    assert!(text.contains("\r\n"), "a pty translates newlines: {text:?}");
    assert!(got.stderr.is_empty());
    assert_eq!(got.exit.map(|e| e.exit_code), Some(0));
    // The log has the pty's output as stdout.
    let log =
        std::fs::read_to_string(skiff_shim::paths::container_log(&opts.state_dir)).expect("log");
    assert!(log.contains("/dev/pts/0"), "{log}");
    assert!(log.contains("\"stream\":\"stdout\""), "{log}");
    shim.delete(false).expect("delete");
}

#[test]
fn tty_stdin_reaches_the_process() {
    let Some(w) = world() else { return };
    let mut cfg = w.config("ttyin", &["sh", "-c", "read line; echo got:$line"]);
    cfg.tty = true;
    let (shim, _) = w.spawn_created(&cfg, true);
    let mut attach = shim
        .attach(AttachRequest {
            stdin: true,
            stdout: true,
            ..Default::default()
        })
        .expect("attach");
    shim.start().expect("start");
    attach.write_stdin(b"abc\r").expect("stdin");
    let got = attach.collect().expect("collect");
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(text.contains("got:abc"), "{text:?}");
    shim.delete(false).expect("delete");
}

#[test]
fn sigterm_and_sigkill() {
    let Some(w) = world() else { return };
    // As in docker: pid 1 of a pid namespace has no default action for
    // SIGTERM, so `sleep` as init ignores it; SIGKILL always works.
    let shim = w.spawn("init-sleep", &["sleep", "100"]);
    let pid = shim.state().expect("state").pid;
    shim.kill(libc::SIGTERM).expect("sigterm");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(shim.state().expect("state").status, Status::Running);
    shim.kill(libc::SIGKILL).expect("sigkill");
    let exit = shim.wait().expect("wait");
    assert_eq!((exit.exit_code, exit.signal), (137, Some(libc::SIGKILL)));
    assert!(!alive(pid));
    let again = shim.kill(libc::SIGTERM).expect_err("kill after exit");
    assert_eq!(again.kind(), Some(ErrorKind::Conflict));
    shim.delete(false).expect("delete");

    // Not pid 1 (host pid namespace): SIGTERM kills `sleep`, 128 + 15.
    let mut cfg = w.config("host-sleep", &["sleep", "100"]);
    cfg.host_pid = true;
    let shim = Shim::spawn(&w.options(&cfg)).expect("spawn");
    shim.kill(libc::SIGTERM).expect("sigterm");
    let exit = shim.wait().expect("wait");
    assert_eq!((exit.exit_code, exit.signal), (143, Some(libc::SIGTERM)));
    shim.delete(false).expect("delete");

    // A shell that traps TERM and exits with 143 itself.
    let shim = w.spawn(
        "trap",
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; while :; do sleep 0.05; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    shim.kill(libc::SIGTERM).expect("sigterm");
    assert_eq!(shim.wait().expect("wait").exit_code, 143);
    shim.delete(false).expect("delete");
}

#[test]
fn wait_blocks_until_exit() {
    let Some(w) = world() else { return };
    let shim = w.spawn("waiter", &["sleep", "0.5"]);
    let started = std::time::Instant::now();
    let waiter = {
        let shim = shim.clone();
        std::thread::spawn(move || shim.wait())
    };
    // Other requests are answered while a wait is pending.
    assert_eq!(shim.state().expect("state").status, Status::Running);
    let exit = waiter.join().expect("join").expect("wait");
    assert_eq!(exit.exit_code, 0);
    assert!(started.elapsed() >= Duration::from_millis(300));
    shim.delete(false).expect("delete");
}

#[test]
fn exec_runs_inside_a_running_container() {
    let Some(w) = world() else { return };
    let shim = w.spawn("execbox", &["sleep", "100"]);
    let init_pid = shim.state().expect("state").pid;

    // Attached on the same connection: no output can be missed.
    let (info, attach) = shim
        .exec_attach(
            exec_request(&["sh", "-c", "echo hi from exec; hostname; echo $$"], 0),
            all_streams(),
        )
        .expect("exec");
    assert!(info.pid > 0 && info.pid != init_pid);
    let got = attach.collect().expect("collect");
    let text = String::from_utf8_lossy(&got.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"hi from exec"), "{text}");
    assert_eq!(lines.get(1), Some(&"execbox"), "same uts namespace: {text}");
    assert_ne!(
        lines.get(2),
        Some(&"1"),
        "not pid 1 in the container: {text}"
    );
    assert_eq!(got.exit.as_ref().map(|e| e.exit_code), Some(0));
    assert_eq!(
        shim.wait_exec(&info.exec_id).expect("wait exec").exit_code,
        0
    );
    let st = shim.exec_state(&info.exec_id).expect("exec state");
    assert_eq!(st.status, Status::Exited);

    // Detached exec with a chosen id, waited for separately.
    let mut req = exec_request(&["sh", "-c", "exit 5"], 0);
    req.exec_id = Some("five".into());
    let info = shim.exec(req).expect("exec");
    assert_eq!(info.exec_id, "five");
    assert_eq!(shim.wait_exec("five").expect("wait").exit_code, 5);

    // stdin to an exec.
    let mut req = exec_request(&["cat"], 0);
    req.stdin = true;
    let (_, mut attach) = shim
        .exec_attach(
            req,
            AttachRequest {
                stdin: true,
                stdout: true,
                close_stdin: true,
                ..Default::default()
            },
        )
        .expect("exec cat");
    attach.write_stdin(b"piped").expect("stdin");
    attach.close_stdin().expect("close");
    let got = attach.collect().expect("collect");
    assert_eq!(got.stdout, b"piped");

    // An exec with a tty.
    let mut req = exec_request(&["tty"], 0);
    req.tty = true;
    let (_, attach) = shim.exec_attach(req, all_streams()).expect("exec tty");
    let got = attach.collect().expect("collect");
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(text.contains("/dev/pts/"), "{text:?}");

    // Errors: unknown exec, duplicate id, missing binary.
    let err = shim.wait_exec("nope").expect_err("unknown exec");
    assert_eq!(err.kind(), Some(ErrorKind::NotFound));
    let mut req = exec_request(&["true"], 0);
    req.exec_id = Some("five".into());
    assert_eq!(
        shim.exec(req).expect_err("dup").kind(),
        Some(ErrorKind::Conflict)
    );
    let err = shim
        .exec(exec_request(&["no-such-binary"], 0))
        .expect_err("missing binary");
    assert!(err.to_string().contains("no-such-binary"), "{err}");

    // The container itself is unaffected.
    assert_eq!(shim.state().expect("state").status, Status::Running);
    shim.delete(true).expect("force delete");
}

#[test]
fn pause_and_resume() {
    let Some(w) = world() else { return };
    let shim = w.spawn("pausebox", &["sleep", "100"]);
    shim.pause().expect("pause");
    assert_eq!(shim.state().expect("state").status, Status::Paused);
    let freezer = format!(
        "/sys/fs/cgroup/freezer{}/pausebox/freezer.state",
        w.cgroup_parent
    );
    if let Ok(s) = std::fs::read_to_string(&freezer) {
        assert_eq!(s.trim(), "FROZEN");
    }
    let err = shim
        .exec(exec_request(&["true"], 0))
        .expect_err("exec while paused");
    assert_eq!(err.kind(), Some(ErrorKind::Conflict));
    assert_eq!(
        shim.pause().expect_err("pause twice").kind(),
        Some(ErrorKind::Conflict)
    );
    shim.resume().expect("resume");
    assert_eq!(shim.state().expect("state").status, Status::Running);
    assert_eq!(
        shim.resume().expect_err("resume twice").kind(),
        Some(ErrorKind::Conflict)
    );
    // SIGKILL reaches a paused container (the shim thaws it).
    shim.pause().expect("pause");
    shim.kill(libc::SIGKILL).expect("kill");
    assert_eq!(shim.wait().expect("wait").exit_code, 137);
    shim.delete(false).expect("delete");
}

#[test]
fn delete_refuses_a_running_container_unless_forced() {
    let Some(w) = world() else { return };
    let shim = w.spawn("deleteme", &["sleep", "100"]);
    let shim_pid = shim.shim_pid().expect("shim pid");
    let err = shim.delete(false).expect_err("delete running");
    assert_eq!(err.kind(), Some(ErrorKind::Conflict));
    assert!(err.to_string().contains("deleteme"), "{err}");
    shim.delete(true).expect("force delete");
    assert!(eventually(Duration::from_secs(5), || !alive(shim_pid)));
    let exit = ShimHandle::read_exit(shim.state_dir()).expect("exit.json");
    assert_eq!(exit.map(|e| e.exit_code), Some(137));
    let cgroup = format!("/sys/fs/cgroup/pids{}/deleteme", w.cgroup_parent);
    assert!(!std::path::Path::new(&cgroup).exists(), "{cgroup} removed");
    assert!(ShimHandle::connect(shim.state_dir()).is_err());
}

#[test]
fn a_created_container_can_be_deleted() {
    let Some(w) = world() else { return };
    let cfg = w.config("never-started", &["echo", "never"]);
    let (shim, opts) = w.spawn_created(&cfg, false);
    let pid = shim.state().expect("state").pid;
    shim.delete(false).expect("delete");
    assert!(eventually(Duration::from_secs(5), || !alive(pid)));
    let log = std::fs::read_to_string(skiff_shim::paths::container_log(&opts.state_dir))
        .unwrap_or_default();
    assert!(!log.contains("never"));
}

#[test]
fn the_shim_survives_its_spawner_and_reconnects() {
    let Some(w) = world() else { return };
    let cfg = w.config("orphan", &["sleep", "100"]);
    let opts = w.options(&cfg);
    // The spawner is a shell that runs `skiff-shim start` and exits.
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("\"$0\" \"$@\"; echo spawner=$$")
        .arg(common::BIN)
        .args(opts.args());
    let out = cmd.output().expect("run spawner");
    assert!(out.status.success(), "{:?}", out);
    let text = String::from_utf8_lossy(&out.stdout);
    let spawner: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("spawner="))
        .and_then(|s| s.parse().ok())
        .expect("spawner pid");
    assert!(!alive(spawner));

    let shim = ShimHandle::connect(&opts.state_dir).expect("reconnect");
    let shim_pid = shim.shim_pid().expect("shim pid");
    assert!(alive(shim_pid));
    let parent = ppid(shim_pid).expect("ppid");
    assert_ne!(parent, spawner);
    assert_ne!(parent, i32::try_from(std::process::id()).unwrap_or(0));
    // Its own session: not in the spawner's process group or session.
    let sid = std::fs::read_to_string(format!("/proc/{shim_pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(4).map(str::to_owned))
        })
        .and_then(|s| s.parse::<i32>().ok())
        .expect("sid");
    assert_ne!(sid, spawner);
    let state = shim.state().expect("state");
    assert_eq!(state.status, Status::Running);
    assert_eq!(
        ppid(state.pid),
        Some(shim_pid),
        "the shim is the container's parent"
    );
    // A second start for the same state dir is refused.
    let err = Shim::spawn(&opts).expect_err("second shim");
    assert!(err.to_string().contains("already running"), "{err}");
    shim.delete(true).expect("delete");
}

#[test]
fn start_errors_are_reported() {
    let Some(w) = world() else { return };
    // A command that does not exist in the rootfs.
    let cfg = w.config("nobin", &["/bin/does-not-exist"]);
    let opts = w.options(&cfg);
    let err = Shim::spawn(&opts).expect_err("missing binary");
    let msg = err.to_string();
    assert!(
        msg.contains("nobin") && msg.contains("does-not-exist"),
        "{msg}"
    );
    assert!(!skiff_shim::paths::socket(&opts.state_dir).exists());
    assert!(!opts.state_dir.join("runtime/nobin").exists());
    // A bundle without a cgroups path.
    let mut cfg = w.config("nocg", &["true"]);
    cfg.cgroups_path = Some(String::new());
    let (bundle, state) = w.write(&cfg);
    let config = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("json");
    spec["linux"]
        .as_object_mut()
        .expect("linux")
        .remove("cgroupsPath");
    std::fs::write(&config, serde_json::to_vec(&spec).expect("encode")).expect("write");
    let opts = skiff_shim::SpawnOptions::new(common::BIN, "nocg", bundle, state);
    let err = Shim::spawn(&opts).expect_err("no cgroups path");
    assert!(err.to_string().contains("cgroupsPath"), "{err}");
    // Bad ids never reach the binary.
    let opts = skiff_shim::SpawnOptions::new(common::BIN, "a/b", "/nonexistent", "/tmp/x");
    assert!(matches!(
        Shim::spawn(&opts),
        Err(skiff_shim::Error::InvalidId { .. })
    ));
}

#[test]
fn logs_can_go_elsewhere_or_nowhere() {
    let Some(w) = world() else { return };
    let custom = w.dir.path().join("custom.log");
    let cfg = w.config("logpath", &["echo", "to-custom"]);
    let mut opts = w.options(&cfg);
    opts.log = LogTarget::Path(custom.clone());
    let shim = Shim::spawn(&opts).expect("spawn");
    shim.wait().expect("wait");
    let mut text = String::new();
    std::fs::File::open(&custom)
        .expect("custom log")
        .read_to_string(&mut text)
        .expect("read");
    assert!(text.contains("to-custom"));
    shim.delete(false).expect("delete");

    let cfg = w.config("nolog", &["echo", "x"]);
    let mut opts = w.options(&cfg);
    opts.log = LogTarget::None;
    let shim = Shim::spawn(&opts).expect("spawn");
    shim.wait().expect("wait");
    assert!(!skiff_shim::paths::container_log(&opts.state_dir).exists());
    shim.delete(false).expect("delete");
}

#[test]
fn large_output_is_complete_and_split_like_docker() {
    let Some(w) = world() else { return };
    // 2000 lines of 100 bytes, then 40000 bytes without a newline.
    let script = "i=0; while [ $i -lt 2000 ]; do printf '%099d\\n' $i; i=$((i+1)); done; \
                  s=xxxxxxxxxx; s=$s$s$s$s$s$s$s$s$s$s; s=$s$s$s$s$s$s$s$s$s$s; \
                  s=$s$s$s$s$s$s$s$s$s$s; printf %s $s$s$s$s";
    let cfg = w.config("bulk", &["sh", "-c", script]);
    let (shim, opts) = w.spawn_created(&cfg, false);
    let attach = shim.attach(all_streams()).expect("attach");
    shim.start().expect("start");
    let got = attach.collect().expect("collect");
    assert_eq!(got.stdout.len(), 2000 * 100 + 40000);
    let log =
        std::fs::read_to_string(skiff_shim::paths::container_log(&opts.state_dir)).expect("log");
    let entries: Vec<jsonlog::Entry> = log
        .lines()
        .map(|l| jsonlog::parse(l.as_bytes()).expect("entry"))
        .collect();
    // 2000 full lines, then 40000 bytes cut at 16 KiB: 16384 + 16384 + 7232.
    assert_eq!(entries.len(), 2003);
    assert_eq!(entries[1999].log, format!("{:099}\n", 1999));
    assert_eq!(entries[2000].log.len(), 16384);
    assert_eq!(entries[2002].log.len(), 40000 - 2 * 16384);
    shim.delete(false).expect("delete");
}

#[test]
fn resources_are_applied_and_oom_kills_are_reported() {
    let Some(w) = world() else { return };
    let mut cfg = w.config(
        "oom",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived",
        ],
    );
    cfg.memory_limit = Some(16 << 20);
    cfg.memory_swap = Some(16 << 20);
    cfg.pids_limit = Some(42);
    cfg.cpu_shares = Some(512);
    let (shim, opts) = w.spawn_created(&cfg, false);
    let cg = |ctrl: &str, file: &str| {
        std::fs::read_to_string(format!(
            "/sys/fs/cgroup/{ctrl}{}/oom/{file}",
            w.cgroup_parent
        ))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes"),
        (16u64 << 20).to_string()
    );
    assert_eq!(cg("pids", "pids.max"), "42");
    assert_eq!(cg("cpu", "cpu.shares"), "512");
    shim.start().expect("start");
    let exit = shim.wait().expect("wait");
    // dd is killed; the shell goes on and prints.
    assert!(exit.oom_killed, "{exit:?}");
    let log =
        std::fs::read_to_string(skiff_shim::paths::container_log(&opts.state_dir)).expect("log");
    assert!(log.contains("survived"), "{log}");
    shim.delete(false).expect("delete");
}

#[test]
fn very_long_state_paths_work() {
    let Some(w) = world() else { return };
    let mut cfg = w.config("longpath", &["sleep", "100"]);
    cfg.tty = true;
    let (bundle, _) = w.write(&cfg);
    let state = w
        .dir
        .path()
        .join("a".repeat(70))
        .join("b".repeat(70))
        .join("longpath");
    assert!(state.join("console.sock").as_os_str().len() > 108);
    w.track(&state);
    let mut opts = skiff_shim::SpawnOptions::new(common::BIN, "longpath", bundle, state);
    opts.stdin = true;
    let shim = Shim::spawn(&opts).expect("spawn");
    let mut req = exec_request(&["tty"], 0);
    req.tty = true;
    let (_, attach) = shim.exec_attach(req, all_streams()).expect("exec tty");
    let got = attach.collect().expect("collect");
    assert!(String::from_utf8_lossy(&got.stdout).contains("/dev/pts/"));
    shim.delete(true).expect("delete");
}
