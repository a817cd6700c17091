//! A character device (a virtio-serial port) as a tokio stream.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::RelayError;

/// A non-blocking character device driven by the tokio reactor (epoll), so
/// reads and writes need no blocking thread. A virtio-serial port reads EOF
/// while no host is connected.
#[derive(Debug)]
pub struct SerialPort {
    fd: AsyncFd<File>,
}

impl SerialPort {
    /// Opens `path` read-write, non-blocking. Must be called inside a tokio
    /// runtime.
    pub fn open(path: &Path) -> Result<SerialPort, RelayError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| RelayError::io(format!("opening {}", path.display()), e))?;
        Self::register(file, path)
    }

    /// Wraps an open descriptor (a pty master, ...), made non-blocking.
    pub fn from_file(file: File) -> Result<SerialPort, RelayError> {
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor `file` owns; no pointers.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(RelayError::io(
                "reading a descriptor's flags",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: as above.
        let rc = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        if rc < 0 {
            return Err(RelayError::io(
                "making a descriptor non-blocking",
                io::Error::last_os_error(),
            ));
        }
        Self::register(file, Path::new("a descriptor"))
    }

    fn register(file: File, path: &Path) -> Result<SerialPort, RelayError> {
        // SAFETY: `file` owns a valid descriptor, and the AsyncFd owns
        // `file` from here on, so the descriptor is neither closed nor
        // replaced while it is registered.
        let fd = unsafe { AsyncFd::register(file) }
            .map_err(|e| RelayError::io(format!("registering {}", path.display()), e.into()))?;
        Ok(SerialPort { fd })
    }
}

impl AsyncRead for SerialPort {
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

impl AsyncWrite for SerialPort {
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
        Poll::Ready(Ok(()))
    }
}

/// The device of the virtio-serial port named `name` (`/dev/vportXpY`
/// whose `/sys/class/virtio-ports/vportXpY/name` is `name`), if any.
pub fn find_port(name: &str) -> Option<std::path::PathBuf> {
    find_port_in(
        Path::new("/sys/class/virtio-ports"),
        Path::new("/dev"),
        name,
    )
}

fn find_port_in(class: &Path, dev: &Path, name: &str) -> Option<std::path::PathBuf> {
    let entries = std::fs::read_dir(class).ok()?;
    for entry in entries.flatten() {
        let Ok(found) = std::fs::read_to_string(entry.path().join("name")) else {
            continue;
        };
        if found.trim_end() == name {
            return Some(dev.join(entry.file_name()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_port_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (port, name) in [("vport0p1", "skiff.control"), ("vport0p2", "skiff.engine")] {
            std::fs::create_dir(dir.path().join(port)).expect("mkdir");
            std::fs::write(dir.path().join(port).join("name"), format!("{name}\n")).expect("name");
        }
        let found = find_port_in(dir.path(), Path::new("/dev"), "skiff.engine");
        assert_eq!(found.as_deref(), Some(Path::new("/dev/vport0p2")));
        assert_eq!(find_port_in(dir.path(), Path::new("/dev"), "nope"), None);
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_fifo_reads_and_writes_like_a_port() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fifo");
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("cstring");
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo");
        let mut port = SerialPort::open(&path).expect("open");
        port.write_all(b"ping").await.expect("write");
        let mut got = [0u8; 4];
        port.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"ping");
        let err = SerialPort::open(&dir.path().join("missing")).expect_err("missing");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
