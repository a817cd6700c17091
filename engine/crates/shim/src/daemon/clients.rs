//! Connections on the control socket (`shim.sock`).
//!
//! Every connection is non-blocking and buffered both ways. It starts in
//! [`Mode::Request`]: request lines are read and answered one at a time, in
//! order (`docs/shim.md`, "The protocol"). A `wait` (or a `delete` that has
//! to wait for the exit) *parks* it until the answer is known; what it
//! sends meanwhile is buffered and handled after. An `attach` turns it into an attach
//! stream ([`Mode::Attached`]): frames out, raw stdin bytes in. A
//! connection that has said its last word is [`Mode::Closing`]: flushed,
//! then closed.
//!
//! A client more than `CLIENT_HIGH_WATER` bytes behind stops the reading of
//! the output it is attached to (see the poll loop); the process's stdin
//! buffer full stops the reading of its attached clients.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use serde::Serialize;
use skiff_shim::protocol::{
    Empty, ExitStatus, Request, Response, STREAM_EXIT, ShimError, encode_frame,
};

use super::Daemon;
use super::error::DaemonError;
use super::procs::Key;

/// Largest request line.
const MAX_REQUEST: usize = 1 << 20;

/// What an attach stream carries, for which process.
#[derive(Clone)]
pub struct Attach {
    /// The process.
    pub key: Key,
    /// Client bytes go to its stdin.
    pub stdin: bool,
    /// Its stdout (or pty) goes to the client.
    pub stdout: bool,
    /// Its stderr goes to the client.
    pub stderr: bool,
    /// The client's half-close closes its stdin.
    pub close_stdin: bool,
}

/// What a connection is doing.
pub enum Mode {
    /// Reading request lines.
    Request,
    /// A `wait` or `delete` is pending; its answer comes later.
    Parked,
    /// The connection is an attach stream.
    Attached(Attach),
    /// Only flushing what is queued, then closing.
    Closing,
}

/// One connection.
pub struct Client {
    sock: UnixStream,
    inbuf: Vec<u8>,
    /// Queued output; `out[out_pos..]` is not written yet.
    pub out: Vec<u8>,
    out_pos: usize,
    /// What it is doing.
    pub mode: Mode,
    /// The peer half-closed (or closed).
    pub read_eof: bool,
    close_after_flush: bool,
    dead: bool,
}

impl Client {
    fn new(sock: UnixStream) -> Self {
        Client {
            sock,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            mode: Mode::Request,
            read_eof: false,
            close_after_flush: false,
            dead: false,
        }
    }

    /// The socket, for poll(2).
    pub fn sock(&self) -> &UnixStream {
        &self.sock
    }

    /// Closed, to be removed.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Bytes queued and not written yet.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Queues one response line.
    pub fn queue<T: Serialize>(&mut self, response: &Response<T>) {
        match serde_json::to_vec(response) {
            Ok(mut line) => {
                line.push(b'\n');
                self.out.extend_from_slice(&line);
            }
            Err(e) => tracing::error!("cannot encode a response: {e}"),
        }
    }

    /// Queues the exit frame that ends an attach stream, then closes.
    pub fn queue_exit(&mut self, exit: &ExitStatus) {
        if let Ok(json) = serde_json::to_vec(exit) {
            encode_frame(STREAM_EXIT, &json, &mut self.out);
        }
        self.close();
    }

    /// Flushes what is queued, then closes.
    pub fn close(&mut self) {
        self.mode = Mode::Closing;
        self.close_after_flush = true;
    }
}

impl Daemon {
    /// Accepts every pending connection.
    pub(super) fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if let Err(e) = sock.set_nonblocking(true) {
                        tracing::warn!("cannot configure a client connection: {e}");
                        continue;
                    }
                    let t = self.next_token;
                    self.next_token += 1;
                    self.clients.insert(t, Client::new(sock));
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

    /// The client's socket is readable (or hung up).
    pub(super) fn on_client(&mut self, t: u64, revents: i16) {
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
                    let e = DaemonError::RequestTooLong;
                    c.queue(&Response::<Empty>::Error(ShimError {
                        kind: e.kind(),
                        message: e.message(),
                    }));
                    c.close();
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

    /// Handles the complete request lines of a client in `Request` mode;
    /// bytes after an `attach` go to the process's stdin.
    pub(super) fn process_requests(&mut self, t: u64) {
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
                Err(e) => self.reply_err(t, &DaemonError::BadRequest(e)),
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

    /// Queues `{"ok": value}` for client `t`.
    pub(super) fn reply_ok<T: Serialize>(&mut self, t: u64, value: T) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.queue(&Response::Ok(value));
        }
    }

    /// Queues `{"error": …}` for client `t`.
    pub(super) fn reply_err(&mut self, t: u64, err: &DaemonError) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.queue(&Response::<Empty>::Error(ShimError {
                kind: err.kind(),
                message: err.message(),
            }));
        }
    }

    /// Switches client `t` to `mode`.
    pub(super) fn set_mode(&mut self, t: u64, mode: Mode) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.mode = mode;
        }
    }

    /// Writes what each client can take now.
    pub(super) fn flush_clients(&mut self) {
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

    /// Removes closed clients, and them from whatever they were attached
    /// to, waiting for or deleting.
    pub(super) fn remove_dead(&mut self) {
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
            self.procs.forget_client(t);
            self.pending_deletes.retain(|x| *x != t);
        }
    }
}
