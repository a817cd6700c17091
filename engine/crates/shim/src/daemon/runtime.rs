//! The calls into youki's libcontainer. All of them run on the shim's only
//! thread, which is what libcontainer needs: it `chdir`s around its notify
//! and console sockets and runs Rust code between `clone3` and `execve`.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use super::filter::FilterExecutor;

/// The stdio of a new process.
pub enum ChildStdio {
    /// Pipes (or /dev/null) to become fds 0, 1 and 2.
    Pipes {
        /// Becomes fd 0.
        stdin: OwnedFd,
        /// Becomes fd 1.
        stdout: OwnedFd,
        /// Becomes fd 2.
        stderr: OwnedFd,
    },
    /// A pty whose master libcontainer sends to this listening socket.
    Console(PathBuf),
}

/// An error with its whole `source()` chain, since libcontainer's top-level
/// messages ("failed to create container") rarely say why.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        source = s.source();
    }
    msg
}

fn builder(
    id: &str,
    root: &Path,
    stdio: ChildStdio,
    executor: Option<FilterExecutor>,
) -> Result<ContainerBuilder, String> {
    let mut b = ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
        .with_root_path(root)
        .map_err(|e| format!("libcontainer root {}: {}", root.display(), chain(&e)))?
        .validate_id()
        .map_err(|e| format!("invalid container id {id:?}: {}", chain(&e)))?;
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

/// Creates the container from `bundle`: on return its init process exists,
/// set up and waiting to be started. `executor` loads the seccomp filter.
pub fn create(
    id: &str,
    root: &Path,
    bundle: &Path,
    stdio: ChildStdio,
    executor: Option<FilterExecutor>,
) -> Result<Container, String> {
    builder(id, root, stdio, executor)?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| format!("failed to create container {id}: {}", chain(&e)))
}

/// Starts a created container (its init process `execve`s the command).
pub fn start(container: &mut Container) -> Result<(), String> {
    let id = container.id().to_owned();
    container
        .start()
        .map_err(|e| format!("failed to start container {id}: {}", chain(&e)))
}

/// Runs the process described by the JSON file `process` in the running
/// container; returns its host pid once it has `execve`d. `executor` loads
/// the container's seccomp filter (libcontainer would not).
pub fn exec(
    id: &str,
    root: &Path,
    process: &Path,
    stdio: ChildStdio,
    tty: bool,
    executor: Option<FilterExecutor>,
) -> Result<i32, String> {
    builder(id, root, stdio, executor)?
        .as_tenant()
        .with_process(Some(process))
        .with_detach(tty)
        .build()
        .map(|pid| pid.as_raw())
        .map_err(|e| format!("failed to exec in container {id}: {}", chain(&e)))
}

/// Freezes the container's cgroup.
pub fn pause(container: &mut Container) -> Result<(), String> {
    let id = container.id().to_owned();
    container
        .pause()
        .map_err(|e| format!("failed to pause container {id}: {}", chain(&e)))
}

/// Thaws the container's cgroup.
pub fn resume(container: &mut Container) -> Result<(), String> {
    let id = container.id().to_owned();
    container
        .resume()
        .map_err(|e| format!("failed to resume container {id}: {}", chain(&e)))
}

/// Removes the container's cgroup and libcontainer state (killing whatever
/// is left in the cgroup).
pub fn delete(container: &mut Container) -> Result<(), String> {
    let id = container.id().to_owned();
    container
        .delete(true)
        .map_err(|e| format!("failed to delete container {id}: {}", chain(&e)))
}

/// Removes libcontainer state left in `root` by a shim that died (its
/// container, if still alive, is killed through its cgroup).
pub fn clean_stale(id: &str, root: &Path) -> Result<(), String> {
    let dir = root.join(id);
    if !dir.exists() {
        return Ok(());
    }
    tracing::warn!(container = id, dir = %dir.display(), "removing stale runtime state");
    match Container::load(dir.clone()) {
        Ok(mut c) => delete(&mut c),
        Err(e) => {
            tracing::warn!(container = id, "unreadable stale state: {}", chain(&e));
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("failed to remove stale state {}: {e}", dir.display()))
        }
    }
}
