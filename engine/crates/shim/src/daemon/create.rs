//! Building a [`Daemon`]: the control socket, the container log, the
//! container itself.
//!
//! Contract (`docs/shim.md`, "Life of a container", step 2): binds
//! `shim.sock`, loads the bundle (it needs `process` and
//! `linux.cgroupsPath`), opens the json log, removes stale runtime state,
//! creates the container with pipes or a pty, brings `lo` up in its network
//! namespace, and starts it unless `--defer-start`. On error nothing is
//! left running: a created container is killed, reaped and deleted.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;
use skiff_shim::client::LogTarget;
use skiff_shim::paths;

use super::error::{DaemonError, log_offset};
use super::io::{Console, JsonLog};
use super::procs::{ParentIo, Proc, Procs};
use super::runtime::{ChildStdio, Runtime};
use super::{Daemon, Options, filter};

/// Size of one read from a process's output.
const READ_CHUNK: usize = 64 << 10;

/// Builds a daemon for `opts` on `runtime`; `sigchld` becomes readable when
/// a child exits.
pub fn create(
    opts: &Options,
    sigchld: OwnedFd,
    mut runtime: Box<dyn Runtime>,
) -> Result<Daemon, DaemonError> {
    let id = opts.id.clone();
    let socket_path = paths::socket(&opts.state_dir);
    let listener =
        paths::bind(&socket_path).map_err(|e| DaemonError::path("cannot bind", &socket_path, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| DaemonError::path("cannot configure", &socket_path, e))?;

    let config = opts.bundle.join("config.json");
    let spec = Spec::load(&config).map_err(|source| DaemonError::LoadSpec {
        path: config.clone(),
        source,
    })?;
    let init_process = spec
        .process()
        .clone()
        .ok_or_else(|| DaemonError::NoProcess {
            path: config.clone(),
        })?;
    let tty = init_process.terminal().unwrap_or(false);
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .ok_or_else(|| DaemonError::NoCgroupsPath {
            path: config.clone(),
            id: id.clone(),
        })?;

    let log = match &opts.log {
        LogTarget::None => None,
        LogTarget::Path(p) => Some(JsonLog::open(p)?),
        LogTarget::Default => Some(JsonLog::open(&paths::container_log(&opts.state_dir))?),
    };

    let root = opts.state_dir.join(paths::RUNTIME_DIR);
    std::fs::create_dir_all(&root).map_err(|e| DaemonError::path("cannot create", &root, e))?;
    runtime.clean_stale()?;
    let exec_dir = opts.state_dir.join(paths::EXEC_DIR);
    std::fs::create_dir_all(&exec_dir)
        .map_err(|e| DaemonError::path("cannot create", &exec_dir, e))?;

    let mut console = Console::new(&opts.state_dir);
    let (child_stdio, pipes) = if tty {
        (ChildStdio::Console(console.bind()?), None)
    } else {
        let (child, ours) = ParentIo::pipes(opts.stdin).map_err(|source| DaemonError::Pipes {
            name: format!("container {id}"),
            source,
        })?;
        (child, Some(ours))
    };

    let shim_log = opts.state_dir.join(paths::SHIM_LOG);
    let offset = log_offset(&shim_log);
    let prepared = filter::prepare_init(&spec, &opts.bundle, &opts.state_dir)?;
    let pid = runtime
        .create(&prepared.bundle, child_stdio, prepared.executor)
        .map_err(|e| e.with_logged_cause(&shim_log, offset))?;

    // From here on, a failure must not leave the created container behind.
    let owner = || format!("container {id}");
    let finish = (|| -> Result<ParentIo, DaemonError> {
        let io = match pipes {
            Some(io) => io,
            None => {
                let master = console
                    .receive_master()
                    .map_err(|source| DaemonError::Pty {
                        owner: owner(),
                        what: "no pty master",
                        source,
                    })?;
                ParentIo::pty(master, opts.stdin).map_err(|source| DaemonError::Pty {
                    owner: owner(),
                    what: "pty master",
                    source,
                })?
            }
        };
        runtime
            .loopback_up(pid)
            .map_err(|source| DaemonError::Loopback {
                id: id.clone(),
                source,
            })?;
        Ok(io)
    })();
    let io = match finish {
        Ok(io) => io,
        Err(e) => {
            destroy(runtime.as_mut(), pid);
            return Err(e);
        }
    };

    let mut init = Proc::new(None, pid, io);
    if !opts.defer_start {
        if let Err(e) = runtime.start() {
            destroy(runtime.as_mut(), pid);
            return Err(e);
        }
        init.started();
    }

    Ok(Daemon {
        id,
        state_dir: opts.state_dir.clone(),
        runtime,
        cgroups_path,
        init_process,
        seccomp: prepared.program,
        listener,
        console,
        sigchld,
        clients: BTreeMap::new(),
        next_token: 1,
        procs: Procs::new(init),
        log,
        pending_deletes: Vec::new(),
        shutdown: None,
        buf: vec![0u8; READ_CHUNK],
    })
}

/// Kills and reaps a container that could not be set up, and deletes it.
fn destroy(runtime: &mut dyn Runtime, pid: i32) {
    let _ = runtime.kill(pid, Signal::SIGKILL);
    runtime.wait_for(pid);
    if let Err(e) = runtime.delete() {
        tracing::error!("{}", e.message());
    }
}
