//! The process table: the container's init process and its execs, each with
//! the shim's side of its stdio and its lifecycle.
//!
//! A process is `Created` (only the init process, with `--defer-start`),
//! `Running` or `Paused`, then *reaped* (`reaped` set, its output still
//! draining), then `Exited` (`exit` set: the final status that `wait`,
//! `state` and attach streams report). The table keeps the last
//! [`MAX_EXITED_EXECS`] exited execs.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::time::Instant;

use skiff_shim::jsonlog::{self, LineSplitter};
use skiff_shim::protocol::{ExitStatus, ProcessState, STREAM_STDERR, STREAM_STDOUT, Status};

use super::runtime::ChildStdio;
use super::sys;

/// Exited execs kept for `state`/`wait` before the oldest are forgotten.
pub const MAX_EXITED_EXECS: usize = 128;

/// `None` is the container's init process, `Some(id)` an exec.
pub type Key = Option<String>;

/// One output stream of a process (a pipe, or the pty master).
pub struct Output {
    /// Closed at EOF (or when the process is finalized).
    pub fd: Option<OwnedFd>,
    /// `STREAM_STDOUT` or `STREAM_STDERR`.
    pub stream: u8,
    /// Cuts the stream into json-log entries.
    pub splitter: LineSplitter,
}

/// The shim's end of a process's stdin, and what clients wrote to it.
pub struct StdinPipe {
    /// Non-blocking.
    pub fd: OwnedFd,
    /// Not written yet.
    pub buf: Vec<u8>,
    /// Close once `buf` is written.
    pub close_requested: bool,
}

/// A process `waitpid` reported, whose output may still be draining.
pub struct Reaped {
    /// docker's exit code.
    pub code: i32,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// When it was reaped.
    pub finished_at: String,
    /// When to stop waiting for its output.
    pub deadline: Instant,
}

/// The init process or an exec.
pub struct Proc {
    /// `None` for the init process.
    pub exec_id: Option<String>,
    /// Host pid.
    pub pid: i32,
    /// Has a pty.
    pub tty: bool,
    /// The pty master (for `resize`), until the process is finalized.
    pub master: Option<OwnedFd>,
    /// Its output streams.
    pub outputs: Vec<Output>,
    /// Its stdin, when it has one.
    pub stdin: Option<StdinPipe>,
    /// Lifecycle.
    pub status: Status,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// Set when reaped.
    pub reaped: Option<Reaped>,
    /// Set when finalized.
    pub exit: Option<ExitStatus>,
    /// Clients attached to it.
    pub attached: Vec<u64>,
    /// Clients waiting for its exit.
    pub waiters: Vec<u64>,
}

impl Proc {
    /// A created process with the shim's side of its stdio.
    pub fn new(exec_id: Option<String>, pid: i32, io: ParentIo) -> Self {
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

    /// Marks it started now.
    pub fn started(&mut self) {
        self.status = Status::Running;
        self.started_at = Some(jsonlog::now());
    }

    /// The answer to `state` (`id` is the container's).
    pub fn state(&self, id: &str) -> ProcessState {
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

    /// Some output stream is still open.
    pub fn outputs_open(&self) -> bool {
        self.outputs.iter().any(|o| o.fd.is_some())
    }

    /// "container c1" or "exec e1 of container c1", for messages.
    pub fn name(&self, id: &str) -> String {
        match &self.exec_id {
            Some(e) => format!("exec {e} of container {id}"),
            None => format!("container {id}"),
        }
    }

    /// Started, not reaped.
    pub fn running(&self) -> bool {
        self.reaped.is_none() && matches!(self.status, Status::Running | Status::Paused)
    }
}

/// The shim's side of a new process's stdio.
pub struct ParentIo {
    master: Option<OwnedFd>,
    outputs: Vec<Output>,
    stdin: Option<StdinPipe>,
}

impl ParentIo {
    /// Pipes for a process without a tty: the child's ends and ours.
    pub fn pipes(want_stdin: bool) -> io::Result<(ChildStdio, ParentIo)> {
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
    pub fn pty(master: OwnedFd, want_stdin: bool) -> io::Result<ParentIo> {
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

/// The init process and the execs, in the order they were started.
pub struct Procs {
    /// The container's init process.
    pub init: Proc,
    execs: BTreeMap<String, Proc>,
    order: Vec<String>,
    counter: u64,
}

impl Procs {
    /// A table holding the init process.
    pub fn new(init: Proc) -> Self {
        Procs {
            init,
            execs: BTreeMap::new(),
            order: Vec::new(),
            counter: 0,
        }
    }

    /// The process of `key`.
    pub fn get(&self, key: &Key) -> Option<&Proc> {
        match key {
            None => Some(&self.init),
            Some(k) => self.execs.get(k),
        }
    }

    /// The process of `key`.
    pub fn get_mut(&mut self, key: &Key) -> Option<&mut Proc> {
        match key {
            None => Some(&mut self.init),
            Some(k) => self.execs.get_mut(k),
        }
    }

    /// Every process, the init process first.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &Proc)> {
        std::iter::once((None, &self.init))
            .chain(self.execs.iter().map(|(k, p)| (Some(k.clone()), p)))
    }

    /// Every process, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Proc> {
        std::iter::once(&mut self.init).chain(self.execs.values_mut())
    }

    /// The unreaped process of `pid`.
    pub fn unreaped(&mut self, pid: i32) -> Option<&mut Proc> {
        self.iter_mut().find(|p| p.pid == pid && p.reaped.is_none())
    }

    /// An exec id not in use: `exec-N`.
    pub fn new_exec_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let e = format!("exec-{}", self.counter);
            if !self.execs.contains_key(&e) {
                return e;
            }
        }
    }

    /// Whether an exec of this id is known.
    pub fn has_exec(&self, exec_id: &str) -> bool {
        self.execs.contains_key(exec_id)
    }

    /// Adds a new exec.
    pub fn insert_exec(&mut self, exec_id: String, proc: Proc) {
        self.execs.insert(exec_id.clone(), proc);
        self.order.push(exec_id);
    }

    /// Forgets the oldest exited execs beyond [`MAX_EXITED_EXECS`] that
    /// nobody is attached to or waiting for.
    pub fn forget_old_execs(&mut self) {
        let exited: Vec<String> = self
            .order
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
        self.order.retain(|e| self.execs.contains_key(e));
    }

    /// Drops a gone client from every process's attached and waiting lists.
    pub fn forget_client(&mut self, t: u64) {
        for p in self.iter_mut() {
            p.attached.retain(|x| *x != t);
            p.waiters.retain(|x| *x != t);
        }
    }
}
