//! The shim daemon: one container, one thread, one poll(2) loop.
//!
//! Everything happens on the main thread: runtime calls, reaping (SIGCHLD
//! self-pipe + `waitpid(-1, WNOHANG)`), copying the container's output to
//! the json log and to attached clients, feeding stdin, and the control
//! socket. Blocking runtime calls (`exec`, `pause`, …) hold the loop for
//! their duration, which is a few milliseconds. `docs/shim.md` is the
//! contract (protocol, state directory, behaviour); the parts:
//!
//! - [`launch`]: `skiff-shim start`: daemonize, report when the container
//!   exists;
//! - [`create`]: build a [`Daemon`]: control socket, log, the container;
//! - [`poll`]: the loop, and which descriptor is served when;
//! - [`clients`]: connections on the control socket, request lines in,
//!   answers and attach frames out;
//! - [`handlers`]: one handler per request kind;
//! - [`io`]: the processes' stdio (json log, attach output, stdin, the
//!   console socket);
//! - [`exits`]: reaping, draining, recording exits, answering waiters;
//! - [`procs`]: the process table (init process and execs);
//! - [`runtime`]: the [`runtime::Runtime`] trait: all the daemon asks of
//!   libcontainer and of the OS about its children; [`youki`] implements
//!   it with libcontainer, the unit tests with a double;
//! - [`filter`]: the seccomp filter loaded into the init process and execs;
//! - [`sys`]: small system helpers (signals, poll, pipes, pty, `lo`);
//! - [`error`]: [`error::DaemonError`], what clients are told.

pub mod clients;
pub mod create;
pub mod error;
pub mod exits;
pub mod filter;
pub mod handlers;
pub mod io;
pub mod launch;
pub mod poll;
pub mod procs;
pub mod runtime;
pub mod sys;
pub mod youki;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oci_spec::runtime::Process;
use skiff_shim::client::LogTarget;
use skiff_shim::paths;

use self::clients::Client;
use self::io::{Console, JsonLog};
use self::procs::Procs;
use self::runtime::Runtime;

/// What `skiff-shim start` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Container id.
    pub id: String,
    /// OCI bundle directory (absolute).
    pub bundle: PathBuf,
    /// State directory (absolute, exists).
    pub state_dir: PathBuf,
    /// Give the container a stdin pipe.
    pub stdin: bool,
    /// Create only; start on a `start` request.
    pub defer_start: bool,
    /// Where output is logged.
    pub log: LogTarget,
    /// Creation timeout.
    pub timeout: Duration,
}

/// The running shim: built by [`create::create`], run by [`Daemon::run`].
pub struct Daemon {
    /// Container id.
    id: String,
    state_dir: PathBuf,
    /// libcontainer and the OS (or a test double).
    runtime: Box<dyn Runtime>,
    /// The container's cgroup, for its OOM kill count.
    cgroups_path: PathBuf,
    /// The container's own process, whose capabilities and
    /// `noNewPrivileges` execs inherit.
    init_process: Process,
    /// The container's compiled seccomp filter, loaded into every exec.
    seccomp: Option<Arc<skiff_shim::seccomp::bpf::Program>>,
    /// `shim.sock`.
    listener: UnixListener,
    console: Console,
    /// Readable when a child has exited.
    sigchld: OwnedFd,
    clients: BTreeMap<u64, Client>,
    next_token: u64,
    procs: Procs,
    /// The json log, unless `--no-log`.
    log: Option<JsonLog>,
    /// Clients whose `delete` waits for the exit.
    pending_deletes: Vec<u64>,
    /// Set by a `delete`: the loop ends once clients are flushed.
    shutdown: Option<Instant>,
    /// One read of process output.
    buf: Vec<u8>,
}

impl Daemon {
    /// Pid of the container's init process.
    pub fn pid(&self) -> i32 {
        self.procs.init.pid
    }

    /// Removes what the shim made in the state directory, except the
    /// records that outlive it (`exit.json`, the logs).
    fn cleanup(&mut self) {
        remove_state(&self.state_dir);
    }
}

/// Removes the socket, pid file, console socket, exec specs, the filtered
/// bundle and the (empty) runtime root of `state_dir`.
pub fn remove_state(state_dir: &std::path::Path) {
    for name in [paths::SOCKET, paths::PID_FILE, paths::CONSOLE_SOCKET] {
        let _ = std::fs::remove_file(state_dir.join(name));
    }
    let _ = std::fs::remove_dir_all(state_dir.join(paths::EXEC_DIR));
    let _ = std::fs::remove_dir_all(state_dir.join(filter::BUNDLE_DIR));
    let _ = std::fs::remove_dir(state_dir.join(paths::RUNTIME_DIR));
}
