//! virtio-serial ports: finding one by name (`/sys/class/virtio-ports/*/name`)
//! and waiting for the host end to connect.
//!
//! A guest port reads EOF and polls `POLLHUP` while no host is connected to
//! the other end (QEMU's chardev socket has no client); the kernel wakes the
//! port's poll queue when the host connects, so the wait is event driven.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use skiff_relay::FdStream;
use tokio::io::unix::AsyncFd;

use crate::error::{Context, SysError};
use crate::say;

/// Where the kernel lists virtio-serial ports.
pub const SYSFS_PORTS: &str = "/sys/class/virtio-ports";

/// The device node of the port named `name` (`skiff.engine` →
/// `/dev/vport1p1`), looked up in `sysfs` (normally [`SYSFS_PORTS`]).
pub fn find(sysfs: &Path, name: &str) -> Option<PathBuf> {
    let mut ports: Vec<_> = std::fs::read_dir(sysfs)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    ports.sort();
    ports.into_iter().find_map(|port| {
        let found = std::fs::read_to_string(Path::new(sysfs).join(&port).join("name")).ok()?;
        (found.trim() == name).then(|| Path::new("/dev").join(port))
    })
}

/// Waits until the port named `name` appears (the driver registers ports
/// asynchronously after the device is probed).
pub async fn find_wait(name: &str, timeout: Duration) -> Option<PathBuf> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(p) = find(Path::new(SYSFS_PORTS), name)
            && p.exists()
        {
            return Some(p);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether the host end of an open port is connected (no `POLLHUP`).
fn host_connected(file: &File) -> Result<bool, nix::Error> {
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLOUT)];
    poll(&mut fds, PollTimeout::ZERO)?;
    Ok(!fds[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLHUP)))
}

/// Opens `device` and waits until a host is connected to it, then closes
/// it again (the caller reopens it for the session; the port allows one
/// open at a time).
pub async fn wait_host(device: &Path) -> Result<(), SysError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(device)
        .at("open", device)?;
    // SAFETY: the File owns its descriptor and keeps it open, unchanged,
    // for as long as the AsyncFd that owns the File lives.
    let afd = unsafe { AsyncFd::register(file) }.at("epoll", device)?;
    loop {
        if host_connected(afd.get_ref()).at("poll", device)? {
            return Ok(());
        }
        // Woken on every change of the port (host connect included); the
        // timeout only guards against a missed wakeup.
        if let Ok(Ok(mut guard)) =
            tokio::time::timeout(Duration::from_secs(1), afd.readable()).await
        {
            guard.clear_ready();
        }
    }
}

/// Serves the port at `device` forever, one host at a time: waits for a
/// host, opens the port and runs `session` on it; when the session ends
/// (the host went away) starts over. Errors are logged, prefixed with
/// `what`; `session` logs its own.
pub async fn serve_forever<F, Fut>(device: &Path, what: &str, mut session: F)
where
    F: FnMut(FdStream) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        if let Err(e) = wait_host(device).await {
            say!("{what}: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        match skiff_relay::serial::open(device) {
            Ok(port) => session(port).await,
            Err(e) => say!("{what}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ports_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (port, name) in [
            ("vport1p1", "skiff.engine\n"),
            ("vport1p2", "skiff.control\n"),
        ] {
            std::fs::create_dir(dir.path().join(port)).expect("mkdir");
            std::fs::write(dir.path().join(port).join("name"), name).expect("write");
        }
        // A port without a name file (a console) is skipped.
        std::fs::create_dir(dir.path().join("vport0p0")).expect("mkdir");
        assert_eq!(
            find(dir.path(), "skiff.control"),
            Some(PathBuf::from("/dev/vport1p2"))
        );
        assert_eq!(
            find(dir.path(), "skiff.engine"),
            Some(PathBuf::from("/dev/vport1p1"))
        );
        assert_eq!(find(dir.path(), "skiff.other"), None);
        assert_eq!(find(&dir.path().join("absent"), "skiff.engine"), None);
    }

    #[test]
    fn a_pipe_with_a_writer_is_connected() {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let r = File::from(r);
        assert!(host_connected(&r).expect("poll"));
        drop(w);
        assert!(!host_connected(&r).expect("poll"));
    }
}
