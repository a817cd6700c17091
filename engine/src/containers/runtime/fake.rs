//! An in-memory runtime for unit tests: shims that are records in a map,
//! processes that exit when a test says so (or when killed), attach
//! streams over socket pairs, mounts and cgroups that are only noted.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use skiff_shim::client::{AttachStream, SpawnOptions};
use skiff_shim::protocol::{AttachRequest, ErrorKind, ExecRequest, Frame, Status};
use skiff_shim::{ExecInfo, ExitStatus, ProcessState};
use tokio::sync::oneshot;

use super::super::error::ContainerError;
use super::super::rootfs::Rootfs;
use super::{HostOps, ShimClient, ShimFuture};
use crate::images::now_rfc3339;

/// The test double of [`ShimClient`] and [`HostOps`].
#[derive(Debug, Default)]
pub(crate) struct FakeRuntime {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    shims: HashMap<PathBuf, FakeShim>,
    /// Exit statuses, kept after a shim is deleted (like `exit.json`).
    exits: HashMap<PathBuf, ExitStatus>,
    mounted: HashSet<PathBuf>,
    cgroups_removed: Vec<String>,
    spawns: usize,
}

#[derive(Debug)]
struct FakeShim {
    pid: i32,
    status: Status,
    attached: Vec<UnixStream>,
    waiters: Vec<oneshot::Sender<ExitStatus>>,
}

fn refused(kind: ErrorKind, message: &str) -> skiff_shim::Error {
    skiff_shim::Error::Shim {
        kind,
        message: message.to_owned(),
    }
}

fn gone(dir: &Path) -> skiff_shim::Error {
    skiff_shim::Error::Connect {
        path: dir.join("shim.sock"),
        source: std::io::ErrorKind::NotFound.into(),
    }
}

impl FakeRuntime {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The process of the shim in `dir` exits with `code`.
    pub(crate) fn exit(&self, dir: &Path, code: i32) {
        self.lock().finish(dir, code, None);
    }

    /// The process of the shim in `dir` prints `data` on stdout.
    pub(crate) fn output(&self, dir: &Path, data: &[u8]) {
        let mut state = self.lock();
        if let Some(shim) = state.shims.get_mut(dir) {
            let mut frame = Vec::new();
            Frame::Stdout(data.to_vec()).encode(&mut frame);
            for peer in &mut shim.attached {
                let _ = peer.write_all(&frame);
            }
        }
    }

    /// How many shims were spawned.
    pub(crate) fn spawns(&self) -> usize {
        self.lock().spawns
    }

    /// Whether a shim lives in `dir`.
    pub(crate) fn has_shim(&self, dir: &Path) -> bool {
        self.lock().shims.contains_key(dir)
    }

    /// Whether the shim in `dir` runs its process.
    pub(crate) fn is_running(&self, dir: &Path) -> bool {
        self.lock()
            .shims
            .get(dir)
            .is_some_and(|s| s.status == Status::Running)
    }

    /// How many root filesystems are mounted.
    pub(crate) fn mounts(&self) -> usize {
        self.lock().mounted.len()
    }

    /// Whether container `id`'s cgroups were cleaned up.
    pub(crate) fn cgroups_removed(&self, id: &str) -> bool {
        self.lock().cgroups_removed.iter().any(|c| c == id)
    }
}

impl State {
    fn shim(&mut self, dir: &Path) -> skiff_shim::Result<&mut FakeShim> {
        self.shims.get_mut(dir).ok_or_else(|| gone(dir))
    }

    /// The process ends: its exit status recorded, attached streams given
    /// the exit frame and closed, waiters answered.
    fn finish(&mut self, dir: &Path, code: i32, signal: Option<i32>) {
        let Some(shim) = self.shims.get_mut(dir) else {
            return;
        };
        if shim.status == Status::Exited {
            return;
        }
        shim.status = Status::Exited;
        let exit = ExitStatus {
            pid: shim.pid,
            exit_code: code,
            signal,
            oom_killed: false,
            started_at: None,
            finished_at: now_rfc3339(),
        };
        let mut frame = Vec::new();
        Frame::Exit(exit.clone()).encode(&mut frame);
        for mut peer in shim.attached.drain(..) {
            let _ = peer.write_all(&frame);
        }
        for waiter in shim.waiters.drain(..) {
            let _ = waiter.send(exit.clone());
        }
        self.exits.insert(dir.to_owned(), exit);
    }
}

impl ShimClient for FakeRuntime {
    fn spawn(&self, opts: SpawnOptions) -> skiff_shim::Result<()> {
        let mut state = self.lock();
        state.spawns += 1;
        let pid = 1000 + i32::try_from(state.spawns).unwrap_or(0);
        state.exits.remove(&opts.state_dir);
        state.shims.insert(
            opts.state_dir,
            FakeShim {
                pid,
                status: if opts.defer_start {
                    Status::Created
                } else {
                    Status::Running
                },
                attached: Vec::new(),
                waiters: Vec::new(),
            },
        );
        Ok(())
    }

    fn state(&self, dir: &Path, exec_id: Option<&str>) -> skiff_shim::Result<ProcessState> {
        let mut state = self.lock();
        let exit = state.exits.get(dir).cloned();
        let shim = state.shim(dir)?;
        Ok(ProcessState {
            id: "fake".into(),
            exec_id: exec_id.map(str::to_owned),
            pid: shim.pid,
            status: shim.status,
            tty: false,
            created_at: now_rfc3339(),
            started_at: None,
            exit,
        })
    }

    fn start(&self, dir: &Path) -> skiff_shim::Result<()> {
        let mut state = self.lock();
        let shim = state.shim(dir)?;
        if shim.status != Status::Created {
            return Err(refused(ErrorKind::Conflict, "container is not created"));
        }
        shim.status = Status::Running;
        Ok(())
    }

    fn kill(&self, dir: &Path, exec_id: Option<&str>, signal: i32) -> skiff_shim::Result<()> {
        let mut state = self.lock();
        if exec_id.is_some() {
            return Err(refused(ErrorKind::NotFound, "no such exec"));
        }
        let shim = state.shim(dir)?;
        if !matches!(shim.status, Status::Running | Status::Paused) {
            return Err(refused(ErrorKind::Conflict, "container is not running"));
        }
        // The fake's processes die of SIGTERM and SIGKILL, ignore the rest.
        if signal == libc::SIGKILL || signal == libc::SIGTERM {
            state.finish(dir, 128 + signal, Some(signal));
        }
        Ok(())
    }

    fn delete(&self, dir: &Path, force: bool) -> skiff_shim::Result<()> {
        let mut state = self.lock();
        let shim = state.shim(dir)?;
        if matches!(shim.status, Status::Running | Status::Paused) {
            if !force {
                return Err(refused(ErrorKind::Conflict, "container is running"));
            }
            state.finish(dir, 128 + libc::SIGKILL, Some(libc::SIGKILL));
        }
        state.shims.remove(dir);
        Ok(())
    }

    fn attach(&self, dir: &Path, _req: AttachRequest) -> skiff_shim::Result<AttachStream> {
        let (ours, mut theirs) = UnixStream::pair().map_err(|source| skiff_shim::Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut state = self.lock();
        let exit = state.exits.get(dir).cloned();
        let shim = state.shim(dir)?;
        match (shim.status, exit) {
            (Status::Exited, Some(exit)) => {
                let mut frame = Vec::new();
                Frame::Exit(exit).encode(&mut frame);
                let _ = theirs.write_all(&frame);
            }
            _ => shim.attached.push(theirs),
        }
        AttachStream::from_socket(ours, dir.join("shim.sock")).map_err(|source| {
            skiff_shim::Error::Io {
                path: dir.to_owned(),
                source,
            }
        })
    }

    fn exec(&self, _dir: &Path, _req: ExecRequest) -> skiff_shim::Result<ExecInfo> {
        Err(refused(
            ErrorKind::Internal,
            "the fake runtime runs no execs",
        ))
    }

    fn exec_attach(
        &self,
        _dir: &Path,
        _req: ExecRequest,
        _attach: AttachRequest,
    ) -> skiff_shim::Result<(ExecInfo, AttachStream)> {
        Err(refused(
            ErrorKind::Internal,
            "the fake runtime runs no execs",
        ))
    }

    fn resize(&self, dir: &Path, _: Option<&str>, _: u16, _: u16) -> skiff_shim::Result<()> {
        self.lock().shim(dir).map(drop)
    }

    fn set_paused(&self, dir: &Path, paused: bool) -> skiff_shim::Result<()> {
        let mut state = self.lock();
        let shim = state.shim(dir)?;
        shim.status = if paused {
            Status::Paused
        } else {
            Status::Running
        };
        Ok(())
    }

    fn read_exit(&self, dir: &Path) -> skiff_shim::Result<Option<ExitStatus>> {
        Ok(self.lock().exits.get(dir).cloned())
    }

    fn wait_exit(&self, dir: &Path) -> ShimFuture<ExitStatus> {
        let (tx, rx) = oneshot::channel();
        let mut state = self.lock();
        let exit = state.exits.get(dir).cloned();
        match (state.shims.get_mut(dir), exit) {
            (Some(shim), _) if shim.status != Status::Exited => shim.waiters.push(tx),
            (_, Some(exit)) => {
                let _ = tx.send(exit);
            }
            (None | Some(_), None) => {}
        }
        Box::pin(async move {
            rx.await
                .map_err(|_| std::io::Error::other("the fake shim is gone"))
        })
    }
}

impl HostOps for FakeRuntime {
    fn mount(&self, rootfs: &Rootfs, _lower: &[PathBuf]) -> Result<(), ContainerError> {
        std::fs::create_dir_all(&rootfs.target)
            .map_err(|e| ContainerError::io(format!("creating {}", rootfs.target.display()), e))?;
        self.lock().mounted.insert(rootfs.target.clone());
        Ok(())
    }

    fn unmount(&self, rootfs: &Rootfs) -> Result<(), ContainerError> {
        self.lock().mounted.remove(&rootfs.target);
        Ok(())
    }

    fn is_mounted(&self, rootfs: &Rootfs) -> bool {
        self.lock().mounted.contains(&rootfs.target)
    }

    fn remove_cgroups(&self, id: &str, _cgroup: &str) -> Result<(), ContainerError> {
        self.lock().cgroups_removed.push(id.to_owned());
        Ok(())
    }
}
