//! The host side of the engine relay over vsock (QEMU with vhost-vsock).
//!
//! When the host's `/dev/vhost-vsock` opens read-write ([`probe`]), QEMU
//! gets a `vhost-vsock-pci` device with a per-machine guest CID
//! ([`guest_cid`]) and the supervisor's relay connects to
//! `(cid, `[`ENGINE_PORT`]`)` with [`connect`] instead of the
//! `engine.port` virtio-serial socket; the guest (skiff-init) serves the
//! same `SKIFF-RELAY/1` handshake and yamux session there. If the vsock
//! connection keeps failing for [`FALLBACK_AFTER`] after the guest booted,
//! the relay falls back to the serial port ([`TransportChooser`]).
//!
//! The machines this is developed and tested on have no `/dev/vhost-vsock`
//! and no working vsock loopback, so the vsock path does not run end to
//! end here: the probe, the CID, QEMU's argv and the fallback decision are
//! unit-tested, the connect path only up to its error.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use skiff_relay::FdStream;

/// The host's vhost-vsock device.
pub const VHOST_VSOCK_DEVICE: &str = "/dev/vhost-vsock";
/// The guest's vsock port for the engine relay (docs/vm.md).
pub const ENGINE_PORT: u32 = 1024;
/// How long after the guest booted a failing vsock connect is retried
/// before the relay falls back to the serial port.
pub const FALLBACK_AFTER: Duration = Duration::from_secs(10);

/// A vsock connection that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("vsock {cid}:{port}: {op}: {source}")]
pub struct VsockError {
    /// The peer's CID.
    pub cid: u32,
    /// The peer's port.
    pub port: u32,
    /// What failed (`socket`, `connect`, ...).
    pub op: &'static str,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// `Ok` when `device` (normally [`VHOST_VSOCK_DEVICE`]) opens read-write,
/// as QEMU needs it; else why not. Existence alone is not enough: the
/// device may belong to another group or lack its module.
pub fn probe(device: &Path) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map(drop)
        .map_err(|e| format!("opening {} read-write: {e}", device.display()))
}

/// The guest CID for the machine in `machine_dir`: 3 + a stable hash of the
/// directory's path (so two homes' `default` machines differ), never one of
/// the reserved CIDs 0, 1, 2 or `u32::MAX`. `attempt` > 0 gives other CIDs
/// for the same machine.
pub fn guest_cid(machine_dir: &Path, attempt: u32) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(machine_dir.as_os_str().as_encoded_bytes());
    hasher.update(attempt.to_be_bytes());
    let digest = hasher.finalize();
    let value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // 3 ..= u32::MAX - 1
    3 + value % (u32::MAX - 3)
}

/// Which byte pipe the relay uses next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// vsock to the guest CID.
    Vsock,
    /// The `engine.port` virtio-serial socket.
    Serial,
}

/// The relay's transport decision: vsock while it may still come up,
/// serial once it kept failing for [`FALLBACK_AFTER`] after boot. Both
/// outcomes stick: a vsock that worked once is reconnected (the guest may
/// restart its relay), a fallback is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportChooser {
    vsock: bool,
    connected_once: bool,
    fell_back: bool,
}

impl TransportChooser {
    /// Starts with vsock when `vsock` (the probe said yes).
    pub fn new(vsock: bool) -> TransportChooser {
        TransportChooser {
            vsock,
            connected_once: false,
            fell_back: false,
        }
    }

    /// The transport to try now; `since_boot` is how long ago the guest
    /// reported `booted` (None: not yet).
    pub fn next(&mut self, since_boot: Option<Duration>) -> Transport {
        if !self.vsock || self.fell_back {
            return Transport::Serial;
        }
        if self.connected_once {
            return Transport::Vsock;
        }
        match since_boot {
            Some(elapsed) if elapsed >= FALLBACK_AFTER => {
                self.fell_back = true;
                Transport::Serial
            }
            _ => Transport::Vsock,
        }
    }

    /// A vsock connection was made.
    pub fn connected(&mut self) {
        self.connected_once = true;
    }

    /// Whether the chooser gave up on vsock.
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }
}

fn sockaddr(cid: u32, port: u32) -> libc::sockaddr_vm {
    // SAFETY: sockaddr_vm is a plain C struct for which all-zero is valid.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_port = port;
    addr.svm_cid = cid;
    addr
}

/// Connects to `port` of `cid`: a non-blocking AF_VSOCK stream socket as an
/// [`FdStream::socket`] (its `poll_shutdown` is `shutdown(SHUT_WR)`). Must
/// be called inside a tokio runtime; the kernel's vsock connect timeout
/// (2 s by default) bounds the wait.
pub async fn connect(cid: u32, port: u32) -> Result<FdStream, VsockError> {
    let err = |op, source| VsockError {
        cid,
        port,
        op,
        source,
    };
    // SAFETY: plain socket(2) call; the descriptor is owned right below.
    let raw = unsafe {
        libc::socket(
            libc::AF_VSOCK,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(err("socket", io::Error::last_os_error()));
    }
    // SAFETY: raw is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let addr = sockaddr(cid, port);
    // SAFETY: addr is a valid sockaddr_vm of the size passed.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_vm).cast(),
            std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    };
    let pending = if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err("connect", e));
        }
        true
    } else {
        false
    };
    let stream = FdStream::socket(fd).map_err(|e| err("registering", e))?;
    if pending {
        stream.writable().await.map_err(|e| err("connect", e))?;
        so_error(stream.as_fd()).map_err(|e| err("connect", e))?;
    }
    Ok(stream)
}

/// The socket's pending error (`SO_ERROR`), as a result.
fn so_error(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value/len describe a writable c_int buffer.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if value != 0 {
        return Err(io::Error::from_raw_os_error(value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_wants_a_device_that_opens_read_write() {
        let (tmp, missing) = crate::fsutil::temp_path("vhost-vsock");
        let err = probe(&missing).expect_err("missing device");
        assert!(err.contains(&missing.display().to_string()), "{err}");
        // A directory never opens for writing, not even for root.
        let err = probe(tmp.path()).expect_err("a directory");
        assert!(err.contains("read-write"), "{err}");
        let file = tmp.path().join("rw");
        std::fs::write(&file, b"").expect("write");
        probe(&file).expect("a read-write file");
    }

    #[test]
    fn guest_cids_are_stable_distinct_and_never_reserved() {
        let a = guest_cid(Path::new("/h/machines/default"), 0);
        assert_eq!(a, guest_cid(Path::new("/h/machines/default"), 0));
        assert_ne!(a, guest_cid(Path::new("/other/machines/default"), 0));
        assert_ne!(a, guest_cid(Path::new("/h/machines/default"), 1));
        for i in 0..2000u32 {
            let cid = guest_cid(Path::new(&format!("/h/machines/m{i}")), i % 3);
            assert!((3..u32::MAX).contains(&cid), "{cid}");
        }
    }

    #[test]
    fn the_relay_falls_back_to_serial_ten_seconds_after_boot() {
        let mut off = TransportChooser::new(false);
        assert_eq!(off.next(None), Transport::Serial);
        assert_eq!(off.next(Some(Duration::ZERO)), Transport::Serial);

        let mut on = TransportChooser::new(true);
        assert_eq!(on.next(None), Transport::Vsock);
        assert_eq!(on.next(Some(Duration::from_secs(9))), Transport::Vsock);
        assert!(!on.fell_back());
        assert_eq!(on.next(Some(FALLBACK_AFTER)), Transport::Serial);
        assert!(on.fell_back());
        on.connected();
        assert_eq!(on.next(Some(Duration::ZERO)), Transport::Serial);

        let mut worked = TransportChooser::new(true);
        assert_eq!(worked.next(Some(Duration::from_secs(1))), Transport::Vsock);
        worked.connected();
        assert_eq!(
            worked.next(Some(Duration::from_secs(3600))),
            Transport::Vsock
        );
    }

    #[test]
    fn addresses() {
        let a = sockaddr(7, ENGINE_PORT);
        assert_eq!(a.svm_family, libc::AF_VSOCK as libc::sa_family_t);
        assert_eq!((a.svm_cid, a.svm_port), (7, 1024));
    }

    #[tokio::test]
    async fn a_failed_connect_names_cid_and_port() {
        // No guest listens here (and these hosts have no vsock transport at
        // all): the connect fails, and says where it tried.
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            connect(libc::VMADDR_CID_LOCAL, 49_999),
        )
        .await
        .expect("the kernel's connect timeout applies");
        let err = result.expect_err("nothing listens");
        assert!(err.to_string().starts_with("vsock 1:49999: "), "{err}");
    }
}
