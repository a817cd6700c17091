//! `POST /exec/{id}/start`: run a created exec in its container through
//! the shim, attached (its stream handed back) or detached.

use std::sync::Arc;

use skiff_shim::protocol::{AttachRequest, ExecRequest};

use super::super::ContainerService;
use super::super::error::ContainerError;
use super::super::rootfs::Rootfs;
use super::{ExecError, ExecStartOptions, ExecStarted, exec_process, join_error};

/// Why a start failed: before the runtime ran, or in it.
enum StartFailure {
    Setup(String),
    Exec(String),
}

/// Word a failed exec as dockerd (with runc) does, `OCI runtime exec
/// failed: …`, with the exit code its `translateContainerdStartErr` gives:
/// 127 for a missing executable or directory, 126 otherwise. `shim` is the
/// shim's (libcontainer's) error.
pub fn exec_failure(entrypoint: &str, cwd: &str, shim: &str) -> (String, i64) {
    let lower = shim.to_ascii_lowercase();
    let prefix = "OCI runtime exec failed: exec failed: unable to start container process";
    if lower.contains("chdir") {
        (
            format!(
                "{prefix}: chdir to cwd (\"{cwd}\") set in config.json failed: no such file or directory: unknown"
            ),
            127,
        )
    } else if lower.contains("not found in $path")
        || (lower.contains("executable") && lower.contains("not found"))
    {
        (
            format!(
                "{prefix}: exec: \"{entrypoint}\": executable file not found in $PATH: unknown"
            ),
            127,
        )
    } else if lower.contains("does not have correct permission")
        || lower.contains("permission denied")
    {
        (
            format!("{prefix}: exec: \"{entrypoint}\": permission denied: unknown"),
            126,
        )
    } else if lower.contains("no such file or directory") {
        (format!("{prefix}: {shim}: unknown"), 127)
    } else {
        (format!("{prefix}: {shim}: unknown"), 126)
    }
}

impl ContainerService {
    /// `POST /exec/{id}/start`. Errors before anything started (unknown
    /// exec, stopped container, second start) come back as `Err`; a process
    /// that cannot be started as [`ExecStarted::Failed`] (or, detached, as a
    /// 400/500 error), with its exit code recorded.
    pub async fn start_exec(
        self: &Arc<Self>,
        id: &str,
        opts: ExecStartOptions,
    ) -> Result<ExecStarted, ExecError> {
        let (_, container) = self.live_exec(id)?;
        let exec = self.with_execs(|execs| {
            let e = execs
                .get_mut(id)
                .ok_or_else(|| ExecError::NotFound(id.to_owned()))?;
            if e.exit_code.is_some() {
                return Err(ExecError::from(ContainerError::Conflict(format!(
                    "exec command {id} has already run"
                ))));
            }
            if e.running || e.started {
                return Err(ExecError::from(ContainerError::Conflict(format!(
                    "exec command {id} is already running"
                ))));
            }
            e.started = true;
            e.running = true;
            Ok(e.clone())
        })?;
        self.record_event(
            &format!("exec_start: {}", exec.command_line()),
            &container,
            &[("execID", id)],
        );

        let stdin = exec.open_stdin && !opts.detach;
        let console_size = opts
            .console_size
            .or(exec.console_size)
            .filter(|[h, w]| exec.tty && *h > 0 && *w > 0);
        let shim = self.shim(&container.id);
        let attach = (!opts.detach).then_some(AttachRequest {
            exec_id: None,
            stdin,
            stdout: exec.open_stdout,
            stderr: exec.open_stderr,
            close_stdin: true,
        });
        let container_dir = self.store.dir(&container.id);
        let exec2 = exec.clone();
        let group_add = container.host_config.group_add.clone().unwrap_or_default();
        let spawned = tokio::task::spawn_blocking(move || {
            let process = exec_process(&exec2, &Rootfs::new(&container_dir).target, &group_add)
                .map_err(|e| StartFailure::Setup(e.to_string()))?;
            let req = ExecRequest {
                exec_id: Some(exec2.id.clone()),
                process,
                tty: exec2.tty,
                stdin,
                attach: None,
            };
            shim.state()
                .map_err(|e| StartFailure::Setup(e.to_string()))?;
            let (info, stream) = match attach {
                Some(a) => shim.exec_attach(req, a).map(|(info, s)| (info, Some(s))),
                None => shim.exec(req).map(|info| (info, None)),
            }
            .map_err(|e| StartFailure::Exec(e.to_string()))?;
            if let Some([h, w]) = console_size {
                let (h, w) = (h.min(u16::MAX.into()) as u16, w.min(u16::MAX.into()) as u16);
                if let Err(e) = shim.resize(Some(&exec2.id), h, w) {
                    tracing::debug!("exec {}: initial resize: {e}", exec2.id);
                }
            }
            Ok::<_, StartFailure>((info.pid, stream))
        })
        .await
        .map_err(|e| ExecError::from(join_error(e)))?;
        match spawned {
            Ok((pid, stream)) => {
                self.with_execs(|execs| {
                    if let Some(e) = execs.get_mut(id) {
                        e.pid = i64::from(pid);
                    }
                });
                match stream {
                    Some(stream) => Ok(ExecStarted::Attached(stream)),
                    None => {
                        self.wait_exec_in_background(id.to_owned());
                        Ok(ExecStarted::Detached)
                    }
                }
            }
            Err(failure) => {
                let (message, code) = match failure {
                    // dockerd's default for a start that failed before the
                    // runtime ran: 126.
                    StartFailure::Setup(msg) => (msg, 126),
                    StartFailure::Exec(msg) => {
                        tracing::info!("exec {id} in container {}: {msg}", container.id);
                        let cwd = Some(exec.working_dir.as_str()).filter(|w| !w.is_empty());
                        exec_failure(&exec.entrypoint, cwd.unwrap_or("/"), &msg)
                    }
                };
                self.exec_exited(id, code);
                if opts.detach {
                    // dockerd: a missing or non-executable binary is the
                    // caller's mistake (400), anything else the runtime's.
                    let invalid = code == 127 || message.ends_with(": permission denied: unknown");
                    Err(if invalid {
                        ContainerError::InvalidArgument(message)
                    } else {
                        ContainerError::Runtime(message)
                    }
                    .into())
                } else {
                    Ok(ExecStarted::Failed(message))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_worded_like_dockerd() {
        let youki = "failed to exec in container c: failed to create container: exec process failed with error error in executing process : ";
        let (msg, code) = exec_failure(
            "nope",
            "/",
            &format!(
                "{youki}executable 'nope' not found in $PATH (cause: executable for container process not found in PATH executable=\"nope\")"
            ),
        );
        assert_eq!(code, 127);
        assert_eq!(
            msg,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"
        );
        let (msg, code) = exec_failure(
            "/etc/passwd",
            "/",
            &format!(
                "{youki}executable '/etc/passwd' at path '\"/etc/passwd\"' does not have correct permissions (cause: executable does not have the correct permission set executable=\"/etc/passwd\")"
            ),
        );
        assert_eq!(
            (msg.as_str(), code),
            (
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/etc/passwd\": permission denied: unknown",
                126
            )
        );
        let (msg, code) = exec_failure(
            "true",
            "/gone",
            &format!("{youki}failed to unix syscall (cause: failed to chdir e=ENOENT)"),
        );
        assert_eq!(
            (msg.as_str(), code),
            (
                "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/gone\") set in config.json failed: no such file or directory: unknown",
                127
            )
        );
        assert_eq!(exec_failure("x", "/", "container c is not running").1, 126);
    }
}
