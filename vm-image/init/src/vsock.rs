//! vsock listeners: under Virtualization.framework (macOS) the host reaches
//! the guest through a virtio socket device instead of virtio-serial ports;
//! the guest listens on vsock port 1024 (engine relay) and 1025 (control
//! protocol), see docs/vm.md.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The guest's vsock port for the engine relay.
pub const ENGINE_PORT: u32 = 1024;
/// The guest's vsock port for the control protocol.
pub const CONTROL_PORT: u32 = 1025;

/// A listening vsock socket.
#[derive(Debug)]
pub struct VsockListener {
    fd: AsyncFd<OwnedFd>,
    port: u32,
}

/// One accepted vsock connection.
#[derive(Debug)]
pub struct VsockStream {
    fd: AsyncFd<std::fs::File>,
}

fn sockaddr(port: u32) -> libc::sockaddr_vm {
    // SAFETY: sockaddr_vm is a plain C struct for which all-zero is valid.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_port = port;
    addr.svm_cid = libc::VMADDR_CID_ANY;
    addr
}

impl VsockListener {
    /// Listens on `port` for any CID (`VMADDR_PORT_ANY`: a free port). Must
    /// be called inside a tokio runtime.
    pub fn bind(port: u32) -> io::Result<VsockListener> {
        // SAFETY: plain socket(2) call; the descriptor is owned right below.
        let raw = unsafe {
            libc::socket(
                libc::AF_VSOCK,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let addr = sockaddr(port);
        // SAFETY: addr is a valid sockaddr_vm of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_vm).cast(),
                std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: listen(2) on a descriptor this function owns.
        if unsafe { libc::listen(fd.as_raw_fd(), 16) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let port = local_port(&fd)?;
        // SAFETY: the OwnedFd stays open and unchanged for as long as the
        // AsyncFd that owns it lives.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(VsockListener { fd, port })
    }

    /// The port listened on.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<VsockStream> {
        loop {
            let mut guard = self.fd.readable().await?;
            let result = guard.try_io(|fd| {
                // SAFETY: accept4 with null address pointers (not wanted).
                let raw = unsafe {
                    libc::accept4(
                        fd.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    )
                };
                if raw < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    // SAFETY: raw is a fresh descriptor nobody else owns.
                    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
                }
            });
            match result {
                Ok(Ok(fd)) => {
                    let file = std::fs::File::from(fd);
                    // SAFETY: the File owns its descriptor for the AsyncFd's life.
                    let fd = unsafe { AsyncFd::register(file) }?;
                    return Ok(VsockStream { fd });
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn local_port(fd: &OwnedFd) -> io::Result<u32> {
    let mut addr = sockaddr(0);
    let mut len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
    // SAFETY: addr/len describe a writable sockaddr_vm buffer.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut addr as *mut libc::sockaddr_vm).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(addr.svm_port)
}

impl AsyncRead for VsockStream {
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
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for VsockStream {
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
        // SAFETY: shutdown(2) on the descriptor this stream owns.
        let rc = unsafe { libc::shutdown(self.fd.get_ref().as_raw_fd(), libc::SHUT_WR) };
        if rc < 0 {
            return Poll::Ready(Err(io::Error::last_os_error()));
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = sockaddr(ENGINE_PORT);
        assert_eq!(a.svm_family, libc::AF_VSOCK as libc::sa_family_t);
        assert_eq!(a.svm_port, 1024);
        assert_eq!(a.svm_cid, libc::VMADDR_CID_ANY);
        assert_eq!(CONTROL_PORT, 1025);
    }

    #[tokio::test]
    async fn binds_and_listens_where_the_kernel_has_vsock() {
        // Connecting needs a transport (a VM's, or vsock_loopback); binding
        // and listening only need AF_VSOCK, which CI kernels may lack.
        match VsockListener::bind(libc::VMADDR_PORT_ANY) {
            Ok(l) => assert_ne!(l.port(), libc::VMADDR_PORT_ANY),
            Err(e) => assert!(
                matches!(
                    e.raw_os_error(),
                    Some(libc::EAFNOSUPPORT | libc::ENODEV | libc::EADDRNOTAVAIL)
                ),
                "{e}"
            ),
        }
    }
}
