//! A test double of [`Runtime`]: no kernel features, no root.
//!
//! [`Fake`] is what the daemon gets; the test keeps a [`Handle`] to the same
//! [`World`] and plays the container's processes with it: what they print
//! ([`Handle::write`]), read ([`Handle::read_stdin`]) and when they exit
//! ([`Handle::exit`]). Every runtime call is recorded ([`Handle::calls`]).
//!
//! Like a real container: a process's stdio ends are held until it exits
//! (then the daemon sees EOF), an exit is reported once by `reap` after a
//! byte on the SIGCHLD pipe, SIGTERM/SIGKILL/SIGINT end a process (a paused
//! one only once it is resumed: a frozen process cannot die), and a tty
//! process gets a real pty whose master is sent to the console socket.

use std::collections::BTreeMap;
use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;

use super::error::{DaemonError, Op};
use super::filter::FilterExecutor;
use super::runtime::{ChildExit, ChildStdio, Runtime};

/// A runtime call, as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `clean_stale`.
    CleanStale,
    /// `create` from this bundle; the init process got this pid.
    Create { bundle: PathBuf, pid: i32 },
    /// `loopback_up` in the namespace of this pid.
    LoopbackUp(i32),
    /// `start`.
    Start,
    /// `exec` of this process (read from the file the daemon wrote).
    Exec {
        pid: i32,
        process: Box<Process>,
        tty: bool,
    },
    /// `pause`.
    Pause,
    /// `resume`.
    Resume,
    /// `delete`.
    Delete,
    /// `kill`.
    Kill { pid: i32, signal: Signal },
    /// `wait_for` (blocking reap of a container that failed to set up).
    WaitFor(i32),
}

/// One running fake process: the child's ends of its stdio.
#[derive(Default)]
struct FakeProc {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// A fatal signal that arrived while the container was paused.
    pending_signal: Option<Signal>,
}

/// What the fake runtime and the test share.
pub struct World {
    calls: Vec<Call>,
    next_pid: i32,
    procs: BTreeMap<i32, FakeProc>,
    init_pid: Option<i32>,
    paused: bool,
    exited: Vec<ChildExit>,
    sigchld: OwnedFd,
    fail: BTreeMap<&'static str, String>,
    oom_kills: u64,
}

/// The runtime given to the daemon.
pub struct Fake(Arc<Mutex<World>>);

/// The test's side.
#[derive(Clone)]
pub struct Handle(Arc<Mutex<World>>);

/// A fake runtime whose exits are announced on `sigchld` (the write end of
/// the daemon's SIGCHLD pipe), and the test's handle on it.
pub fn new(sigchld: OwnedFd) -> (Fake, Handle) {
    let world = Arc::new(Mutex::new(World {
        calls: Vec::new(),
        next_pid: 4242,
        procs: BTreeMap::new(),
        init_pid: None,
        paused: false,
        exited: Vec::new(),
        sigchld,
        fail: BTreeMap::new(),
        oom_kills: 0,
    }));
    (Fake(world.clone()), Handle(world))
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

impl World {
    fn spawn(&mut self, stdio: ChildStdio) -> i32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        let proc = match stdio {
            ChildStdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => FakeProc {
                stdin: Some(stdin),
                stdout: Some(stdout),
                stderr: Some(stderr),
                pending_signal: None,
            },
            ChildStdio::Console(path) => {
                let slave = send_pty_master(&path);
                let out = slave.try_clone().expect("dup slave");
                FakeProc {
                    stdin: Some(slave),
                    stdout: Some(out),
                    stderr: None,
                    pending_signal: None,
                }
            }
        };
        self.procs.insert(pid, proc);
        pid
    }

    /// The process ends: its stdio closes, the daemon is told.
    fn exit(&mut self, pid: i32, code: i32, signal: Option<i32>) {
        if self.procs.remove(&pid).is_none() {
            return;
        }
        self.exited.push(ChildExit { pid, code, signal });
        let _ = nix::unistd::write(&self.sigchld, &[0u8]);
    }

    fn failure(&self, op: &'static str, error_op: Op) -> Result<(), DaemonError> {
        match self.fail.get(op) {
            Some(msg) => Err(DaemonError::runtime(
                error_op,
                "c1",
                std::io::Error::other(msg.clone()),
            )),
            None => Ok(()),
        }
    }
}

/// What libcontainer does with `--console-socket`: a new pty, its master
/// sent to the socket; the process gets the slave.
fn send_pty_master(console: &Path) -> OwnedFd {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let sock = UnixStream::connect(console).expect("connect to the console socket");
    let fds = [pty.master.as_raw_fd()];
    let iov = [IoSlice::new(b"/dev/pts/fake")];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .expect("send the pty master");
    pty.slave
}

impl Runtime for Fake {
    fn clean_stale(&mut self) -> Result<(), DaemonError> {
        lock(&self.0).calls.push(Call::CleanStale);
        Ok(())
    }

    fn create(
        &mut self,
        bundle: &Path,
        stdio: ChildStdio,
        _executor: Option<FilterExecutor>,
    ) -> Result<i32, DaemonError> {
        let mut w = lock(&self.0);
        w.failure("create", Op::Create)?;
        let pid = w.spawn(stdio);
        w.init_pid = Some(pid);
        w.calls.push(Call::Create {
            bundle: bundle.to_owned(),
            pid,
        });
        Ok(pid)
    }

    fn loopback_up(&mut self, pid: i32) -> std::io::Result<()> {
        lock(&self.0).calls.push(Call::LoopbackUp(pid));
        Ok(())
    }

    fn start(&mut self) -> Result<(), DaemonError> {
        let mut w = lock(&self.0);
        w.calls.push(Call::Start);
        w.failure("start", Op::Start)
    }

    fn exec(
        &mut self,
        process: &Path,
        stdio: ChildStdio,
        tty: bool,
        _executor: Option<FilterExecutor>,
    ) -> Result<i32, DaemonError> {
        let text = std::fs::read(process).expect("the exec's process file");
        let process: Process = serde_json::from_slice(&text).expect("an OCI process");
        let mut w = lock(&self.0);
        w.failure("exec", Op::Exec)?;
        let pid = w.spawn(stdio);
        w.calls.push(Call::Exec {
            pid,
            process: Box::new(process),
            tty,
        });
        Ok(pid)
    }

    fn pause(&mut self) -> Result<(), DaemonError> {
        let mut w = lock(&self.0);
        w.calls.push(Call::Pause);
        w.failure("pause", Op::Pause)?;
        w.paused = true;
        Ok(())
    }

    fn resume(&mut self) -> Result<(), DaemonError> {
        let mut w = lock(&self.0);
        w.calls.push(Call::Resume);
        w.paused = false;
        let pending: Vec<(i32, Signal)> = w
            .procs
            .iter_mut()
            .filter_map(|(pid, p)| Some((*pid, p.pending_signal.take()?)))
            .collect();
        for (pid, sig) in pending {
            w.exit(pid, 128 + sig as i32, Some(sig as i32));
        }
        Ok(())
    }

    fn delete(&mut self) -> Result<(), DaemonError> {
        let mut w = lock(&self.0);
        w.calls.push(Call::Delete);
        w.failure("delete", Op::Delete)
    }

    fn kill(&mut self, pid: i32, signal: Signal) -> Result<(), Errno> {
        let mut w = lock(&self.0);
        w.calls.push(Call::Kill { pid, signal });
        let paused = w.paused;
        let Some(p) = w.procs.get_mut(&pid) else {
            return Err(Errno::ESRCH);
        };
        if matches!(signal, Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT) {
            if paused {
                p.pending_signal = Some(signal);
            } else {
                w.exit(pid, 128 + signal as i32, Some(signal as i32));
            }
        }
        Ok(())
    }

    fn wait_for(&mut self, pid: i32) {
        let mut w = lock(&self.0);
        w.calls.push(Call::WaitFor(pid));
        w.exited.retain(|e| e.pid != pid);
    }

    fn reap(&mut self) -> Vec<ChildExit> {
        std::mem::take(&mut lock(&self.0).exited)
    }

    fn oom_kills(&self, _cgroups_path: &Path) -> Option<u64> {
        Some(lock(&self.0).oom_kills)
    }
}

impl Handle {
    /// Every runtime call so far.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.0).calls.clone()
    }

    /// The container's init process.
    pub fn init_pid(&self) -> i32 {
        lock(&self.0).init_pid.expect("a created container")
    }

    /// The pid of the last exec.
    pub fn last_exec(&self) -> (i32, Process) {
        lock(&self.0)
            .calls
            .iter()
            .rev()
            .find_map(|c| match c {
                Call::Exec { pid, process, .. } => Some((*pid, (**process).clone())),
                _ => None,
            })
            .expect("an exec")
    }

    /// Makes the next `op` ("create", "start", "exec", "pause", "delete")
    /// fail with `message`.
    pub fn fail(&self, op: &'static str, message: &str) {
        lock(&self.0).fail.insert(op, message.to_owned());
    }

    /// Sets the OOM kill count of the container's cgroup.
    pub fn set_oom_kills(&self, n: u64) {
        lock(&self.0).oom_kills = n;
    }

    /// Process `pid` writes `data` to its stdout (1, or its pty) or
    /// stderr (2).
    pub fn write(&self, pid: i32, stream: u8, data: &[u8]) {
        let w = lock(&self.0);
        let p = w.procs.get(&pid).expect("a running process");
        let fd = if stream == 2 { &p.stderr } else { &p.stdout };
        let fd = fd.as_ref().expect("that stream");
        let mut file = std::fs::File::from(fd.try_clone().expect("dup"));
        file.write_all(data).expect("write the process's output");
    }

    /// Process `pid` reads its stdin to the end.
    pub fn read_stdin(&self, pid: i32) -> Vec<u8> {
        let fd = {
            let mut w = lock(&self.0);
            let p = w.procs.get_mut(&pid).expect("a running process");
            p.stdin.take().expect("a stdin")
        };
        let mut data = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut data)
            .expect("read stdin");
        data
    }

    /// The pty slave of tty process `pid`.
    pub fn pty(&self, pid: i32) -> OwnedFd {
        let w = lock(&self.0);
        let p = w.procs.get(&pid).expect("a running process");
        p.stdout.as_ref().expect("a pty").try_clone().expect("dup")
    }

    /// Process `pid` exits with `code`.
    pub fn exit(&self, pid: i32, code: i32) {
        lock(&self.0).exit(pid, code, None);
    }

    /// Process `pid` exits with `code`, leaving a background child that
    /// holds its stdout open; the returned descriptor is that child's.
    pub fn exit_leaving_a_child(&self, pid: i32, code: i32) -> OwnedFd {
        let mut w = lock(&self.0);
        let child = w
            .procs
            .get_mut(&pid)
            .and_then(|p| p.stdout.take())
            .expect("a running process with a stdout");
        w.exit(pid, code, None);
        child
    }
}
