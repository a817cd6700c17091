//! Faults around running containers (issue 19 §4): a container's process
//! killed with SIGKILL from outside is reported exited with its true code
//! (137), reaped (no zombie), with no mount, cgroup or shim left; and
//! skiffd killed with `docker logs -f` and `docker exec -i` attached: both
//! clients end with an error instead of hanging, and after a restart the
//! container still runs.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use skiff_e2e::util::{mounts_under, wait_timeout, wait_until};
use skiff_e2e::{Skiffd, SkiffdOpts};

/// Whether `/proc/<pid>` exists (a zombie too).
fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_container_killed_from_outside_exits_137_and_leaves_nothing() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let (id, pid) = d.run_sleeper();
    assert!(pid > 0 && exists(pid));
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9 the container's process");
    assert_eq!(d.wait_container_exit(&id), 137);
    // Reaped: not even a zombie is left.
    wait_until("the process to be reaped", Duration::from_secs(10), || {
        !exists(pid)
    });
    let mounts: Vec<String> = mounts_under(d.data_root())
        .into_iter()
        .filter(|m| m.contains(&id))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let cgroups = d.container_cgroup_dirs(&id);
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(
        !d.data_root()
            .join("containers")
            .join(&id)
            .join("shim")
            .join("shim.sock")
            .exists(),
        "the shim is left"
    );
    d.docker_ok(&["rm", &id]);
    d.assert_consistent();
}

#[test]
fn clients_attached_to_a_killed_skiffd_get_an_error_not_a_hang() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while :; do echo tick; sleep 0.2; done",
    ]);
    let mut logs = d
        .docker()
        .command(&["logs", "-f", "chatty"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker logs -f");
    let mut exec = d
        .docker()
        .command(&["exec", "-i", "chatty", "sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec -i");
    // Both streams are live.
    let mut log_lines = BufReader::new(logs.stdout.take().expect("logs stdout")).lines();
    assert_eq!(
        log_lines.next().and_then(Result::ok).as_deref(),
        Some("tick")
    );
    let mut stdin = exec.stdin.take().expect("exec stdin");
    writeln!(stdin, "echo ready").expect("write to exec");
    let mut exec_lines = BufReader::new(exec.stdout.take().expect("exec stdout")).lines();
    assert_eq!(
        exec_lines.next().and_then(Result::ok).as_deref(),
        Some("ready")
    );

    d.kill9();
    // Drain what is buffered; the streams must end.
    let drain = std::thread::spawn(move || log_lines.count());
    let logs_status = wait_timeout(&mut logs, Duration::from_secs(20)).expect("wait logs");
    let exec_status = wait_timeout(&mut exec, Duration::from_secs(20)).expect("wait exec");
    let hung = logs_status.is_none() || exec_status.is_none();
    if hung {
        let _ = logs.kill();
        let _ = exec.kill();
    }
    drop(stdin);
    let _ = drain.join();
    assert!(
        !hung,
        "a client hangs after skiffd died: logs {logs_status:?}, exec {exec_status:?}"
    );
    let mut err = String::new();
    if let Some(mut e) = exec.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    eprintln!(
        "logs -f: {logs_status:?}; exec -i: {exec_status:?} {}",
        err.trim()
    );
    assert!(
        exec_status.is_some_and(|s| !s.success()),
        "exec -i ended without an error: {err}"
    );

    d.restart();
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "chatty"])
            .trim(),
        "running"
    );
    d.docker_ok(&["rm", "-f", "chatty"]);
    d.assert_consistent();
}
