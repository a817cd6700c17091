//! Zero-copy forwarding between two TCP sockets with `splice(2)`, as
//! docker-proxy's Go `io.Copy` does (Go splices TCP → TCP through a pipe):
//! the bytes move socket → pipe → socket inside the kernel, never through a
//! userspace buffer.
//!
//! The pipe keeps the kernel's default capacity (64 KiB, 16 slots), as
//! docker-proxy's (Go 1.19 does not resize its splice pipes; strace shows
//! `splice(sock, pipe, 4 MiB)` returning ≤ 64 KiB). A 1 MiB pipe was tried
//! first: it batches ~750 KiB per wake-up, and the transfer stalls in
//! between (the backend's window closes while a megabyte goes out to the
//! client, the client idles while the next one comes in); 64 KiB keeps both
//! sockets streaming. Measured side by side with docker-proxy on the same
//! backend (1 GiB, 8 transfers each, load 15–17): 1 MiB pipe 0.61× docker-
//! proxy's throughput, 64 KiB 0.97× (bench/README.md, `network.sh`).
//!
//! Contract of [`copy_bidirectional`]: both directions run at once; an EOF
//! read from one socket becomes a write shutdown (`shutdown(SHUT_WR)`) on the
//! other and the other direction goes on until it ends too; the first error in
//! either direction ends both (the caller then drops the sockets). If the
//! pipes cannot be made (out of file descriptors), the error is returned
//! before any byte moved, so the caller can fall back to a buffered copy.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// At most this much per `splice` call into the pipe. The pipe's capacity
/// (the default 64 KiB, see the module docs) is the real bound: a splice into
/// an empty pipe stops when its slots are full and returns what it moved.
const CHUNK: usize = 1 << 20;

/// One direction's pipe.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Self> {
        // The default capacity, on purpose: see the module docs.
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(Pipe { read, write })
    }
}

/// Copies `a` → `b` and `b` → `a` until both directions reached EOF (or
/// one failed); returns the bytes moved each way. See the module docs.
pub(super) async fn copy_bidirectional(a: &TcpStream, b: &TcpStream) -> io::Result<(u64, u64)> {
    let ab = Pipe::new()?;
    let ba = Pipe::new()?;
    tokio::try_join!(one_way(a, b, &ab), one_way(b, a, &ba))
}

/// `src` → `pipe` → `dst` until EOF on `src`, then shuts down `dst`'s write
/// side. The pipe is always drained before the next read, so a read never
/// meets a full pipe (an `EAGAIN` from a read is the socket's) and a write
/// never meets an empty one (an `EAGAIN` from a write is the socket's).
async fn one_way(src: &TcpStream, dst: &TcpStream, pipe: &Pipe) -> io::Result<u64> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let mut total = 0u64;
    loop {
        let n = loop {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || {
                splice(src.as_fd(), None, pipe.write.as_fd(), None, CHUNK, flags)
                    .map_err(io::Error::from)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            // EOF: pass the half-close on. The peer may be gone already.
            let _ = nix::sys::socket::shutdown(
                std::os::fd::AsRawFd::as_raw_fd(dst),
                nix::sys::socket::Shutdown::Write,
            );
            return Ok(total);
        }
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_fd(), None, dst.as_fd(), None, left, flags)
                    .map_err(io::Error::from)
            }) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair of loopback sockets.
    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    #[tokio::test]
    async fn moves_bytes_both_ways_and_passes_half_close_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        // client <-> (p1 | proxy | p2) <-> server
        let (mut client, p1) = pair(&listener).await;
        let (p2, mut server) = pair(&listener).await;
        let proxy = tokio::spawn(async move { copy_bidirectional(&p1, &p2).await });

        // 3 MiB one way (many pipe-fulls), then a half-close.
        let payload: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.expect("write");
            client.shutdown().await.expect("shutdown");
            client
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("read");
        assert_eq!(got.len(), payload.len());
        assert!(got == payload, "bytes changed on the way");

        // The other direction still flows after the half-close.
        server.write_all(b"reply").await.expect("reply");
        server.shutdown().await.expect("server shutdown");
        let mut client = writer.await.expect("writer");
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.expect("read reply");
        assert_eq!(back, b"reply");

        let (ab, ba) = proxy.await.expect("join").expect("copy");
        assert_eq!((ab, ba), (payload.len() as u64, 5));
    }
}
