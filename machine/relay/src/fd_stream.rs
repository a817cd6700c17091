//! A non-blocking file descriptor as a tokio stream.
//!
//! Every byte pipe between the host and the VM is a plain descriptor driven
//! by the tokio reactor (epoll): a virtio-serial port (a character device),
//! a vsock connection (a socket, host and guest side), WSL's stdin/stdout
//! (pipes), a pty master. They read and write alike; they differ only in
//! what "nothing more to write" (`poll_shutdown`) can mean, which the
//! constructor states:
//!
//! - [`FdStream::socket`]: `shutdown(SHUT_WR)`. The peer reads EOF while
//!   this side can still read its answer — the half-close the relay's
//!   yamux session and the control protocol rely on over vsock.
//! - [`FdStream::device`]: nothing. A character device, a pipe or a pty
//!   has no write half of its own to close: a virtio-serial port is one
//!   descriptor for both directions (its EOF is the host closing its end),
//!   and a pipe or pty could only signal EOF by closing the descriptor,
//!   which the stream does when it is dropped.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What `poll_shutdown` does to the descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HalfClose {
    /// `shutdown(SHUT_WR)`: a socket.
    ShutdownWrite,
    /// Nothing: a character device, pipe or pty.
    Nothing,
}

/// A non-blocking descriptor read and written through the tokio reactor,
/// so reads and writes need no blocking thread. The descriptor is closed
/// when the stream is dropped. See the [module](self) for the half-close
/// each constructor chooses.
#[derive(Debug)]
pub struct FdStream {
    fd: AsyncFd<File>,
    half_close: HalfClose,
}

impl FdStream {
    /// A connected stream socket (vsock, Unix, TCP): `poll_shutdown` is
    /// `shutdown(SHUT_WR)`. The descriptor is made non-blocking. Must be
    /// called inside a tokio runtime.
    pub fn socket(fd: OwnedFd) -> io::Result<FdStream> {
        FdStream::new(fd, HalfClose::ShutdownWrite)
    }

    /// A character device, pipe or pty: `poll_shutdown` does nothing (see
    /// the [module](self)). The descriptor is made non-blocking. Must be
    /// called inside a tokio runtime; fails for descriptors epoll cannot
    /// watch (a regular file, `/dev/null`).
    pub fn device(fd: OwnedFd) -> io::Result<FdStream> {
        FdStream::new(fd, HalfClose::Nothing)
    }

    fn new(fd: OwnedFd, half_close: HalfClose) -> io::Result<FdStream> {
        set_nonblocking(fd.as_raw_fd())?;
        // SAFETY: the File owns its descriptor, and the AsyncFd owns the
        // File from here on, so the descriptor is neither closed nor
        // replaced while it is registered.
        let fd = unsafe { AsyncFd::register(File::from(fd)) }?;
        Ok(FdStream { fd, half_close })
    }

    /// Waits until the descriptor is writable, without writing: how a
    /// non-blocking `connect` that returned `EINPROGRESS` is awaited (then
    /// read `SO_ERROR` for its outcome). The readiness is kept for the
    /// first write.
    pub async fn writable(&self) -> io::Result<()> {
        // Dropping the guard without clearing it keeps the readiness.
        self.fd.writable().await.map(drop)
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns; no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl AsFd for FdStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsRawFd for FdStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().write(buf)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.half_close {
            HalfClose::Nothing => Poll::Ready(Ok(())),
            HalfClose::ShutdownWrite => {
                // SAFETY: shutdown(2) on the descriptor this stream owns.
                let rc = unsafe { libc::shutdown(self.as_raw_fd(), libc::SHUT_WR) };
                Poll::Ready(if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::FromRawFd;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A connected pair of Unix stream sockets, blocking (the stream makes
    /// its side non-blocking).
    fn socketpair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a writable array of two descriptors.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
        // SAFETY: both descriptors are fresh and owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// A pipe: (read end, write end).
    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a writable array of two descriptors.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
        // SAFETY: both descriptors are fresh and owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// Whether a read on `stream` returns nothing within a short while
    /// (no data and no EOF).
    async fn stays_silent(stream: &mut FdStream) -> bool {
        let mut buf = [0u8; 16];
        tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf))
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_socket_shuts_down_its_write_half_and_keeps_reading() {
        let (a, b) = socketpair();
        let mut a = FdStream::socket(a).expect("a");
        let mut b = FdStream::socket(b).expect("b");
        a.write_all(b"request").await.expect("write");
        a.shutdown().await.expect("shutdown");

        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("b reads to EOF");
        assert_eq!(got, b"request");

        // The other direction is still open both ways.
        b.write_all(b"answer")
            .await
            .expect("b writes after a's EOF");
        b.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.expect("a still reads");
        assert_eq!(got, b"answer");
        assert!(
            a.write_all(b"more").await.is_err(),
            "a's write half is shut"
        );
    }

    #[tokio::test]
    async fn a_device_keeps_its_descriptor_open_on_shutdown() {
        // A socket taken as a device: shutdown sends no EOF.
        let (a, b) = socketpair();
        let mut a = FdStream::device(a).expect("a");
        let mut b = FdStream::socket(b).expect("b");
        a.shutdown().await.expect("shutdown");
        assert!(stays_silent(&mut b).await, "the peer saw EOF");
        a.write_all(b"still")
            .await
            .expect("a writes after shutdown");
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"still");

        // A pipe: the reader sees EOF only once the writer is dropped.
        let (r, w) = pipe();
        let mut r = FdStream::device(r).expect("read end");
        let mut w = FdStream::device(w).expect("write end");
        w.write_all(b"x").await.expect("write");
        w.shutdown().await.expect("shutdown of a pipe");
        let mut one = [0u8; 1];
        r.read_exact(&mut one).await.expect("read");
        assert!(stays_silent(&mut r).await, "EOF before the writer closed");
        w.write_all(b"y")
            .await
            .expect("a pipe writes after shutdown");
        drop(w);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.expect("read to EOF");
        assert_eq!(rest, b"y");
    }

    #[tokio::test]
    async fn descriptors_are_made_non_blocking() {
        let (r, _w) = pipe();
        let raw = r.as_raw_fd();
        let _r = FdStream::device(r).expect("read end");
        // SAFETY: fcntl on a descriptor the stream keeps open.
        let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
        assert_ne!(flags & libc::O_NONBLOCK, 0);
    }

    #[tokio::test]
    async fn a_regular_file_is_refused() {
        let file = tempfile::tempfile().expect("tempfile");
        let err = FdStream::device(file.into()).expect_err("epoll cannot watch a file");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }
}
