//! The processes' stdio: output to the json log and to attached clients,
//! stdin from attached clients, and the console socket that receives pty
//! masters.
//!
//! Contract (`docs/shim.md`, "Output and the json-file log"): output is
//! copied as it is read, to the log (the init process's only, in docker's
//! json-file format) and as frames to every client attached for that
//! stream; stdin bytes are queued and written when the pipe (or pty) takes
//! them, and closing stdin waits until what was queued before is written.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use skiff_shim::jsonlog::{self, LineSplitter};
use skiff_shim::paths;
use skiff_shim::protocol::{STREAM_STDERR, encode_frame};

use super::Daemon;
use super::clients::{Attach, Mode};
use super::error::DaemonError;
use super::procs::Key;
use super::sys;

/// How long a new process's pty master may take to arrive.
const MASTER_TIMEOUT: Duration = Duration::from_secs(10);

/// The container's json-file log.
pub struct JsonLog {
    file: File,
    failed: bool,
}

impl JsonLog {
    /// Opens (appends to) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, DaemonError> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| DaemonError::path("cannot open log", path, e))?;
        Ok(JsonLog {
            file,
            failed: false,
        })
    }

    /// Logs what `splitter` makes of `data`, read from `stream`. The first
    /// failure is reported to the shim's log, later ones not.
    fn append(&mut self, splitter: &mut LineSplitter, stream: u8, data: &[u8]) {
        let (name, time) = (stream_name(stream), jsonlog::now());
        let mut lines = Vec::new();
        splitter.push(data, |line| jsonlog::encode(line, name, &time, &mut lines));
        if !lines.is_empty()
            && let Err(e) = self.file.write_all(&lines)
            && !self.failed
        {
            self.failed = true;
            tracing::error!("cannot write the container log: {e}");
        }
    }

    /// Logs what `splitter` still holds, at the end of `stream`.
    fn finish(&mut self, splitter: &mut LineSplitter, stream: u8) {
        let (name, time) = (stream_name(stream), jsonlog::now());
        let mut lines = Vec::new();
        splitter.finish(|line| jsonlog::encode(line, name, &time, &mut lines));
        if !lines.is_empty() {
            let _ = self.file.write_all(&lines);
        }
    }
}

fn stream_name(stream: u8) -> &'static str {
    if stream == STREAM_STDERR {
        "stderr"
    } else {
        "stdout"
    }
}

/// `console.sock`: where the runtime sends the pty master of a tty process.
/// Bound on first use.
pub struct Console {
    path: PathBuf,
    listener: Option<UnixListener>,
}

impl Console {
    /// The console socket of `state_dir`, not bound yet (a stale one left
    /// by a dead shim is removed).
    pub fn new(state_dir: &Path) -> Self {
        let path = state_dir.join(paths::CONSOLE_SOCKET);
        let _ = std::fs::remove_file(&path);
        Console {
            path,
            listener: None,
        }
    }

    /// Binds the socket (replacing a stale file) unless it is bound; returns
    /// its path, for [`super::runtime::ChildStdio::Console`].
    pub fn bind(&mut self) -> Result<PathBuf, DaemonError> {
        if self.listener.is_none() {
            let _ = std::fs::remove_file(&self.path);
            let listener = paths::bind(&self.path)
                .map_err(|e| DaemonError::path("cannot bind console socket", &self.path, e))?;
            self.listener = Some(listener);
        }
        Ok(self.path.clone())
    }

    /// Waits for the runtime's connection and receives the master it
    /// carries.
    pub fn receive_master(&self) -> io::Result<OwnedFd> {
        let listener = self
            .listener
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no console socket"))?;
        sys::receive_master(listener, MASTER_TIMEOUT)
    }
}

impl Daemon {
    /// Output stream `idx` of the process `key` is readable: log it, send it
    /// to the attached clients that want it.
    pub(super) fn on_output(&mut self, key: &Key, idx: usize) {
        let Some(p) = self.procs.get_mut(key) else {
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
        let data = &self.buf[..n];
        let output = &mut p.outputs[idx];
        let stream = output.stream;
        if key.is_none()
            && let Some(log) = &mut self.log
        {
            log.append(&mut output.splitter, stream, data);
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
                    encode_frame(stream, data, &mut c.out);
                }
            }
        }
    }

    /// Closes output stream `idx` of `key` (EOF, or the process is
    /// finalized) and logs its last partial line.
    pub(super) fn close_output(&mut self, key: &Key, idx: usize) {
        let Some(p) = self.procs.get_mut(key) else {
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
            log.finish(&mut o.splitter, o.stream);
        }
    }

    /// The stdin of `key` is writable: write what is queued.
    pub(super) fn on_stdin(&mut self, key: &Key) {
        let Some(p) = self.procs.get_mut(key) else {
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

    /// Queues bytes from an attached client for the process's stdin.
    pub(super) fn feed_stdin(&mut self, a: &Attach, data: &[u8]) {
        if !a.stdin || data.is_empty() {
            return;
        }
        if let Some(p) = self.procs.get_mut(&a.key)
            && let Some(s) = &mut p.stdin
            && !s.close_requested
        {
            s.buf.extend_from_slice(data);
        }
    }

    /// Closes the stdin of `key` once what is queued is written.
    pub(super) fn close_stdin(&mut self, key: &Key) {
        if let Some(p) = self.procs.get_mut(key)
            && let Some(s) = &mut p.stdin
        {
            s.close_requested = true;
            if s.buf.is_empty() {
                p.stdin = None;
            }
        }
    }
}
