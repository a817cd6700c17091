//! The real runtime: `skiff-shim` processes over their Unix sockets, the
//! kernel's overlay mounts and cgroup files.

use std::path::{Path, PathBuf};

use skiff_shim::client::{AttachStream, Shim, ShimHandle, SpawnOptions};
use skiff_shim::framed::to_tokio;
use skiff_shim::paths;
use skiff_shim::protocol::{AttachRequest, ExecRequest, Request, Response};
use skiff_shim::{ExecInfo, ExitStatus, ProcessState};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::super::cgroups;
use super::super::error::ContainerError;
use super::super::rootfs::Rootfs;
use super::{HostOps, ShimClient, ShimFuture};

/// Shims run from the `skiff-shim` binary.
#[derive(Debug, Clone)]
pub struct RealShimClient {
    binary: PathBuf,
}

impl RealShimClient {
    /// Shims run from `binary`.
    pub fn new(binary: PathBuf) -> Self {
        Self { binary }
    }

    /// Shims run from `skiff-shim` next to skiffd or on `PATH`.
    pub fn locate() -> Result<Self, ContainerError> {
        Shim::locate()
            .map(Self::new)
            .ok_or(ContainerError::ShimNotFound)
    }
}

impl ShimClient for RealShimClient {
    fn spawn(&self, mut opts: SpawnOptions) -> skiff_shim::Result<()> {
        opts.binary = self.binary.clone();
        Shim::spawn(&opts).map(drop)
    }

    fn state(&self, dir: &Path, exec_id: Option<&str>) -> skiff_shim::Result<ProcessState> {
        let h = ShimHandle::at(dir);
        match exec_id {
            Some(e) => h.exec_state(e),
            None => h.state(),
        }
    }

    fn start(&self, dir: &Path) -> skiff_shim::Result<()> {
        ShimHandle::at(dir).start()
    }

    fn kill(&self, dir: &Path, exec_id: Option<&str>, signal: i32) -> skiff_shim::Result<()> {
        let h = ShimHandle::at(dir);
        match exec_id {
            Some(e) => h.kill_exec(e, signal),
            None => h.kill(signal),
        }
    }

    fn delete(&self, dir: &Path, force: bool) -> skiff_shim::Result<()> {
        ShimHandle::at(dir).delete(force)
    }

    fn attach(&self, dir: &Path, req: AttachRequest) -> skiff_shim::Result<AttachStream> {
        ShimHandle::at(dir).attach(req)
    }

    fn exec(&self, dir: &Path, req: ExecRequest) -> skiff_shim::Result<ExecInfo> {
        ShimHandle::at(dir).exec(req)
    }

    fn exec_attach(
        &self,
        dir: &Path,
        req: ExecRequest,
        attach: AttachRequest,
    ) -> skiff_shim::Result<(ExecInfo, AttachStream)> {
        ShimHandle::at(dir).exec_attach(req, attach)
    }

    fn resize(
        &self,
        dir: &Path,
        exec_id: Option<&str>,
        height: u16,
        width: u16,
    ) -> skiff_shim::Result<()> {
        ShimHandle::at(dir).resize(exec_id, height, width)
    }

    fn set_paused(&self, dir: &Path, paused: bool) -> skiff_shim::Result<()> {
        let h = ShimHandle::at(dir);
        if paused { h.pause() } else { h.resume() }
    }

    fn read_exit(&self, dir: &Path) -> skiff_shim::Result<Option<ExitStatus>> {
        ShimHandle::read_exit(dir)
    }

    fn wait_exit(&self, dir: &Path) -> ShimFuture<ExitStatus> {
        Box::pin(wait_exit(paths::socket(dir)))
    }
}

/// The shim's `wait` for the init process, on a non-blocking socket.
async fn wait_exit(socket: PathBuf) -> std::io::Result<ExitStatus> {
    let sock = to_tokio(paths::connect(&socket)?)?;
    let mut line = serde_json::to_vec(&Request::Wait { exec_id: None })?;
    line.push(b'\n');
    let mut sock = BufReader::new(sock);
    sock.get_mut().write_all(&line).await?;
    let mut answer = Vec::new();
    sock.read_until(b'\n', &mut answer).await?;
    match serde_json::from_slice::<Response<ExitStatus>>(&answer) {
        Ok(Response::Ok(exit)) => Ok(exit),
        Ok(Response::Error(e)) => Err(std::io::Error::other(e.message)),
        Err(_) if answer.is_empty() => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{}: the shim closed the connection", socket.display()),
        )),
        Err(e) => Err(std::io::Error::other(format!(
            "{}: bad answer: {e}",
            socket.display()
        ))),
    }
}

/// The kernel: overlayfs mounts and cgroup files.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

impl HostOps for RealHost {
    fn mount(&self, rootfs: &Rootfs, lower: &[PathBuf]) -> Result<(), ContainerError> {
        rootfs.mount(lower)
    }

    fn unmount(&self, rootfs: &Rootfs) -> Result<(), ContainerError> {
        rootfs.unmount()
    }

    fn is_mounted(&self, rootfs: &Rootfs) -> bool {
        rootfs.is_mounted()
    }

    fn remove_cgroups(&self, id: &str, cgroup: &str) -> Result<(), ContainerError> {
        cgroups::remove(cgroup).map_err(|e| ContainerError::Runtime(format!("container {id}: {e}")))
    }
}
