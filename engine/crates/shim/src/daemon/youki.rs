//! The real [`Runtime`]: youki's libcontainer for the container, the kernel
//! for the shim's children.
//!
//! Every call runs on the shim's only thread, which is what libcontainer
//! needs: it `chdir`s around its notify and console sockets and runs Rust
//! code between `clone3` and `execve`.

use std::io;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::error::{DaemonError, Op, chain};
use super::filter::FilterExecutor;
use super::runtime::{ChildExit, ChildStdio, Runtime};
use super::sys;

/// One container managed through libcontainer, rooted at `root`.
pub struct Youki {
    id: String,
    root: PathBuf,
    container: Option<Container>,
}

impl Youki {
    /// The runtime of container `id`, whose libcontainer state lives in
    /// `root/<id>`.
    pub fn new(id: &str, root: &Path) -> Self {
        Youki {
            id: id.to_owned(),
            root: root.to_owned(),
            container: None,
        }
    }

    fn builder(
        &self,
        stdio: ChildStdio,
        executor: Option<FilterExecutor>,
    ) -> Result<ContainerBuilder, DaemonError> {
        let mut b = ContainerBuilder::new(self.id.clone(), SyscallType::Linux)
            .with_root_path(&self.root)
            .map_err(|e| DaemonError::RuntimeRoot {
                root: self.root.clone(),
                source: e.into(),
            })?
            .validate_id()
            .map_err(|e| DaemonError::RuntimeId {
                id: self.id.clone(),
                source: e.into(),
            })?;
        match stdio {
            ChildStdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                b = b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr);
            }
            ChildStdio::Console(path) => {
                b = b.with_console_socket(Some(path));
            }
        }
        if let Some(e) = executor {
            b = b.with_executor(e);
        }
        Ok(b)
    }

    /// Runs `f` on the created container.
    fn with_container(
        &mut self,
        op: Op,
        f: impl FnOnce(&mut Container) -> Result<(), libcontainer::error::LibcontainerError>,
    ) -> Result<(), DaemonError> {
        let Some(container) = self.container.as_mut() else {
            return Err(DaemonError::runtime(
                op,
                &self.id,
                "the container has not been created",
            ));
        };
        f(container).map_err(|e| DaemonError::runtime(op, &self.id, e))
    }
}

impl Runtime for Youki {
    fn clean_stale(&mut self) -> Result<(), DaemonError> {
        let dir = self.root.join(&self.id);
        if !dir.exists() {
            return Ok(());
        }
        tracing::warn!(container = self.id, dir = %dir.display(), "removing stale runtime state");
        match Container::load(dir.clone()) {
            Ok(mut c) => c
                .delete(true)
                .map_err(|e| DaemonError::runtime(Op::Delete, &self.id, e)),
            Err(e) => {
                tracing::warn!(container = self.id, "unreadable stale state: {}", chain(&e));
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| DaemonError::path("failed to remove stale state", &dir, e))
            }
        }
    }

    fn create(
        &mut self,
        bundle: &Path,
        stdio: ChildStdio,
        executor: Option<FilterExecutor>,
    ) -> Result<i32, DaemonError> {
        let container = self
            .builder(stdio, executor)?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| DaemonError::runtime(Op::Create, &self.id, e))?;
        let pid = container.pid().map(|p| p.as_raw());
        self.container = Some(container);
        match pid {
            Some(pid) => Ok(pid),
            None => {
                let _ = self.delete();
                Err(DaemonError::NoPid {
                    id: self.id.clone(),
                })
            }
        }
    }

    fn loopback_up(&mut self, pid: i32) -> io::Result<()> {
        sys::loopback_up(pid)
    }

    fn start(&mut self) -> Result<(), DaemonError> {
        self.with_container(Op::Start, Container::start)
    }

    fn exec(
        &mut self,
        process: &Path,
        stdio: ChildStdio,
        tty: bool,
        executor: Option<FilterExecutor>,
    ) -> Result<i32, DaemonError> {
        self.builder(stdio, executor)?
            .as_tenant()
            .with_process(Some(process))
            .with_detach(tty)
            .build()
            .map(|p| p.as_raw())
            .map_err(|e| DaemonError::runtime(Op::Exec, &self.id, e))
    }

    fn pause(&mut self) -> Result<(), DaemonError> {
        self.with_container(Op::Pause, Container::pause)
    }

    fn resume(&mut self) -> Result<(), DaemonError> {
        self.with_container(Op::Resume, Container::resume)
    }

    fn delete(&mut self) -> Result<(), DaemonError> {
        self.with_container(Op::Delete, |c| c.delete(true))
    }

    fn kill(&mut self, pid: i32, signal: Signal) -> Result<(), Errno> {
        nix::sys::signal::kill(Pid::from_raw(pid), signal)
    }

    fn wait_for(&mut self, pid: i32) {
        let _ = waitpid(Pid::from_raw(pid), None);
    }

    fn reap(&mut self) -> Vec<ChildExit> {
        let mut exits = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(pid, code)) => exits.push(ChildExit {
                    pid: pid.as_raw(),
                    code,
                    signal: None,
                }),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    let sig = sig as i32;
                    exits.push(ChildExit {
                        pid: pid.as_raw(),
                        code: 128 + sig,
                        signal: Some(sig),
                    });
                }
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        exits
    }

    fn oom_kills(&self, cgroups_path: &Path) -> Option<u64> {
        sys::oom_kills(cgroups_path)
    }
}
