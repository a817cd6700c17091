//! A character device (a virtio-serial port) as a tokio stream.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::RelayError;
use crate::fd_stream::FdStream;

/// Opens the character device at `path` read-write, non-blocking, as an
/// [`FdStream::device`] (its `poll_shutdown` does nothing). A virtio-serial
/// port reads EOF while no host is connected. Must be called inside a
/// tokio runtime.
pub fn open(path: &Path) -> Result<FdStream, RelayError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| RelayError::io(format!("opening {}", path.display()), e))?;
    FdStream::device(file.into())
        .map_err(|e| RelayError::io(format!("registering {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_fifo_reads_and_writes_like_a_port() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fifo");
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("cstring");
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo");
        let mut port = open(&path).expect("open");
        port.write_all(b"ping").await.expect("write");
        let mut got = [0u8; 4];
        port.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"ping");
        let err = open(&dir.path().join("missing")).expect_err("missing");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
