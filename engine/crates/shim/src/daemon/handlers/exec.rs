//! `exec`: a new process in the running container.
//!
//! The process spec is completed as `docs/shim.md` ("Exec") says (terminal
//! from `tty`, the container's capabilities and `noNewPrivileges` when
//! missing, docker's default `PATH`), given the container's seccomp filter,
//! written to `<state-dir>/exec/<exec-id>.json` for the runtime and removed
//! after use. With `attach`, the same connection becomes the exec's attach
//! stream right after the `ok` line.

use nix::sys::signal::Signal;
use skiff_shim::paths;
use skiff_shim::protocol::{ExecInfo, ExecRequest};

use crate::daemon::Daemon;
use crate::daemon::error::{DaemonError, log_offset};
use crate::daemon::filter;
use crate::daemon::procs::{ParentIo, Proc};
use crate::daemon::runtime::ChildStdio;

impl Daemon {
    /// Runs the exec; `conflict` unless the container runs, or if the exec
    /// id is taken.
    pub(super) fn exec(&mut self, t: u64, req: ExecRequest) -> Result<(), DaemonError> {
        self.require_running(|id| DaemonError::Paused { id })?;
        let exec_id = match req.exec_id.clone() {
            Some(e) => e,
            None => self.procs.new_exec_id(),
        };
        paths::validate_id(&exec_id).map_err(|reason| DaemonError::InvalidExecId {
            exec: exec_id.clone(),
            reason,
        })?;
        if self.procs.has_exec(&exec_id) {
            return Err(DaemonError::ExecExists {
                id: self.id.clone(),
                exec: exec_id,
            });
        }
        let (pid, io) = self.spawn_exec(&exec_id, &req)?;
        let mut p = Proc::new(Some(exec_id.clone()), pid, io);
        p.started();
        self.procs.insert_exec(exec_id.clone(), p);
        self.reply_ok(
            t,
            ExecInfo {
                exec_id: exec_id.clone(),
                pid,
            },
        );
        if let Some(mut a) = req.attach {
            a.exec_id = Some(exec_id);
            self.attach(t, a);
        }
        Ok(())
    }

    fn spawn_exec(
        &mut self,
        exec_id: &str,
        req: &ExecRequest,
    ) -> Result<(i32, ParentIo), DaemonError> {
        let id = self.id.clone();
        let mut process = req.process.clone();
        process.set_terminal(Some(req.tty));
        process.set_console_size(None);
        if process.capabilities().is_none() {
            process.set_capabilities(self.init_process.capabilities().clone());
        }
        if process.no_new_privileges().is_none() {
            process.set_no_new_privileges(self.init_process.no_new_privileges());
        }
        let mut env = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, skiff_shim::bundle::DEFAULT_PATH.to_owned());
            process.set_env(Some(env));
        }
        let path = self
            .state_dir
            .join(paths::EXEC_DIR)
            .join(format!("{exec_id}.json"));
        // libcontainer drops linux.seccomp for execs: the shim loads it.
        let executor = self
            .seccomp
            .as_ref()
            .map(|p| filter::FilterExecutor::new(p, &mut process));
        let json = serde_json::to_vec(&process).map_err(|source| DaemonError::Encode {
            what: format!("the process of exec {exec_id}"),
            source,
        })?;
        std::fs::write(&path, json).map_err(|e| DaemonError::path("cannot write", &path, e))?;

        let prepared = if req.tty {
            self.console
                .bind()
                .map(|path| (ChildStdio::Console(path), None))
        } else {
            ParentIo::pipes(req.stdin)
                .map(|(child, ours)| (child, Some(ours)))
                .map_err(|source| DaemonError::Pipes {
                    name: format!("exec {exec_id}"),
                    source,
                })
        };
        let shim_log = self.state_dir.join(paths::SHIM_LOG);
        let offset = log_offset(&shim_log);
        let result = prepared.and_then(|(child, pipes)| {
            self.runtime
                .exec(&path, child, req.tty, executor)
                .map(|pid| (pid, pipes))
                .map_err(|e| e.with_logged_cause(&shim_log, offset))
        });
        let _ = std::fs::remove_file(&path);
        let (pid, pipes) = result?;
        let io = match pipes {
            Some(io) => Ok(io),
            None => self
                .console
                .receive_master()
                .and_then(|m| ParentIo::pty(m, req.stdin))
                .map_err(|source| DaemonError::Pty {
                    owner: format!("exec {exec_id} in container {id}"),
                    what: "pty master",
                    source,
                }),
        };
        if io.is_err() {
            // Reaped later as an unknown child.
            let _ = self.runtime.kill(pid, Signal::SIGKILL);
        }
        io.map(|io| (pid, io))
    }
}
