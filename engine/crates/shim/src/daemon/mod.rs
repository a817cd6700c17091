//! The shim daemon: one container, one thread, one poll(2) loop.
//!
//! Everything happens on the main thread: libcontainer calls, reaping
//! (SIGCHLD self-pipe + `waitpid(-1, WNOHANG)`), copying the container's
//! output to the json log and to attached clients, feeding stdin, and the
//! control socket. Blocking libcontainer calls (`exec`, `pause`, …) hold the
//! loop for their duration, which is a few milliseconds.

pub mod filter;
pub mod launch;
pub mod runtime;
pub mod sys;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use oci_spec::runtime::{Process, Spec};
use serde::Serialize;
use skiff_shim::client::LogTarget;
use skiff_shim::jsonlog::{self, LineSplitter};
use skiff_shim::paths;
use skiff_shim::protocol::{
    AttachRequest, Empty, ErrorKind, ExecInfo, ExecRequest, ExitStatus, ProcessState, Request,
    Response, STREAM_EXIT, STREAM_STDERR, STREAM_STDOUT, ShimError, Status, encode_frame,
};

use self::runtime::ChildStdio;

/// How long output is still read after a process was reaped, for
/// descendants that keep its pipes open (an exec's background children).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Above this many unsent bytes for one attached client, the process's output
/// is no longer read (backpressure, as docker's attach does).
const CLIENT_HIGH_WATER: usize = 1 << 20;
/// Above this many bytes waiting for the process's stdin, clients are no
/// longer read.
const STDIN_HIGH_WATER: usize = 256 << 10;
/// Largest request line.
const MAX_REQUEST: usize = 1 << 20;
/// Size of one read from a process's output.
const READ_CHUNK: usize = 64 << 10;
/// Exited execs kept for `state`/`wait` before the oldest are forgotten.
const MAX_EXITED_EXECS: usize = 128;

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

/// `None` is the container's init process, `Some(id)` an exec.
type Key = Option<String>;

struct Output {
    fd: Option<OwnedFd>,
    stream: u8,
    splitter: LineSplitter,
}

struct StdinPipe {
    fd: OwnedFd,
    buf: Vec<u8>,
    close_requested: bool,
}

struct Reaped {
    code: i32,
    signal: Option<i32>,
    finished_at: String,
    deadline: Instant,
}

struct Proc {
    exec_id: Option<String>,
    pid: i32,
    tty: bool,
    master: Option<OwnedFd>,
    outputs: Vec<Output>,
    stdin: Option<StdinPipe>,
    status: Status,
    created_at: String,
    started_at: Option<String>,
    reaped: Option<Reaped>,
    exit: Option<ExitStatus>,
    attached: Vec<u64>,
    waiters: Vec<u64>,
}

impl Proc {
    fn new(exec_id: Option<String>, pid: i32, io: ParentIo) -> Self {
        Proc {
            exec_id,
            pid,
            tty: io.master.is_some(),
            master: io.master,
            outputs: io.outputs,
            stdin: io.stdin,
            status: Status::Created,
            created_at: jsonlog::now(),
            started_at: None,
            reaped: None,
            exit: None,
            attached: Vec::new(),
            waiters: Vec::new(),
        }
    }

    fn state(&self, id: &str) -> ProcessState {
        ProcessState {
            id: id.to_owned(),
            exec_id: self.exec_id.clone(),
            pid: self.pid,
            status: self.status,
            tty: self.tty,
            created_at: self.created_at.clone(),
            started_at: self.started_at.clone(),
            exit: self.exit.clone(),
        }
    }

    fn outputs_open(&self) -> bool {
        self.outputs.iter().any(|o| o.fd.is_some())
    }

    /// "container c1" or "exec e1 of container c1", for messages.
    fn name(&self, id: &str) -> String {
        match &self.exec_id {
            Some(e) => format!("exec {e} of container {id}"),
            None => format!("container {id}"),
        }
    }

    fn running(&self) -> bool {
        self.reaped.is_none() && matches!(self.status, Status::Running | Status::Paused)
    }
}

/// The shim's side of a new process's stdio.
struct ParentIo {
    master: Option<OwnedFd>,
    outputs: Vec<Output>,
    stdin: Option<StdinPipe>,
}

impl ParentIo {
    /// Pipes for a process without a tty: the child's ends and ours.
    fn pipes(want_stdin: bool) -> io::Result<(ChildStdio, ParentIo)> {
        let (stdin_child, stdin_ours) = if want_stdin {
            let (r, w) = sys::pipe()?;
            sys::set_nonblocking(&w)?;
            (r, Some(w))
        } else {
            (sys::dev_null()?, None)
        };
        let (out_r, out_w) = sys::pipe()?;
        let (err_r, err_w) = sys::pipe()?;
        sys::set_nonblocking(&out_r)?;
        sys::set_nonblocking(&err_r)?;
        let child = ChildStdio::Pipes {
            stdin: stdin_child,
            stdout: out_w,
            stderr: err_w,
        };
        let ours = ParentIo {
            master: None,
            outputs: vec![output(out_r, STREAM_STDOUT), output(err_r, STREAM_STDERR)],
            stdin: stdin_ours.map(stdin_pipe),
        };
        Ok((child, ours))
    }

    /// Our side of a pty: reads and (with stdin) writes go to the master.
    fn pty(master: OwnedFd, want_stdin: bool) -> io::Result<ParentIo> {
        sys::set_nonblocking(&master)?;
        let reader = master.try_clone()?;
        let stdin = if want_stdin {
            Some(stdin_pipe(master.try_clone()?))
        } else {
            None
        };
        Ok(ParentIo {
            master: Some(master),
            outputs: vec![output(reader, STREAM_STDOUT)],
            stdin,
        })
    }
}

fn output(fd: OwnedFd, stream: u8) -> Output {
    Output {
        fd: Some(fd),
        stream,
        splitter: LineSplitter::default(),
    }
}

fn stdin_pipe(fd: OwnedFd) -> StdinPipe {
    StdinPipe {
        fd,
        buf: Vec::new(),
        close_requested: false,
    }
}

#[derive(Clone)]
struct Attach {
    key: Key,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    close_stdin: bool,
}

enum Mode {
    /// Reading request lines.
    Request,
    /// A `wait` or `delete` is pending; its answer comes later.
    Parked,
    /// The connection is an attach stream.
    Attached(Attach),
    /// Only flushing what is queued, then closing.
    Closing,
}

struct Client {
    sock: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    mode: Mode,
    read_eof: bool,
    close_after_flush: bool,
    dead: bool,
}

impl Client {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn queue<T: Serialize>(&mut self, response: &Response<T>) {
        match serde_json::to_vec(response) {
            Ok(mut line) => {
                line.push(b'\n');
                self.out.extend_from_slice(&line);
            }
            Err(e) => tracing::error!("cannot encode a response: {e}"),
        }
    }

    fn queue_exit(&mut self, exit: &ExitStatus) {
        if let Ok(json) = serde_json::to_vec(exit) {
            encode_frame(STREAM_EXIT, &json, &mut self.out);
        }
        self.mode = Mode::Closing;
        self.close_after_flush = true;
    }
}

#[derive(Clone)]
enum Tag {
    Listener,
    Signal,
    Client(u64),
    Output(Key, usize),
    Stdin(Key),
}

fn lookup<'a>(
    init: &'a mut Proc,
    execs: &'a mut BTreeMap<String, Proc>,
    key: &Key,
) -> Option<&'a mut Proc> {
    match key {
        None => Some(init),
        Some(k) => execs.get_mut(k),
    }
}

/// The running shim.
pub struct Daemon {
    id: String,
    state_dir: PathBuf,
    root: PathBuf,
    container: Container,
    cgroups_path: PathBuf,
    init_process: Process,
    /// The container's compiled seccomp filter, loaded into every exec.
    seccomp: Option<Arc<skiff_shim::seccomp::bpf::Program>>,
    listener: UnixListener,
    console_path: PathBuf,
    console: Option<UnixListener>,
    sigchld: OwnedFd,
    clients: BTreeMap<u64, Client>,
    next_token: u64,
    init: Proc,
    execs: BTreeMap<String, Proc>,
    exec_order: Vec<String>,
    exec_counter: u64,
    log: Option<File>,
    log_failed: bool,
    pending_deletes: Vec<u64>,
    shutdown: Option<Instant>,
    buf: Vec<u8>,
}

/// Builds a daemon: binds the control socket, creates the container (and
/// starts it unless deferred). On error nothing is left running.
pub fn create(opts: &Options, sigchld: OwnedFd) -> Result<Daemon, String> {
    let id = opts.id.clone();
    let socket_path = paths::socket(&opts.state_dir);
    let listener = paths::bind(&socket_path)
        .map_err(|e| format!("cannot bind {}: {e}", socket_path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot configure {}: {e}", socket_path.display()))?;

    let config = opts.bundle.join("config.json");
    let spec = Spec::load(&config).map_err(|e| format!("cannot load {}: {e}", config.display()))?;
    let init_process = spec
        .process()
        .clone()
        .ok_or_else(|| format!("{} has no process", config.display()))?;
    let tty = init_process.terminal().unwrap_or(false);
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .ok_or_else(|| {
            format!(
                "{} has no linux.cgroupsPath (the shim needs one, e.g. /skiff/{id})",
                config.display()
            )
        })?;

    let log = match &opts.log {
        LogTarget::None => None,
        target => {
            let path = match target {
                LogTarget::Path(p) => p.clone(),
                _ => paths::container_log(&opts.state_dir),
            };
            let file = File::options()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open log {}: {e}", path.display()))?;
            Some(file)
        }
    };

    let root = opts.state_dir.join(paths::RUNTIME_DIR);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    runtime::clean_stale(&id, &root)?;
    let exec_dir = opts.state_dir.join(paths::EXEC_DIR);
    std::fs::create_dir_all(&exec_dir)
        .map_err(|e| format!("cannot create {}: {e}", exec_dir.display()))?;

    let console_path = opts.state_dir.join(paths::CONSOLE_SOCKET);
    let _ = std::fs::remove_file(&console_path);
    let console = if tty {
        Some(bind_console(&console_path)?)
    } else {
        None
    };

    let (child_stdio, pipes) = if tty {
        (ChildStdio::Console(console_path.clone()), None)
    } else {
        let (child, ours) = ParentIo::pipes(opts.stdin)
            .map_err(|e| format!("cannot create stdio pipes for container {id}: {e}"))?;
        (child, Some(ours))
    };

    let shim_log = opts.state_dir.join(paths::SHIM_LOG);
    let log_offset = file_len(&shim_log);
    let prepared = filter::prepare_init(&spec, &opts.bundle, &opts.state_dir)?;
    let mut container =
        runtime::create(&id, &root, &prepared.bundle, child_stdio, prepared.executor)
            .map_err(|msg| with_cause(msg, &shim_log, log_offset))?;
    let Some(pid) = container.pid().map(|p| p.as_raw()) else {
        let _ = runtime::delete(&mut container);
        return Err(format!("container {id} was created without a pid"));
    };

    // From here on, a failure must not leave the created container behind.
    let finish = (|| -> Result<ParentIo, String> {
        let io = match pipes {
            Some(io) => io,
            None => {
                let listener = console
                    .as_ref()
                    .ok_or_else(|| format!("container {id}: no console socket"))?;
                let master = sys::receive_master(listener, Duration::from_secs(10))
                    .map_err(|e| format!("container {id}: no pty master: {e}"))?;
                ParentIo::pty(master, opts.stdin)
                    .map_err(|e| format!("container {id}: pty master: {e}"))?
            }
        };
        sys::loopback_up(pid).map_err(|e| format!("cannot bring lo up in container {id}: {e}"))?;
        Ok(io)
    })();
    let io = match finish {
        Ok(io) => io,
        Err(msg) => {
            destroy(&mut container, pid);
            return Err(msg);
        }
    };

    let mut init = Proc::new(None, pid, io);
    if !opts.defer_start {
        if let Err(msg) = runtime::start(&mut container) {
            destroy(&mut container, pid);
            return Err(msg);
        }
        init.status = Status::Running;
        init.started_at = Some(jsonlog::now());
    }

    Ok(Daemon {
        id,
        state_dir: opts.state_dir.clone(),
        root,
        container,
        cgroups_path,
        init_process,
        seccomp: prepared.program,
        listener,
        console_path,
        console,
        sigchld,
        clients: BTreeMap::new(),
        next_token: 1,
        init,
        execs: BTreeMap::new(),
        exec_order: Vec::new(),
        exec_counter: 0,
        log,
        log_failed: false,
        pending_deletes: Vec::new(),
        shutdown: None,
        buf: vec![0u8; READ_CHUNK],
    })
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// libcontainer sends only the top of an error chain across its process
/// boundary ("failed to prepare rootfs"); the cause is in the ERROR lines
/// its processes logged to `shim.log`. Appends the first one logged since
/// `offset` when it adds something.
fn with_cause(msg: String, log: &Path, offset: u64) -> String {
    use std::io::{Seek, SeekFrom};
    let mut text = String::new();
    let read = File::open(log).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.take(64 * 1024).read_to_string(&mut text)
    });
    if read.is_err() {
        return msg;
    }
    let cause = text.lines().find_map(|line| {
        let rest = line.split_once(" ERROR ")?.1;
        // "<target>: <message>"
        let message = rest.split_once(": ").map_or(rest, |(_, m)| m).trim();
        (!message.is_empty() && !msg.contains(message)).then(|| message.to_owned())
    });
    match cause {
        Some(cause) => format!("{msg} (cause: {cause})"),
        None => msg,
    }
}

fn bind_console(path: &Path) -> Result<UnixListener, String> {
    paths::bind(path).map_err(|e| format!("cannot bind console socket {}: {e}", path.display()))
}

/// Kills and reaps a container that could not be set up, and deletes it.
fn destroy(container: &mut Container, pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
    if let Err(e) = runtime::delete(container) {
        tracing::error!("{e}");
    }
}

impl Daemon {
    /// Pid of the container's init process.
    pub fn pid(&self) -> i32 {
        self.init.pid
    }

    /// Runs until the container is deleted; returns the exit code.
    pub fn run(mut self) -> i32 {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut tags: Vec<Tag> = Vec::new();
        // A SIGCHLD may have come before the loop (a process that exited at
        // once); reap before the first poll.
        self.reap();
        loop {
            if let Some(since) = self.shutdown {
                let flushed = self.clients.values().all(|c| c.pending() == 0);
                if flushed || since.elapsed() > Duration::from_secs(2) {
                    break;
                }
            }
            fds.clear();
            tags.clear();
            self.interest(&mut fds, &mut tags);
            if let Err(e) = sys::poll(&mut fds, self.poll_timeout()) {
                tracing::error!("poll failed: {e}");
                return 1;
            }
            for (pfd, tag) in fds.iter().zip(tags.iter()) {
                if pfd.revents == 0 {
                    continue;
                }
                match tag {
                    Tag::Listener => self.accept(),
                    Tag::Signal => {
                        sys::drain(&self.sigchld);
                        self.reap();
                    }
                    Tag::Client(t) => self.on_client(*t, pfd.revents),
                    Tag::Output(key, idx) => self.on_output(key, *idx),
                    Tag::Stdin(key) => self.on_stdin(key),
                }
            }
            self.check_exits();
            self.flush_clients();
            self.remove_dead();
        }
        self.cleanup();
        0
    }

    fn procs(&self) -> impl Iterator<Item = (Key, &Proc)> {
        std::iter::once((None, &self.init))
            .chain(self.execs.iter().map(|(k, p)| (Some(k.clone()), p)))
    }

    fn interest(&self, fds: &mut Vec<libc::pollfd>, tags: &mut Vec<Tag>) {
        let mut push = |fd: i32, events: i16, tag: Tag| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tags.push(tag);
        };
        if self.shutdown.is_none() {
            push(self.listener.as_raw_fd(), libc::POLLIN, Tag::Listener);
        }
        push(self.sigchld.as_raw_fd(), libc::POLLIN, Tag::Signal);
        for (&t, c) in &self.clients {
            if c.dead {
                continue;
            }
            let mut events = 0;
            if !c.read_eof && self.wants_input(c) {
                events |= libc::POLLIN;
            }
            if c.pending() > 0 {
                events |= libc::POLLOUT;
            }
            push(c.sock.as_raw_fd(), events, Tag::Client(t));
        }
        for (key, p) in self.procs() {
            let blocked = p.attached.iter().any(|t| {
                self.clients
                    .get(t)
                    .is_some_and(|c| c.pending() > CLIENT_HIGH_WATER)
            });
            if !blocked {
                for (i, o) in p.outputs.iter().enumerate() {
                    if let Some(fd) = &o.fd {
                        push(fd.as_raw_fd(), libc::POLLIN, Tag::Output(key.clone(), i));
                    }
                }
            }
            if let Some(s) = &p.stdin
                && !s.buf.is_empty()
            {
                push(s.fd.as_raw_fd(), libc::POLLOUT, Tag::Stdin(key.clone()));
            }
        }
    }

    fn wants_input(&self, c: &Client) -> bool {
        match &c.mode {
            Mode::Attached(a) if a.stdin => {
                let p = match &a.key {
                    None => Some(&self.init),
                    Some(k) => self.execs.get(k),
                };
                p.and_then(|p| p.stdin.as_ref())
                    .is_none_or(|s| s.buf.len() < STDIN_HIGH_WATER)
            }
            _ => true,
        }
    }

    fn poll_timeout(&self) -> i32 {
        if self.shutdown.is_some() {
            return 50;
        }
        let now = Instant::now();
        self.procs()
            .filter(|(_, p)| p.exit.is_none())
            .filter_map(|(_, p)| p.reaped.as_ref().map(|r| r.deadline))
            .map(|d| {
                let ms = d.saturating_duration_since(now).as_millis() + 1;
                i32::try_from(ms).unwrap_or(i32::MAX)
            })
            .min()
            .unwrap_or(-1)
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if let Err(e) = sock.set_nonblocking(true) {
                        tracing::warn!("cannot configure a client connection: {e}");
                        continue;
                    }
                    let t = self.next_token;
                    self.next_token += 1;
                    self.clients.insert(
                        t,
                        Client {
                            sock,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                            out_pos: 0,
                            mode: Mode::Request,
                            read_eof: false,
                            close_after_flush: false,
                            dead: false,
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    break;
                }
            }
        }
    }

    // ---- reaping and exits -------------------------------------------------

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(pid, code)) => self.record_exit(pid.as_raw(), code, None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    let sig = sig as i32;
                    self.record_exit(pid.as_raw(), 128 + sig, Some(sig));
                }
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
    }

    fn record_exit(&mut self, pid: i32, code: i32, signal: Option<i32>) {
        let reaped = Reaped {
            code,
            signal,
            finished_at: jsonlog::now(),
            deadline: Instant::now() + DRAIN_TIMEOUT,
        };
        let proc = if self.init.pid == pid && self.init.reaped.is_none() {
            Some(&mut self.init)
        } else {
            self.execs
                .values_mut()
                .find(|p| p.pid == pid && p.reaped.is_none())
        };
        match proc {
            Some(p) => p.reaped = Some(reaped),
            None => tracing::debug!(pid, "reaped an unknown child"),
        }
    }

    fn check_exits(&mut self) {
        let now = Instant::now();
        let done: Vec<Key> = self
            .procs()
            .filter(|(_, p)| p.exit.is_none())
            .filter(|(_, p)| {
                p.reaped
                    .as_ref()
                    .is_some_and(|r| !p.outputs_open() || now >= r.deadline)
            })
            .map(|(k, _)| k)
            .collect();
        for key in done {
            self.finalize(&key);
        }
    }

    /// The process has exited and its output is drained: record the exit,
    /// answer waiters, end attach streams.
    fn finalize(&mut self, key: &Key) {
        let n = lookup(&mut self.init, &mut self.execs, key).map_or(0, |p| p.outputs.len());
        for idx in 0..n {
            self.close_output(key, idx);
        }
        let oom_killed = key.is_none() && sys::oom_kills(&self.cgroups_path).unwrap_or(0) > 0;
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return;
        };
        let Some(r) = &p.reaped else {
            return;
        };
        let exit = ExitStatus {
            pid: p.pid,
            exit_code: r.code,
            signal: r.signal,
            oom_killed,
            started_at: p.started_at.clone(),
            finished_at: r.finished_at.clone(),
        };
        p.stdin = None;
        p.master = None;
        p.status = Status::Exited;
        p.exit = Some(exit.clone());
        let waiters = std::mem::take(&mut p.waiters);
        let attached = std::mem::take(&mut p.attached);

        if key.is_none() {
            let path = paths::exit_file(&self.state_dir);
            match serde_json::to_vec(&exit) {
                Ok(json) => {
                    if let Err(e) = paths::write_atomic(&path, &json) {
                        tracing::error!("cannot write {}: {e}", path.display());
                    }
                }
                Err(e) => tracing::error!("cannot encode the exit status: {e}"),
            }
        }
        for t in waiters {
            if let Some(c) = self.clients.get_mut(&t) {
                c.queue(&Response::Ok(exit.clone()));
                c.mode = Mode::Request;
            }
            self.process_requests(t);
        }
        for t in attached {
            if let Some(c) = self.clients.get_mut(&t) {
                c.queue_exit(&exit);
            }
        }
        if key.is_none() {
            for t in std::mem::take(&mut self.pending_deletes) {
                self.finish_delete(t);
            }
        } else {
            self.forget_old_execs();
        }
    }

    fn forget_old_execs(&mut self) {
        let exited: Vec<String> = self
            .exec_order
            .iter()
            .filter(|e| self.execs.get(*e).is_some_and(|p| p.exit.is_some()))
            .cloned()
            .collect();
        if exited.len() <= MAX_EXITED_EXECS {
            return;
        }
        for e in &exited[..exited.len() - MAX_EXITED_EXECS] {
            if self
                .execs
                .get(e)
                .is_some_and(|p| p.attached.is_empty() && p.waiters.is_empty())
            {
                self.execs.remove(e);
            }
        }
        self.exec_order.retain(|e| self.execs.contains_key(e));
    }

    // ---- process output and input ---------------------------------------

    fn on_output(&mut self, key: &Key, idx: usize) {
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return;
        };
        let Some(fd) = p.outputs.get(idx).and_then(|o| o.fd.as_ref()) else {
            return;
        };
        let n = match nix::unistd::read(fd, &mut self.buf) {
            Ok(0) => {
                self.close_output(key, idx);
                return;
            }
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::EINTR) => return,
            // EIO: the pty's slave side is closed.
            Err(_) => {
                self.close_output(key, idx);
                return;
            }
        };
        let stream = p.outputs[idx].stream;
        if key.is_none()
            && let Some(log) = &mut self.log
        {
            let name = if stream == STREAM_STDERR {
                "stderr"
            } else {
                "stdout"
            };
            let time = jsonlog::now();
            let mut lines = Vec::new();
            p.outputs[idx].splitter.push(&self.buf[..n], |line| {
                jsonlog::encode(line, name, &time, &mut lines);
            });
            if !lines.is_empty()
                && let Err(e) = log.write_all(&lines)
                && !self.log_failed
            {
                self.log_failed = true;
                tracing::error!("cannot write the container log: {e}");
            }
        }
        for t in &p.attached {
            if let Some(c) = self.clients.get_mut(t)
                && let Mode::Attached(a) = &c.mode
            {
                let wanted = if stream == STREAM_STDERR {
                    a.stderr
                } else {
                    a.stdout
                };
                if wanted {
                    encode_frame(stream, &self.buf[..n], &mut c.out);
                }
            }
        }
    }

    fn close_output(&mut self, key: &Key, idx: usize) {
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return;
        };
        let Some(o) = p.outputs.get_mut(idx) else {
            return;
        };
        if o.fd.take().is_none() {
            return;
        }
        if key.is_none()
            && let Some(log) = &mut self.log
        {
            let name = if o.stream == STREAM_STDERR {
                "stderr"
            } else {
                "stdout"
            };
            let time = jsonlog::now();
            let mut lines = Vec::new();
            o.splitter
                .finish(|line| jsonlog::encode(line, name, &time, &mut lines));
            if !lines.is_empty() {
                let _ = log.write_all(&lines);
            }
        }
    }

    fn on_stdin(&mut self, key: &Key) {
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return;
        };
        let Some(s) = &mut p.stdin else {
            return;
        };
        match nix::unistd::write(&s.fd, &s.buf) {
            Ok(n) => {
                s.buf.drain(..n);
                if s.buf.is_empty() && s.close_requested {
                    p.stdin = None;
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            // EPIPE: nobody reads the process's stdin any more.
            Err(_) => p.stdin = None,
        }
    }

    fn feed_stdin(&mut self, a: &Attach, data: &[u8]) {
        if !a.stdin || data.is_empty() {
            return;
        }
        if let Some(p) = lookup(&mut self.init, &mut self.execs, &a.key)
            && let Some(s) = &mut p.stdin
            && !s.close_requested
        {
            s.buf.extend_from_slice(data);
        }
    }

    fn close_stdin(&mut self, key: &Key) {
        if let Some(p) = lookup(&mut self.init, &mut self.execs, key)
            && let Some(s) = &mut p.stdin
        {
            s.close_requested = true;
            if s.buf.is_empty() {
                p.stdin = None;
            }
        }
    }

    // ---- clients ------------------------------------------------------------

    fn on_client(&mut self, t: u64, revents: i16) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !c.read_eof {
            let mut buf = [0u8; 16 * 1024];
            match (&c.sock).read(&mut buf) {
                Ok(0) => {
                    c.read_eof = true;
                    self.client_eof(t);
                }
                Ok(n) => self.client_data(t, &buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => self.kill_client(t),
            }
            return;
        }
        if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            // The peer closed both directions and everything was read.
            self.kill_client(t);
        }
    }

    fn kill_client(&mut self, t: u64) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.dead = true;
        }
    }

    fn client_eof(&mut self, t: u64) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        match &c.mode {
            Mode::Request => {
                if c.pending() == 0 {
                    c.dead = true;
                } else {
                    c.close_after_flush = true;
                }
            }
            Mode::Attached(a) => {
                if a.stdin && a.close_stdin {
                    let key = a.key.clone();
                    self.close_stdin(&key);
                }
            }
            Mode::Parked | Mode::Closing => {}
        }
    }

    fn client_data(&mut self, t: u64, data: &[u8]) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        match &c.mode {
            Mode::Request | Mode::Parked => {
                c.inbuf.extend_from_slice(data);
                if c.inbuf.len() > MAX_REQUEST {
                    c.inbuf.clear();
                    c.queue(&Response::<Empty>::Error(ShimError {
                        kind: ErrorKind::InvalidArgument,
                        message: "request line too long".into(),
                    }));
                    c.mode = Mode::Closing;
                    c.close_after_flush = true;
                    return;
                }
            }
            Mode::Attached(a) => {
                let a = a.clone();
                self.feed_stdin(&a, data);
                return;
            }
            Mode::Closing => return,
        }
        self.process_requests(t);
    }

    fn process_requests(&mut self, t: u64) {
        loop {
            let Some(c) = self.clients.get_mut(&t) else {
                return;
            };
            if c.dead || !matches!(c.mode, Mode::Request) {
                break;
            }
            let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Request>(&line) {
                Ok(req) => self.handle(t, req),
                Err(e) => {
                    self.reply_err(t, ErrorKind::InvalidArgument, format!("bad request: {e}"))
                }
            }
        }
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if let Mode::Attached(a) = &c.mode
            && !c.inbuf.is_empty()
        {
            let a = a.clone();
            let data = std::mem::take(&mut c.inbuf);
            self.feed_stdin(&a, &data);
        }
    }

    fn reply_ok<T: Serialize>(&mut self, t: u64, value: T) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.queue(&Response::Ok(value));
        }
    }

    fn reply_err(&mut self, t: u64, kind: ErrorKind, message: String) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.queue(&Response::<Empty>::Error(ShimError { kind, message }));
        }
    }

    fn set_mode(&mut self, t: u64, mode: Mode) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.mode = mode;
        }
    }

    fn flush_clients(&mut self) {
        for c in self.clients.values_mut() {
            if c.dead {
                continue;
            }
            while c.pending() > 0 {
                match (&c.sock).write(&c.out[c.out_pos..]) {
                    Ok(0) => {
                        c.dead = true;
                        break;
                    }
                    Ok(n) => c.out_pos += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        c.dead = true;
                        break;
                    }
                }
            }
            if c.pending() == 0 {
                c.out.clear();
                c.out_pos = 0;
                if c.close_after_flush {
                    c.dead = true;
                }
            } else if c.out_pos > (1 << 20) {
                c.out.drain(..c.out_pos);
                c.out_pos = 0;
            }
        }
    }

    fn remove_dead(&mut self) {
        let dead: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| c.dead)
            .map(|(t, _)| *t)
            .collect();
        for t in dead {
            let Some(c) = self.clients.remove(&t) else {
                continue;
            };
            if let Mode::Attached(a) = &c.mode
                && a.stdin
                && a.close_stdin
                && !c.read_eof
            {
                // A vanished StdinOnce client closes stdin like a half-close.
                self.close_stdin(&a.key.clone());
            }
            self.init.attached.retain(|x| *x != t);
            self.init.waiters.retain(|x| *x != t);
            for p in self.execs.values_mut() {
                p.attached.retain(|x| *x != t);
                p.waiters.retain(|x| *x != t);
            }
            self.pending_deletes.retain(|x| *x != t);
        }
    }

    // ---- requests -----------------------------------------------------------

    fn handle(&mut self, t: u64, req: Request) {
        match req {
            Request::State { exec_id } => {
                let key = exec_id;
                match lookup(&mut self.init, &mut self.execs, &key) {
                    Some(p) => {
                        let state = p.state(&self.id);
                        self.reply_ok(t, state);
                    }
                    None => self.no_exec(t, &key),
                }
            }
            Request::Start => self.do_start(t),
            Request::Kill { signal, exec_id } => self.do_kill(t, signal, &exec_id),
            Request::Wait { exec_id } => self.do_wait(t, &exec_id),
            Request::Attach(a) => self.do_attach(t, a),
            Request::Resize {
                exec_id,
                height,
                width,
            } => self.do_resize(t, &exec_id, height, width),
            Request::Exec(e) => self.do_exec(t, *e),
            Request::Pause => self.do_pause(t),
            Request::Resume => self.do_resume(t),
            Request::Delete { force } => self.do_delete(t, force),
        }
    }

    fn no_exec(&mut self, t: u64, key: &Key) {
        let exec = key.as_deref().unwrap_or("");
        let msg = format!("no exec {exec} in container {}", self.id);
        self.reply_err(t, ErrorKind::NotFound, msg);
    }

    fn do_start(&mut self, t: u64) {
        if self.init.status != Status::Created || self.init.reaped.is_some() {
            let msg = format!("container {} has already been started", self.id);
            return self.reply_err(t, ErrorKind::Conflict, msg);
        }
        match runtime::start(&mut self.container) {
            Ok(()) => {
                self.init.status = Status::Running;
                self.init.started_at = Some(jsonlog::now());
                self.reply_ok(t, Empty {});
            }
            Err(msg) => self.reply_err(t, ErrorKind::Internal, msg),
        }
    }

    fn do_kill(&mut self, t: u64, signal: i32, key: &Key) {
        let Ok(sig) = Signal::try_from(signal) else {
            return self.reply_err(
                t,
                ErrorKind::InvalidArgument,
                format!("invalid signal {signal}"),
            );
        };
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return self.no_exec(t, key);
        };
        if !p.running() {
            let msg = format!("{} is not running", p.name(&self.id));
            return self.reply_err(t, ErrorKind::Conflict, msg);
        }
        // The process is our unreaped child: its pid cannot have been reused.
        if let Err(e) = nix::sys::signal::kill(Pid::from_raw(p.pid), sig) {
            let msg = format!("failed to signal {}: {e}", p.name(&self.id));
            return self.reply_err(t, ErrorKind::Internal, msg);
        }
        if key.is_none() && sig == Signal::SIGKILL && self.init.status == Status::Paused {
            // A frozen process cannot die: thaw it.
            match runtime::resume(&mut self.container) {
                Ok(()) => self.init.status = Status::Running,
                Err(e) => tracing::error!("{e}"),
            }
        }
        self.reply_ok(t, Empty {});
    }

    fn do_wait(&mut self, t: u64, key: &Key) {
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return self.no_exec(t, key);
        };
        match &p.exit {
            Some(exit) => {
                let exit = exit.clone();
                self.reply_ok(t, exit);
            }
            None => {
                p.waiters.push(t);
                self.set_mode(t, Mode::Parked);
            }
        }
    }

    fn attach(&mut self, t: u64, req: AttachRequest) {
        let key = req.exec_id.clone();
        let Some(p) = lookup(&mut self.init, &mut self.execs, &key) else {
            return;
        };
        if let Some(exit) = p.exit.clone() {
            if let Some(c) = self.clients.get_mut(&t) {
                c.queue_exit(&exit);
            }
            return;
        }
        let a = Attach {
            key,
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr && !p.tty,
            close_stdin: req.close_stdin && !p.tty,
        };
        p.attached.push(t);
        self.set_mode(t, Mode::Attached(a));
    }

    fn do_attach(&mut self, t: u64, req: AttachRequest) {
        if lookup(&mut self.init, &mut self.execs, &req.exec_id).is_none() {
            return self.no_exec(t, &req.exec_id);
        }
        self.reply_ok(t, Empty {});
        self.attach(t, req);
    }

    fn do_resize(&mut self, t: u64, key: &Key, height: u16, width: u16) {
        let Some(p) = lookup(&mut self.init, &mut self.execs, key) else {
            return self.no_exec(t, key);
        };
        let name = p.name(&self.id);
        let Some(master) = &p.master else {
            let kind = if p.tty {
                ErrorKind::Conflict
            } else {
                ErrorKind::InvalidArgument
            };
            let msg = if p.tty {
                format!("{name} is not running")
            } else {
                format!("{name} has no tty")
            };
            return self.reply_err(t, kind, msg);
        };
        match sys::set_winsize(master, height, width) {
            Ok(()) => self.reply_ok(t, Empty {}),
            Err(e) => self.reply_err(
                t,
                ErrorKind::Internal,
                format!("failed to resize {name}: {e}"),
            ),
        }
    }

    fn do_pause(&mut self, t: u64) {
        if !self.init.running() || self.init.status != Status::Running {
            let msg = match self.init.status {
                Status::Paused => format!("container {} is already paused", self.id),
                _ => format!("container {} is not running", self.id),
            };
            return self.reply_err(t, ErrorKind::Conflict, msg);
        }
        match runtime::pause(&mut self.container) {
            Ok(()) => {
                self.init.status = Status::Paused;
                self.reply_ok(t, Empty {});
            }
            Err(msg) => self.reply_err(t, ErrorKind::Internal, msg),
        }
    }

    fn do_resume(&mut self, t: u64) {
        if self.init.status != Status::Paused {
            let msg = format!("container {} is not paused", self.id);
            return self.reply_err(t, ErrorKind::Conflict, msg);
        }
        match runtime::resume(&mut self.container) {
            Ok(()) => {
                self.init.status = Status::Running;
                self.reply_ok(t, Empty {});
            }
            Err(msg) => self.reply_err(t, ErrorKind::Internal, msg),
        }
    }

    fn do_delete(&mut self, t: u64, force: bool) {
        if self.init.exit.is_some() {
            return self.finish_delete(t);
        }
        if self.init.reaped.is_none() {
            if !force && self.init.status != Status::Created {
                let msg = format!(
                    "container {} is running: stop it first or delete with force",
                    self.id
                );
                return self.reply_err(t, ErrorKind::Conflict, msg);
            }
            let _ = nix::sys::signal::kill(Pid::from_raw(self.init.pid), Signal::SIGKILL);
            if self.init.status == Status::Paused
                && let Err(e) = runtime::resume(&mut self.container)
            {
                tracing::error!("{e}");
            }
        }
        self.pending_deletes.push(t);
        self.set_mode(t, Mode::Parked);
    }

    fn finish_delete(&mut self, t: u64) {
        match runtime::delete(&mut self.container) {
            Ok(()) => {
                self.reply_ok(t, Empty {});
                if let Some(c) = self.clients.get_mut(&t) {
                    c.mode = Mode::Closing;
                    c.close_after_flush = true;
                }
                self.shutdown = Some(Instant::now());
            }
            Err(msg) => {
                tracing::error!("{msg}");
                self.reply_err(t, ErrorKind::Internal, msg);
                if self.init.exit.is_some() {
                    // Nothing is left to serve, and nobody retries: skiffd
                    // removes what the runtime could not (a busy cgroup).
                    if let Some(c) = self.clients.get_mut(&t) {
                        c.mode = Mode::Closing;
                        c.close_after_flush = true;
                    }
                    self.shutdown = Some(Instant::now());
                } else {
                    self.set_mode(t, Mode::Request);
                }
            }
        }
    }

    fn do_exec(&mut self, t: u64, req: ExecRequest) {
        if !self.init.running() || self.init.status != Status::Running {
            let msg = match self.init.status {
                Status::Paused => format!("container {} is paused, unpause it first", self.id),
                _ => format!("container {} is not running", self.id),
            };
            return self.reply_err(t, ErrorKind::Conflict, msg);
        }
        let exec_id = match req.exec_id.clone() {
            Some(e) => e,
            None => loop {
                self.exec_counter += 1;
                let e = format!("exec-{}", self.exec_counter);
                if !self.execs.contains_key(&e) {
                    break e;
                }
            },
        };
        if let Err(reason) = paths::validate_id(&exec_id) {
            let msg = format!("invalid exec id {exec_id:?}: {reason}");
            return self.reply_err(t, ErrorKind::InvalidArgument, msg);
        }
        if self.execs.contains_key(&exec_id) {
            let msg = format!("exec {exec_id} already exists in container {}", self.id);
            return self.reply_err(t, ErrorKind::Conflict, msg);
        }
        match self.spawn_exec(&exec_id, &req) {
            Ok((pid, io)) => {
                let mut p = Proc::new(Some(exec_id.clone()), pid, io);
                p.status = Status::Running;
                p.started_at = Some(jsonlog::now());
                self.execs.insert(exec_id.clone(), p);
                self.exec_order.push(exec_id.clone());
                self.reply_ok(
                    t,
                    ExecInfo {
                        exec_id: exec_id.clone(),
                        pid,
                    },
                );
                if let Some(mut a) = req.attach {
                    a.exec_id = Some(exec_id);
                    self.attach(t, a);
                }
            }
            Err(msg) => self.reply_err(t, ErrorKind::Internal, msg),
        }
    }

    fn spawn_exec(&mut self, exec_id: &str, req: &ExecRequest) -> Result<(i32, ParentIo), String> {
        let id = self.id.clone();
        let mut process = req.process.clone();
        process.set_terminal(Some(req.tty));
        process.set_console_size(None);
        if process.capabilities().is_none() {
            process.set_capabilities(self.init_process.capabilities().clone());
        }
        if process.no_new_privileges().is_none() {
            process.set_no_new_privileges(self.init_process.no_new_privileges());
        }
        let mut env = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, skiff_shim::bundle::DEFAULT_PATH.to_owned());
            process.set_env(Some(env));
        }
        let path = self
            .state_dir
            .join(paths::EXEC_DIR)
            .join(format!("{exec_id}.json"));
        // libcontainer drops linux.seccomp for execs: the shim loads it.
        let executor = self
            .seccomp
            .as_ref()
            .map(|p| filter::FilterExecutor::new(p, &mut process));
        let json = serde_json::to_vec(&process)
            .map_err(|e| format!("cannot encode the process of exec {exec_id}: {e}"))?;
        std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;

        let prepared = if req.tty {
            if self.console.is_none() {
                let _ = std::fs::remove_file(&self.console_path);
                self.console = Some(bind_console(&self.console_path)?);
            }
            Ok((ChildStdio::Console(self.console_path.clone()), None))
        } else {
            ParentIo::pipes(req.stdin)
                .map(|(child, ours)| (child, Some(ours)))
                .map_err(|e| format!("cannot create stdio pipes for exec {exec_id}: {e}"))
        };
        let shim_log = self.state_dir.join(paths::SHIM_LOG);
        let log_offset = file_len(&shim_log);
        let result = prepared.and_then(|(child, pipes)| {
            runtime::exec(&id, &self.root, &path, child, req.tty, executor)
                .map(|pid| (pid, pipes))
                .map_err(|msg| with_cause(msg, &shim_log, log_offset))
        });
        let _ = std::fs::remove_file(&path);
        let (pid, pipes) = result?;
        let io = match pipes {
            Some(io) => Ok(io),
            None => self
                .console
                .as_ref()
                .ok_or_else(|| "no console socket".to_owned())
                .and_then(|l| {
                    sys::receive_master(l, Duration::from_secs(10)).map_err(|e| e.to_string())
                })
                .and_then(|m| ParentIo::pty(m, req.stdin).map_err(|e| e.to_string()))
                .map_err(|e| format!("exec {exec_id} in container {id}: pty master: {e}")),
        };
        match io {
            Ok(io) => Ok((pid, io)),
            Err(msg) => {
                // Reaped later as an unknown child.
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                Err(msg)
            }
        }
    }

    fn cleanup(&mut self) {
        for name in [paths::SOCKET, paths::PID_FILE, paths::CONSOLE_SOCKET] {
            let _ = std::fs::remove_file(self.state_dir.join(name));
        }
        let _ = std::fs::remove_dir_all(self.state_dir.join(paths::EXEC_DIR));
        let _ = std::fs::remove_dir_all(self.state_dir.join(filter::BUNDLE_DIR));
        let _ = std::fs::remove_dir(&self.root);
    }
}
