//! `skiff-shim start`: daemonize a shim and report when its container exists.
//!
//! The process run by skiffd forks; the child calls `setsid` and forks the
//! shim daemon, then exits, so the daemon is nobody's child but init's (or
//! the nearest subreaper's) and outlives skiffd. The daemon reports on a
//! pipe — one JSON line, `{"ok":{…}}` or `{"error":{…}}` — once the container
//! is created (and started); the first process prints that line and exits
//! 0 or 1.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid, fork, setsid};
use skiff_shim::client::LogTarget;
use skiff_shim::paths;
use skiff_shim::protocol::{ErrorKind, Response, ShimError, StartReport};

use super::create::create;
use super::error::DaemonError;
use super::youki::Youki;
use super::{Options, remove_state, sys};

fn error_line(message: &str) -> String {
    let r: Response<StartReport> = Response::Error(ShimError {
        kind: ErrorKind::Internal,
        message: message.to_owned(),
    });
    serde_json::to_string(&r).unwrap_or_else(|_| "{\"error\":{}}".into())
}

/// Prints the failure the way a successful start prints its report.
pub fn fail(message: &str) -> i32 {
    println!("{}", error_line(message));
    eprintln!("skiff-shim: {message}");
    1
}

/// Closes every descriptor above stderr: whatever the spawner leaked to us
/// would otherwise live as long as the shim (and reach the container).
fn close_inherited_fds() {
    // SAFETY: close_range(2) only closes descriptors; this runs first thing in
    // a single-threaded process that owns none above 2 yet.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc/self/fd lists.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: as above; closing an already closed descriptor (the one
        // read_dir used) just fails with EBADF.
        unsafe { libc::close(fd) };
    }
}

/// Checks and prepares everything that can be checked before forking.
fn prepare(opts: &mut Options) -> Result<(), DaemonError> {
    let id = opts.id.clone();
    paths::validate_id(&id).map_err(|reason| DaemonError::InvalidId {
        id: id.clone(),
        reason,
    })?;
    opts.bundle = opts
        .bundle
        .canonicalize()
        .map_err(|source| DaemonError::Bundle {
            id: id.clone(),
            path: opts.bundle.clone(),
            source,
        })?;
    let config = opts.bundle.join("config.json");
    if !config.is_file() {
        return Err(DaemonError::NoConfig { id, config });
    }
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(|e| DaemonError::path("cannot create state directory", &opts.state_dir, e))?;
    opts.state_dir = opts
        .state_dir
        .canonicalize()
        .map_err(|e| DaemonError::path("state directory", &opts.state_dir, e))?;
    let socket = paths::socket(&opts.state_dir);
    if socket.exists() {
        if paths::connect(&socket).is_ok() {
            return Err(DaemonError::AlreadyRunning { id, socket });
        }
        std::fs::remove_file(&socket)
            .map_err(|e| DaemonError::path("cannot remove stale socket", &socket, e))?;
    }
    let exit = paths::exit_file(&opts.state_dir);
    match std::fs::remove_file(&exit) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DaemonError::path("cannot remove old", &exit, e)),
    }
    if let LogTarget::Path(p) = &opts.log
        && p.is_relative()
    {
        let cwd = std::env::current_dir().map_err(|source| DaemonError::Setup {
            what: "current directory",
            source,
        })?;
        opts.log = LogTarget::Path(cwd.join(p));
    }
    Ok(())
}

/// Runs `skiff-shim start`; returns the process exit code.
pub fn start(mut opts: Options) -> i32 {
    close_inherited_fds();
    if let Err(e) = prepare(&mut opts) {
        return fail(&e.message());
    }
    let (ready_r, ready_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot create a pipe: {e}")),
    };
    // SAFETY: this process has not started any thread, so the child is a
    // complete copy of a single-threaded process and may run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(ready_w);
            let _ = nix::sys::wait::waitpid(child, None);
            report(ready_r, &opts)
        }
        Ok(ForkResult::Child) => {
            drop(ready_r);
            let _ = setsid();
            // SAFETY: still single-threaded, as above.
            match unsafe { fork() } {
                Ok(ForkResult::Parent { .. }) => {
                    // SAFETY: _exit skips atexit handlers and stdio flushing,
                    // which belong to the parent.
                    unsafe { libc::_exit(0) }
                }
                Ok(ForkResult::Child) => std::process::exit(daemon_main(opts, ready_w)),
                // SAFETY: as above.
                Err(_) => unsafe { libc::_exit(1) },
            }
        }
        Err(e) => fail(&format!("cannot fork the shim: {e}")),
    }
}

/// Waits for the daemon's report line and prints it.
fn report(ready: OwnedFd, opts: &Options) -> i32 {
    let deadline = Instant::now() + opts.timeout;
    let mut file = File::from(ready);
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = [libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        match sys::poll(&mut pfd, ms) {
            Ok(0) if left.is_zero() => {
                let pid_file = opts.state_dir.join(paths::PID_FILE);
                let pid = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok());
                if let Some(pid) = pid {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                return fail(&format!(
                    "timed out after {:?} creating container {}",
                    opts.timeout, opts.id
                ));
            }
            Ok(0) => continue,
            Ok(_) => {}
            Err(e) => {
                return fail(&format!(
                    "waiting for the shim of container {}: {e}",
                    opts.id
                ));
            }
        }
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if line.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return fail(&format!("reading the shim's report: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&line);
    let text = text.lines().next().unwrap_or("").trim();
    match serde_json::from_str::<Response<StartReport>>(text) {
        Ok(Response::Ok(_)) => {
            println!("{text}");
            0
        }
        Ok(Response::Error(e)) => fail(&e.message),
        Err(_) => fail(&format!(
            "the shim of container {} exited without reporting (see {})",
            opts.id,
            opts.state_dir.join(paths::SHIM_LOG).display()
        )),
    }
}

fn send(ready: &mut File, line: &str) {
    let _ = ready.write_all(format!("{line}\n").as_bytes());
}

/// Redirects fd 0 and 1 to /dev/null and fd 2 to `log`.
fn redirect_stdio(log: &Path) -> std::io::Result<File> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    let log_file = File::options().create(true).append(true).open(log)?;
    for (src, dst) in [(&null, 0), (&null, 1), (&log_file, 2)] {
        // SAFETY: dup2 on descriptors we own onto the standard ones; nothing
        // else in this single-threaded process uses them concurrently.
        if unsafe { libc::dup2(src.as_raw_fd(), dst) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(log_file)
}

/// The daemon: set up, create the container, report, serve.
fn daemon_main(opts: Options, ready: OwnedFd) -> i32 {
    let mut ready = File::from(ready);
    let shim_log = opts.state_dir.join(paths::SHIM_LOG);
    let log_file = match redirect_stdio(&shim_log) {
        Ok(f) => f,
        Err(e) => {
            send(
                &mut ready,
                &error_line(&format!("cannot set up stdio: {e}")),
            );
            return 1;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_SHIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libcgroups=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        // A failed write to the log (a full disk) must not turn into an
        // `eprintln!` to the same full file, which panics.
        .log_internal_errors(false)
        .with_writer(Arc::new(log_file))
        .try_init();
    let _ = std::env::set_current_dir("/");
    let pid_file = opts.state_dir.join(paths::PID_FILE);
    let _ = std::fs::write(&pid_file, format!("{}\n", std::process::id()));

    let root = opts.state_dir.join(paths::RUNTIME_DIR);
    let runtime = Box::new(Youki::new(&opts.id, &root));
    let created = sys::install_signal_handlers()
        .map_err(|source| DaemonError::Setup {
            what: "cannot install signal handlers",
            source,
        })
        .and_then(|sigchld| create(&opts, sigchld, runtime));
    match created {
        Ok(daemon) => {
            let report: Response<StartReport> = Response::Ok(StartReport {
                shim_pid: i32::try_from(std::process::id()).unwrap_or(-1),
                pid: daemon.pid(),
            });
            match serde_json::to_string(&report) {
                Ok(line) => send(&mut ready, &line),
                Err(e) => send(&mut ready, &error_line(&e.to_string())),
            }
            drop(ready);
            daemon.run()
        }
        Err(e) => {
            let msg = e.message();
            tracing::error!("{msg}");
            // Clean up before reporting: the caller may look right away.
            remove_state(&opts.state_dir);
            send(&mut ready, &error_line(&msg));
            1
        }
    }
}
