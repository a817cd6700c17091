//! [`Runtime`]: what the shim daemon asks of the container runtime and of
//! the OS about its children, behind one trait (as youki hides its syscalls
//! behind `Syscall`).
//!
//! The daemon's orchestration (the request handlers, reaping, exits, the
//! order of create / start / delete) is written against this trait only.
//! [`super::youki::Youki`] is the real implementation (libcontainer and
//! `waitpid`/`kill`); the unit tests use a double that records the calls and
//! lets a test play the container's processes.
//!
//! Contract of an implementation:
//! - one value manages one container, created once by [`Runtime::create`];
//! - every process it starts (the init process, execs) is a child of the
//!   calling process, reported once by [`Runtime::reap`] when it exits, and
//!   the daemon's SIGCHLD descriptor becomes readable when one does;
//! - [`Runtime::kill`] is only asked about such unreaped children, so their
//!   pids cannot have been reused.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::error::DaemonError;
use super::filter::FilterExecutor;

/// The stdio of a new process.
pub enum ChildStdio {
    /// Pipes (or /dev/null) to become fds 0, 1 and 2.
    Pipes {
        /// Becomes fd 0.
        stdin: OwnedFd,
        /// Becomes fd 1.
        stdout: OwnedFd,
        /// Becomes fd 2.
        stderr: OwnedFd,
    },
    /// A pty whose master the runtime sends to this listening socket
    /// (`SCM_RIGHTS`, as runc's and libcontainer's `--console-socket`).
    Console(PathBuf),
}

/// A child process that has exited, as `waitpid` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildExit {
    /// Its pid.
    pub pid: i32,
    /// docker's exit code: the exit status, or 128 + the signal.
    pub code: i32,
    /// The signal that killed it.
    pub signal: Option<i32>,
}

/// The container runtime and the OS, as the shim daemon uses them.
pub trait Runtime {
    /// Removes state a shim that died left for this container (killing what
    /// is still alive in its cgroup).
    fn clean_stale(&mut self) -> Result<(), DaemonError>;

    /// Creates the container from `bundle`: on return its init process
    /// exists, set up and waiting to be started; returns its pid.
    /// `executor` loads the seccomp filter into it.
    fn create(
        &mut self,
        bundle: &Path,
        stdio: ChildStdio,
        executor: Option<FilterExecutor>,
    ) -> Result<i32, DaemonError>;

    /// Brings `lo` up in the network namespace of `pid` when it is not the
    /// shim's own.
    fn loopback_up(&mut self, pid: i32) -> io::Result<()>;

    /// Starts the created container: its init process `execve`s the
    /// command.
    fn start(&mut self) -> Result<(), DaemonError>;

    /// Runs the process described by the JSON file `process` in the running
    /// container; returns its pid once it has `execve`d (with `tty`, once it
    /// is set up: the master comes on the console socket).
    fn exec(
        &mut self,
        process: &Path,
        stdio: ChildStdio,
        tty: bool,
        executor: Option<FilterExecutor>,
    ) -> Result<i32, DaemonError>;

    /// Freezes the container's cgroup.
    fn pause(&mut self) -> Result<(), DaemonError>;

    /// Thaws the container's cgroup.
    fn resume(&mut self) -> Result<(), DaemonError>;

    /// Removes the container's cgroup and runtime state (killing whatever
    /// is left in the cgroup).
    fn delete(&mut self) -> Result<(), DaemonError>;

    /// Sends `signal` to the child `pid`.
    fn kill(&mut self, pid: i32, signal: Signal) -> Result<(), Errno>;

    /// Blocks until the child `pid` has exited, and reaps it (only for a
    /// container that could not be set up; the loop uses [`Runtime::reap`]).
    fn wait_for(&mut self, pid: i32);

    /// Reaps every child that has exited, without blocking; unknown
    /// children included (the caller ignores them).
    fn reap(&mut self) -> Vec<ChildExit>;

    /// How many processes the OOM killer killed in the cgroup, if readable.
    fn oom_kills(&self, cgroups_path: &Path) -> Option<u64>;
}
