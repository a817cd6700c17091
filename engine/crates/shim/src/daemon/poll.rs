//! The loop: one poll(2) over every descriptor the shim serves, on its only
//! thread.
//!
//! Each turn: poll the control socket (until shutdown), the SIGCHLD
//! descriptor, every client (readable when it may send more, writable
//! while it has queued bytes), every open output of a process (unless one
//! of its attached clients is more than [`CLIENT_HIGH_WATER`] behind), and
//! every stdin with queued bytes; dispatch what is ready; finalize drained
//! exits; flush clients; drop closed ones. The poll timeout is the nearest
//! drain deadline. After a `delete` the loop ends once every client is
//! flushed, or after [`SHUTDOWN_GRACE`].

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::Daemon;
use super::clients::{Client, Mode};
use super::procs::Key;
use super::sys;

/// Above this many unsent bytes for one attached client, the process's output
/// is no longer read (backpressure, as docker's attach does).
const CLIENT_HIGH_WATER: usize = 1 << 20;
/// Above this many bytes waiting for the process's stdin, clients are no
/// longer read.
const STDIN_HIGH_WATER: usize = 256 << 10;
/// How long clients may take to read their last answers after a `delete`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What a polled descriptor is.
#[derive(Clone)]
enum Tag {
    Listener,
    Signal,
    Client(u64),
    Output(Key, usize),
    Stdin(Key),
}

impl Daemon {
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
                if flushed || since.elapsed() > SHUTDOWN_GRACE {
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
            if c.is_dead() {
                continue;
            }
            let mut events = 0;
            if !c.read_eof && self.wants_input(c) {
                events |= libc::POLLIN;
            }
            if c.pending() > 0 {
                events |= libc::POLLOUT;
            }
            push(c.sock().as_raw_fd(), events, Tag::Client(t));
        }
        for (key, p) in self.procs.iter() {
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

    /// Whether to read from `c`: not while the stdin it feeds is full.
    fn wants_input(&self, c: &Client) -> bool {
        match &c.mode {
            Mode::Attached(a) if a.stdin => self
                .procs
                .get(&a.key)
                .and_then(|p| p.stdin.as_ref())
                .is_none_or(|s| s.buf.len() < STDIN_HIGH_WATER),
            _ => true,
        }
    }

    fn poll_timeout(&self) -> i32 {
        if self.shutdown.is_some() {
            return 50;
        }
        self.next_deadline_ms()
    }
}
