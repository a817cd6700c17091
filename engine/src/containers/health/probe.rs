//! One healthcheck probe: an exec in the container (dockerd's `cmdProbe`),
//! through the service's exec machinery, so it publishes `exec_create`,
//! `exec_start` and `exec_die` as dockerd's probes do. Its stdout and
//! stderr are kept (cut at 4 KiB); past the timeout it is killed.

use std::sync::Arc;

use skiff_shim::protocol::Frame;

use super::super::ContainerService;
use super::super::exec::{ExecOptions, ExecStartOptions, ExecStarted};
use super::config::Schedule;
use super::state::{LimitedOutput, ProbeResult, go_duration};
use crate::images::now_rfc3339;

/// An exec the probe started and has not seen end: if the probe is
/// dropped (its container stopped or paused meanwhile), its end is waited
/// for in the background, so its record and `exec_die` still come.
struct Unfinished {
    svc: Arc<ContainerService>,
    exec_id: Option<String>,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(id) = self.exec_id.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            self.svc.wait_exec_in_background(id);
        }
    }
}

/// How a probe that ran came out: its exit code (`None` when the stream
/// ended without one) and whether it was killed for its timeout.
struct Outcome {
    exit_code: Option<i64>,
    timed_out: bool,
}

impl ContainerService {
    /// Run one probe of `schedule` in running container `id`; the result
    /// as dockerd records it (exit code -1 with the reason when the probe
    /// could not run or timed out).
    pub(super) async fn probe(self: &Arc<Self>, id: &str, schedule: &Schedule) -> ProbeResult {
        let start = now_rfc3339();
        let mut output = LimitedOutput::default();
        let (exit_code, text) = match self.run_probe(id, schedule, &mut output).await {
            Ok(Outcome {
                exit_code: Some(code),
                timed_out: false,
            }) => (code, output.text()),
            Ok(Outcome {
                timed_out: true, ..
            }) => {
                let limit = go_duration(schedule.timeout.as_nanos() as i64);
                let out = output.text();
                let msg = if out.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {out}")
                };
                (-1, msg)
            }
            Ok(Outcome {
                exit_code: None, ..
            }) => (
                -1,
                format!("healthcheck for container {id} has no exit code"),
            ),
            Err(message) => (-1, message),
        };
        ProbeResult {
            start,
            end: now_rfc3339(),
            exit_code,
            output: text,
        }
    }

    /// Create and start the probe's exec, read its output until it exits
    /// (killing it at the timeout); `Err` with dockerd's message when it
    /// could not be started.
    async fn run_probe(
        self: &Arc<Self>,
        id: &str,
        schedule: &Schedule,
        output: &mut LimitedOutput,
    ) -> Result<Outcome, String> {
        let opts = ExecOptions {
            attach_stdout: true,
            attach_stderr: true,
            cmd: schedule.argv.clone(),
            ..ExecOptions::default()
        };
        let svc = self.clone();
        let container = id.to_owned();
        let exec_id = tokio::task::spawn_blocking(move || svc.create_exec(&container, opts))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let started = self.start_exec(&exec_id, ExecStartOptions::default()).await;
        let stream = match started {
            Ok(ExecStarted::Attached(stream)) => stream,
            failed => {
                // Its end is recorded (exec_die published) by the start.
                self.forget_exec(&exec_id);
                return Err(match failed {
                    Ok(ExecStarted::Failed(message)) => message,
                    Err(e) => e.to_string(),
                    Ok(_) => "the probe was detached".into(),
                });
            }
        };
        let mut guard = Unfinished {
            svc: self.clone(),
            exec_id: Some(exec_id.clone()),
        };
        let mut frames = stream.into_async().map_err(|e| e.to_string())?.frames;
        let deadline = tokio::time::Instant::now() + schedule.timeout;
        let mut timed_out = false;
        let exit = loop {
            let next = if timed_out {
                frames.next_frame().await
            } else {
                match tokio::time::timeout_at(deadline, frames.next_frame()).await {
                    Ok(next) => next,
                    Err(_) => {
                        timed_out = true;
                        self.kill_probe(id, &exec_id).await;
                        continue;
                    }
                }
            };
            match next {
                Ok(Some(Frame::Stdout(data) | Frame::Stderr(data))) => output.write(&data),
                Ok(Some(Frame::Exit(status))) => break Some(i64::from(status.exit_code)),
                Ok(None) => break None,
                Err(e) => {
                    tracing::debug!("health probe of {id}: {e}");
                    break None;
                }
            }
        };
        guard.exec_id = None;
        match exit {
            Some(code) => self.exec_exited(&exec_id, code),
            None => self.exec_exit_status(&exec_id, None),
        }
        self.forget_exec(&exec_id);
        Ok(Outcome {
            exit_code: exit,
            timed_out,
        })
    }

    /// SIGKILL a probe's exec (it ran past its timeout).
    async fn kill_probe(&self, id: &str, exec_id: &str) {
        let shims = self.runtime.shims.clone();
        let dir = self.shim_dir(id);
        let exec_id = exec_id.to_owned();
        let killed =
            tokio::task::spawn_blocking(move || shims.kill(&dir, Some(&exec_id), libc::SIGKILL))
                .await;
        if let Ok(Err(e)) = killed {
            tracing::debug!("killing the health probe of {id}: {e}");
        }
    }
}
