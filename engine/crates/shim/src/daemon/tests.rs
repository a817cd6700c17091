//! The daemon's orchestration against the [`super::fake`] runtime: the real
//! poll loop, control socket and client library, with the container's
//! processes played by the test. No root, no kernel features.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use oci_spec::runtime::{Process, Spec};
use skiff_shim::client::LogTarget;
use skiff_shim::protocol::{AttachRequest, ErrorKind, ExecRequest, Status};
use skiff_shim::{Error, ShimHandle, jsonlog, paths};

use super::Options;
use super::create::create;
use super::fake::{self, Call, Handle};

/// How a test's container is set up.
#[derive(Default)]
struct Setup {
    defer_start: bool,
    stdin: bool,
    tty: bool,
    /// Runtime operations that fail, and their messages.
    fail: Vec<(&'static str, &'static str)>,
}

/// A daemon serving one fake container on its own thread.
struct Shim {
    _dir: tempfile::TempDir,
    state_dir: PathBuf,
    fake: Handle,
    client: ShimHandle,
    daemon: Option<JoinHandle<i32>>,
}

impl Drop for Shim {
    fn drop(&mut self) {
        // Ends the daemon's thread if the test did not.
        if self.daemon.as_ref().is_some_and(|d| !d.is_finished()) {
            let _ = self.client.delete(true);
        }
    }
}

fn write_bundle(dir: &Path, tty: bool) {
    let mut spec = Spec::default();
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(tty));
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some("/skiff/c1".into()));
        linux.set_seccomp(None);
    }
    std::fs::create_dir_all(dir).expect("bundle dir");
    spec.save(dir.join("config.json")).expect("config.json");
}

/// Creates the container (starting it unless deferred) and connects.
fn spawn(setup: Setup) -> Result<Shim, (String, Handle)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    let state_dir = dir.path().join("state");
    write_bundle(&bundle, setup.tty);
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let opts = Options {
        id: "c1".into(),
        bundle,
        state_dir: state_dir.clone(),
        stdin: setup.stdin,
        defer_start: setup.defer_start,
        log: LogTarget::Default,
        timeout: Duration::from_secs(10),
    };
    let (sigchld_r, sigchld_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe");
    let (runtime, fake) = fake::new(sigchld_w);
    for (op, msg) in setup.fail {
        fake.fail(op, msg);
    }
    let (tx, rx) = mpsc::channel();
    let daemon = std::thread::spawn(move || match create(&opts, sigchld_r, Box::new(runtime)) {
        Ok(d) => {
            let _ = tx.send(Ok(d.pid()));
            d.run()
        }
        Err(e) => {
            let _ = tx.send(Err(e.message()));
            -1
        }
    });
    match rx.recv().expect("the daemon reports") {
        Ok(pid) => assert_eq!(pid, fake.init_pid()),
        Err(msg) => {
            let _ = daemon.join();
            return Err((msg, fake));
        }
    }
    let client = ShimHandle::connect(&state_dir).expect("connect");
    Ok(Shim {
        _dir: dir,
        state_dir,
        fake,
        client,
        daemon: Some(daemon),
    })
}

fn started(setup: Setup) -> Shim {
    spawn(setup).unwrap_or_else(|(msg, _)| panic!("create failed: {msg}"))
}

impl Shim {
    /// Waits for the daemon to end; its exit code.
    fn join(&mut self) -> i32 {
        self.daemon
            .take()
            .expect("running")
            .join()
            .expect("the daemon does not panic")
    }
}

/// The error kind and message a call got.
fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> (ErrorKind, String) {
    match result {
        Err(Error::Shim { kind, message }) => (kind, message),
        other => panic!("expected an error from the shim, got {other:?}"),
    }
}

fn log_entries(state_dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read(paths::container_log(state_dir)).expect("the json log");
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| jsonlog::parse(l).expect("a log entry"))
        .map(|e| (e.stream, e.log))
        .collect()
}

/// An attach to stdout and stderr.
const OUTPUT: AttachRequest = AttachRequest {
    exec_id: None,
    stdin: false,
    stdout: true,
    stderr: true,
    close_stdin: false,
};

/// A detached exec request of `args`, without capabilities,
/// `noNewPrivileges` or `PATH` (the shim completes them).
fn exec_req(args: &[&str]) -> ExecRequest {
    let mut process = Process::default();
    process.set_args(Some(args.iter().map(|s| (*s).to_owned()).collect()));
    process.set_env(Some(vec!["FOO=bar".to_owned()]));
    process.set_capabilities(None);
    process.set_no_new_privileges(None);
    serde_json::from_value(serde_json::json!({ "process": process })).expect("an exec request")
}

#[test]
fn deferred_start_waits_and_an_early_attach_gets_all_output() {
    let mut shim = started(Setup {
        defer_start: true,
        ..Setup::default()
    });
    let pid = shim.fake.init_pid();
    assert_eq!(shim.client.state().expect("state").status, Status::Created);
    assert!(!shim.fake.calls().contains(&Call::Start), "not started yet");

    let stream = shim.client.attach(OUTPUT).expect("attach");
    shim.client.start().expect("start");
    assert!(shim.fake.calls().contains(&Call::Start));
    let state = shim.client.state().expect("state");
    assert_eq!(state.status, Status::Running);
    assert!(state.started_at.is_some());
    let (kind, msg) = refused(shim.client.start());
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(msg, "container c1 has already been started");

    shim.fake.write(pid, 1, b"hello\n");
    shim.fake.write(pid, 2, b"oops");
    shim.fake.exit(pid, 3);
    let got = stream.collect().expect("collect");
    assert_eq!(got.stdout, b"hello\n");
    assert_eq!(got.stderr, b"oops");
    assert_eq!(got.exit.expect("exit frame").exit_code, 3);

    let exit = shim.client.wait().expect("wait");
    assert_eq!((exit.pid, exit.exit_code, exit.signal), (pid, 3, None));
    let recorded = ShimHandle::read_exit(&shim.state_dir)
        .expect("read exit.json")
        .expect("exit.json");
    assert_eq!(recorded, exit);
    assert_eq!(
        log_entries(&shim.state_dir),
        vec![
            ("stdout".to_owned(), "hello\n".to_owned()),
            ("stderr".to_owned(), "oops".to_owned()),
        ]
    );
    shim.client.delete(false).expect("delete");
    assert_eq!(shim.join(), 0);
}

#[test]
fn kill_is_forwarded_and_the_signal_recorded() {
    let mut shim = started(Setup::default());
    let pid = shim.fake.init_pid();
    assert_eq!(shim.client.state().expect("state").status, Status::Running);
    let (kind, msg) = refused(shim.client.kill(12345));
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::InvalidArgument, "invalid signal 12345")
    );

    shim.client.kill(15).expect("kill");
    assert!(shim.fake.calls().contains(&Call::Kill {
        pid,
        signal: Signal::SIGTERM
    }));
    let exit = shim.client.wait().expect("wait");
    assert_eq!((exit.exit_code, exit.signal), (143, Some(15)));
    assert!(!exit.oom_killed);
    let state = shim.client.state().expect("state");
    assert_eq!(state.status, Status::Exited);
    assert_eq!(state.exit, Some(exit));

    let (kind, msg) = refused(shim.client.kill(9));
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::Conflict, "container c1 is not running")
    );
    shim.client.delete(false).expect("delete");
    assert_eq!(shim.join(), 0);
}

#[test]
fn an_oom_kill_is_read_from_the_runtime_at_exit() {
    let shim = started(Setup::default());
    shim.fake.set_oom_kills(1);
    shim.client.kill(9).expect("kill");
    let exit = shim.client.wait().expect("wait");
    assert_eq!((exit.exit_code, exit.oom_killed), (137, true));
}

#[test]
fn exec_lifecycle() {
    let shim = started(Setup::default());
    let mut req = exec_req(&["echo", "hi"]);
    req.exec_id = Some("e1".into());
    let (info, stream) = shim.client.exec_attach(req.clone(), OUTPUT).expect("exec");
    let (pid, process) = shim.fake.last_exec();
    assert_eq!((info.exec_id.as_str(), info.pid), ("e1", pid));
    // Completed as docs/shim.md says: terminal from tty, the container's
    // capabilities and noNewPrivileges, docker's PATH first.
    assert_eq!(process.terminal(), Some(false));
    assert_eq!(
        process.env().clone().expect("env"),
        vec![
            skiff_shim::bundle::DEFAULT_PATH.to_owned(),
            "FOO=bar".to_owned()
        ]
    );
    let container = Spec::default().process().clone().expect("process");
    assert_eq!(process.capabilities(), container.capabilities());
    assert_eq!(process.no_new_privileges(), container.no_new_privileges());
    assert!(
        !shim
            .state_dir
            .join(paths::EXEC_DIR)
            .join("e1.json")
            .exists(),
        "the process file is removed after use"
    );

    let state = shim.client.exec_state("e1").expect("exec state");
    assert_eq!(
        (state.status, state.exec_id.as_deref()),
        (Status::Running, Some("e1"))
    );
    let (kind, msg) = refused(shim.client.exec(req));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(msg, "exec e1 already exists in container c1");

    shim.fake.write(pid, 1, b"hi\n");
    shim.fake.exit(pid, 7);
    let got = stream.collect().expect("collect");
    assert_eq!(got.stdout, b"hi\n");
    assert_eq!(got.exit.expect("exit frame").exit_code, 7);
    assert_eq!(shim.client.wait_exec("e1").expect("wait").exit_code, 7);
    assert_eq!(
        shim.client.exec_state("e1").expect("state").status,
        Status::Exited
    );
    let (kind, msg) = refused(shim.client.kill_exec("e1", 9));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(msg, "exec e1 of container c1 is not running");
    let (kind, msg) = refused(shim.client.exec_state("nope"));
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::NotFound, "no exec nope in container c1")
    );

    // A detached exec gets an id, its kill is forwarded to it.
    let info = shim.client.exec(exec_req(&["sleep", "9"])).expect("exec");
    assert_eq!(info.exec_id, "exec-1");
    shim.client.kill_exec("exec-1", 15).expect("kill exec");
    assert!(shim.fake.calls().contains(&Call::Kill {
        pid: info.pid,
        signal: Signal::SIGTERM
    }));
    assert_eq!(
        shim.client.wait_exec("exec-1").expect("wait").exit_code,
        143
    );
    // Exec output is not logged, and the container still runs.
    assert!(log_entries(&shim.state_dir).is_empty());
    assert_eq!(shim.client.state().expect("state").status, Status::Running);
}

#[test]
fn runtime_errors_reach_the_client_with_their_message() {
    let shim = started(Setup {
        fail: vec![("exec", "executable 'nope' not found in $PATH")],
        ..Setup::default()
    });
    let (kind, msg) = refused(shim.client.exec(exec_req(&["nope"])));
    assert_eq!(kind, ErrorKind::Internal);
    assert_eq!(
        msg,
        "failed to exec in container c1: executable 'nope' not found in $PATH"
    );
    let (kind, msg) = refused(shim.client.exec(ExecRequest {
        exec_id: Some("a/b".into()),
        ..exec_req(&["true"])
    }));
    assert_eq!(kind, ErrorKind::InvalidArgument);
    assert!(msg.starts_with("invalid exec id \"a/b\": "), "{msg}");
}

#[test]
fn delete_refuses_a_running_container_and_ends_the_shim_after_exit() {
    let mut shim = started(Setup::default());
    let pid = shim.fake.init_pid();
    let (kind, msg) = refused(shim.client.delete(false));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(
        msg,
        "container c1 is running: stop it first or delete with force"
    );
    assert!(!shim.fake.calls().contains(&Call::Delete));

    shim.fake.exit(pid, 0);
    assert_eq!(shim.client.wait().expect("wait").exit_code, 0);
    shim.client.delete(false).expect("delete");
    assert_eq!(shim.join(), 0);
    assert_eq!(shim.fake.calls().last(), Some(&Call::Delete));
    assert!(!paths::socket(&shim.state_dir).exists(), "socket removed");
    assert!(
        paths::exit_file(&shim.state_dir).exists(),
        "exit.json survives delete"
    );
}

#[test]
fn force_delete_of_a_paused_container_kills_thaws_and_deletes() {
    let mut shim = started(Setup::default());
    let pid = shim.fake.init_pid();
    shim.client.pause().expect("pause");
    assert_eq!(shim.client.state().expect("state").status, Status::Paused);
    let (kind, msg) = refused(shim.client.pause());
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::Conflict, "container c1 is already paused")
    );
    let (kind, msg) = refused(shim.client.exec(exec_req(&["true"])));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(msg, "container c1 is paused, unpause it first");

    // The frozen process dies only once thawed: delete must resume it.
    shim.client.delete(true).expect("delete");
    assert_eq!(shim.join(), 0);
    let calls = shim.fake.calls();
    let tail = &calls[calls.len() - 3..];
    assert_eq!(
        tail,
        [
            Call::Kill {
                pid,
                signal: Signal::SIGKILL
            },
            Call::Resume,
            Call::Delete
        ]
    );
    let exit = ShimHandle::read_exit(&shim.state_dir)
        .expect("read")
        .expect("exit.json");
    assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));
}

#[test]
fn pause_and_resume_are_forwarded() {
    let shim = started(Setup::default());
    let (kind, msg) = refused(shim.client.resume());
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::Conflict, "container c1 is not paused")
    );
    shim.client.pause().expect("pause");
    shim.client.resume().expect("resume");
    assert_eq!(shim.client.state().expect("state").status, Status::Running);
    let calls = shim.fake.calls();
    assert_eq!(&calls[calls.len() - 2..], [Call::Pause, Call::Resume]);
}

#[test]
fn stdin_reaches_the_process_and_half_close_closes_it() {
    let shim = started(Setup {
        stdin: true,
        ..Setup::default()
    });
    let pid = shim.fake.init_pid();
    let mut stream = shim
        .client
        .attach(AttachRequest {
            stdin: true,
            close_stdin: true,
            ..AttachRequest::default()
        })
        .expect("attach");
    stream.write_stdin(b"one ").expect("write");
    stream.write_stdin(b"two").expect("write");
    stream.close_stdin().expect("half-close");
    // EOF only once everything written before was delivered.
    assert_eq!(shim.fake.read_stdin(pid), b"one two");
}

#[test]
fn a_failed_start_leaves_nothing_behind() {
    let Err((msg, fake)) = spawn(Setup {
        fail: vec![("start", "exec format error")],
        ..Setup::default()
    }) else {
        panic!("create succeeded");
    };
    assert_eq!(msg, "failed to start container c1: exec format error");
    let pid = fake.init_pid();
    let calls = fake.calls();
    assert_eq!(
        &calls[calls.len() - 4..],
        [
            Call::Start,
            Call::Kill {
                pid,
                signal: Signal::SIGKILL
            },
            Call::WaitFor(pid),
            Call::Delete
        ]
    );
}

#[test]
fn a_tty_gets_the_pty_master_and_resize_sets_its_size() {
    let shim = started(Setup {
        tty: true,
        ..Setup::default()
    });
    let pid = shim.fake.init_pid();
    assert!(shim.client.state().expect("state").tty);
    shim.client.resize(None, 33, 101).expect("resize");
    let slave = shim.fake.pty(pid);
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills one winsize, which lives across the call.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&slave),
            libc::TIOCGWINSZ,
            &raw mut ws,
        )
    };
    assert_eq!(r, 0);
    assert_eq!((ws.ws_row, ws.ws_col), (33, 101));

    let stream = shim.client.attach(OUTPUT).expect("attach");
    shim.fake.write(pid, 1, b"hi");
    drop(slave);
    shim.fake.exit(pid, 0);
    let got = stream.collect().expect("collect");
    assert_eq!(got.stdout, b"hi");
    assert!(got.stderr.is_empty());
    let (kind, msg) = refused(shim.client.resize(None, 1, 1));
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::Conflict, "container c1 is not running")
    );
}

#[test]
fn resize_without_a_tty_is_an_invalid_argument() {
    let shim = started(Setup::default());
    let (kind, msg) = refused(shim.client.resize(None, 24, 80));
    assert_eq!(
        (kind, msg.as_str()),
        (ErrorKind::InvalidArgument, "container c1 has no tty")
    );
}

#[test]
fn an_exit_waits_for_the_output_to_drain_at_most_two_seconds() {
    let shim = started(Setup::default());
    let info = shim
        .client
        .exec(exec_req(&["sh", "-c", "sleep 9 &"]))
        .expect("exec");
    let stream = shim
        .client
        .attach(AttachRequest {
            exec_id: Some(info.exec_id.clone()),
            ..OUTPUT
        })
        .expect("attach");
    let since = std::time::Instant::now();
    let child = shim.fake.exit_leaving_a_child(info.pid, 0);
    // Output written after the reaping, while the pipe is open, is delivered.
    std::fs::File::from(child.try_clone().expect("dup"))
        .write_all(b"late\n")
        .expect("write");
    let got = stream.collect().expect("collect");
    assert_eq!(got.stdout, b"late\n");
    assert_eq!(got.exit.expect("exit frame").exit_code, 0);
    let waited = since.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "the exit is final after the 2 s drain timeout, not at EOF: {waited:?}"
    );
    drop(child);
}
