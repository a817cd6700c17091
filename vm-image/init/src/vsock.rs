//! vsock listeners: under Virtualization.framework (macOS) the host reaches
//! the guest through a virtio socket device instead of virtio-serial ports;
//! the guest listens on vsock port 1024 (engine relay) and 1025 (control
//! protocol), see docs/vm.md.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use skiff_relay::FdStream;
use tokio::io::unix::AsyncFd;

use crate::say;

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

    /// Waits for the next connection: an [`FdStream::socket`], whose
    /// `poll_shutdown` is `shutdown(SHUT_WR)`.
    pub async fn accept(&self) -> io::Result<FdStream> {
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
                Ok(Ok(fd)) => return FdStream::socket(fd),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

impl VsockListener {
    /// Serves connections forever, one session at a time: each accepted
    /// connection gets a task running `session`, and a new connection (a
    /// host that came back) aborts the current one. Accept errors are
    /// logged, prefixed with `what`; `session` logs its own.
    pub async fn serve_latest<F, Fut>(&self, what: &str, mut session: F)
    where
        F: FnMut(FdStream) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut current: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            match self.accept().await {
                Ok(conn) => {
                    if let Some(old) = current.take() {
                        old.abort();
                    }
                    current = Some(tokio::spawn(session(conn)));
                }
                Err(e) => {
                    say!("{what}: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
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
