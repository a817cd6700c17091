//! The seam between the container service and the OS: everything the
//! service asks of a container's shim ([`ShimClient`]) and of the host
//! ([`HostOps`]: the root filesystem's overlay mount, leftover cgroups).
//!
//! The service holds both as trait objects chosen when it opens
//! ([`Runtime`]): [`Runtime::real`] talks to `skiff-shim` processes and the
//! kernel; the unit tests use an in-memory double (`fake`), so that create,
//! start, exit, restart policies, attach and remove run without root or
//! kernel features (as youki hides its syscalls behind `Syscall`).
//!
//! A shim is addressed by its state directory; [`ShimRef`] pairs one with
//! the client, and has the methods of `skiff_shim::ShimHandle`.

#[cfg(test)]
pub(crate) mod fake;
mod real;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use skiff_shim::client::{AttachStream, SpawnOptions};
use skiff_shim::protocol::{AttachRequest, ExecRequest};
use skiff_shim::{ExecInfo, ExitStatus, ProcessState};

use super::error::ContainerError;
use super::rootfs::Rootfs;

pub use real::{RealHost, RealShimClient};

/// A future answered by the shim asynchronously.
pub type ShimFuture<T> = Pin<Box<dyn Future<Output = std::io::Result<T>> + Send>>;

/// What the container service asks of the shims. Every call but
/// [`ShimClient::wait_exit`] blocks (run it in `spawn_blocking`); `dir` is
/// the shim's state directory.
pub trait ShimClient: Send + Sync + std::fmt::Debug {
    /// Starts a shim as `opts` says (`opts.binary` is ignored: the client
    /// knows its shim binary); returns once the container exists and the
    /// shim answers.
    fn spawn(&self, opts: SpawnOptions) -> skiff_shim::Result<()>;
    /// The state of the container's init process (or of an exec).
    fn state(&self, dir: &Path, exec_id: Option<&str>) -> skiff_shim::Result<ProcessState>;
    /// Starts a container spawned with `defer_start`.
    fn start(&self, dir: &Path) -> skiff_shim::Result<()>;
    /// Sends `signal` to the init process (or to an exec).
    fn kill(&self, dir: &Path, exec_id: Option<&str>, signal: i32) -> skiff_shim::Result<()>;
    /// Deletes the container's runtime state; the shim then ends. Refused
    /// while it runs unless `force`.
    fn delete(&self, dir: &Path, force: bool) -> skiff_shim::Result<()>;
    /// Attaches to the stdio of the container (or of an exec).
    fn attach(&self, dir: &Path, req: AttachRequest) -> skiff_shim::Result<AttachStream>;
    /// Runs a new process in the container (detached).
    fn exec(&self, dir: &Path, req: ExecRequest) -> skiff_shim::Result<ExecInfo>;
    /// Runs a new process and attaches to it before it can print.
    fn exec_attach(
        &self,
        dir: &Path,
        req: ExecRequest,
        attach: AttachRequest,
    ) -> skiff_shim::Result<(ExecInfo, AttachStream)>;
    /// Sets the pty size of the container (or of an exec).
    fn resize(
        &self,
        dir: &Path,
        exec_id: Option<&str>,
        height: u16,
        width: u16,
    ) -> skiff_shim::Result<()>;
    /// Freezes (`true`) or thaws the container.
    fn set_paused(&self, dir: &Path, paused: bool) -> skiff_shim::Result<()>;
    /// The exit status the shim left in `dir` (there even when the shim is
    /// gone); `None` if the container has not exited.
    fn read_exit(&self, dir: &Path) -> skiff_shim::Result<Option<ExitStatus>>;
    /// Resolves when the container's init process has exited and its
    /// output is drained (holding no thread meanwhile).
    fn wait_exit(&self, dir: &Path) -> ShimFuture<ExitStatus>;
}

/// What the container service asks of the host.
pub trait HostOps: Send + Sync + std::fmt::Debug {
    /// Mounts the overlay of `lower` (top first) at `rootfs`; a no-op if
    /// it is mounted.
    fn mount(&self, rootfs: &Rootfs, lower: &[PathBuf]) -> Result<(), ContainerError>;
    /// Unmounts it; a no-op if it is not mounted.
    fn unmount(&self, rootfs: &Rootfs) -> Result<(), ContainerError>;
    /// Whether it is mounted.
    fn is_mounted(&self, rootfs: &Rootfs) -> bool;
    /// Kills what is left in container `id`'s cgroup `cgroup` (its
    /// [`ContainerRecord::cgroup`](super::record::ContainerRecord::cgroup))
    /// and removes it.
    fn remove_cgroups(&self, id: &str, cgroup: &str) -> Result<(), ContainerError>;
}

/// The runtime a container service uses.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The shims.
    pub shims: Arc<dyn ShimClient>,
    /// The host.
    pub host: Arc<dyn HostOps>,
}

impl Runtime {
    /// `skiff-shim` (found next to skiffd or on `PATH`) and the kernel.
    pub fn real() -> Result<Self, ContainerError> {
        Ok(Self {
            shims: Arc::new(RealShimClient::locate()?),
            host: Arc::new(RealHost),
        })
    }
}

/// One shim, through the service's client.
#[derive(Debug, Clone)]
pub struct ShimRef {
    client: Arc<dyn ShimClient>,
    dir: PathBuf,
}

impl ShimRef {
    /// The shim of state directory `dir` (not checked: see
    /// [`ShimRef::connect`]).
    pub fn new(client: Arc<dyn ShimClient>, dir: PathBuf) -> Self {
        Self { client, dir }
    }

    /// The shim of `dir`, checked to answer (`ShimHandle::connect`).
    pub fn connect(client: Arc<dyn ShimClient>, dir: PathBuf) -> skiff_shim::Result<Self> {
        let shim = Self::new(client, dir);
        shim.state()?;
        Ok(shim)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// State of the container's init process.
    pub fn state(&self) -> skiff_shim::Result<ProcessState> {
        self.client.state(&self.dir, None)
    }

    /// Starts a container spawned with `defer_start`.
    pub fn start(&self) -> skiff_shim::Result<()> {
        self.client.start(&self.dir)
    }

    /// Sends `signal` to the init process.
    pub fn kill(&self, signal: i32) -> skiff_shim::Result<()> {
        self.client.kill(&self.dir, None, signal)
    }

    /// Deletes the container's runtime state (see [`ShimClient::delete`]).
    pub fn delete(&self, force: bool) -> skiff_shim::Result<()> {
        self.client.delete(&self.dir, force)
    }

    /// Attaches to the container's (or an exec's) stdio.
    pub fn attach(&self, req: AttachRequest) -> skiff_shim::Result<AttachStream> {
        self.client.attach(&self.dir, req)
    }

    /// Runs a new process, detached.
    pub fn exec(&self, req: ExecRequest) -> skiff_shim::Result<ExecInfo> {
        self.client.exec(&self.dir, req)
    }

    /// Runs a new process, attached.
    pub fn exec_attach(
        &self,
        req: ExecRequest,
        attach: AttachRequest,
    ) -> skiff_shim::Result<(ExecInfo, AttachStream)> {
        self.client.exec_attach(&self.dir, req, attach)
    }

    /// Sets the pty size of the container (or of an exec).
    pub fn resize(&self, exec_id: Option<&str>, height: u16, width: u16) -> skiff_shim::Result<()> {
        self.client.resize(&self.dir, exec_id, height, width)
    }

    /// Freezes (`true`) or thaws the container.
    pub fn set_paused(&self, paused: bool) -> skiff_shim::Result<()> {
        self.client.set_paused(&self.dir, paused)
    }

    /// Resolves when the init process has exited.
    pub fn wait_exit(&self) -> ShimFuture<ExitStatus> {
        self.client.wait_exit(&self.dir)
    }
}
