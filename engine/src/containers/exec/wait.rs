//! The end of an exec: its exit recorded (once) from an attached stream's
//! exit frame, or waited for in the background for detached and abandoned
//! execs.

use std::sync::Arc;
use std::time::Instant;

use skiff_shim::ExitStatus;
use skiff_shim::client::AttachStream;
use skiff_shim::protocol::{AttachRequest, Frame};

use super::super::ContainerService;

impl ContainerService {
    /// Record that an exec ended with `exit_code` (once: later calls are
    /// ignored) and publish `exec_die`. Called with the exit frame of an
    /// attached exec's stream before the client's stream is closed.
    pub fn exec_exited(&self, id: &str, exit_code: i64) {
        let ended = self.with_execs(|execs| {
            let e = execs.get_mut(id)?;
            if e.exit_code.is_some() {
                return None;
            }
            e.exit_code = Some(exit_code);
            e.running = false;
            e.finished = Some(Instant::now());
            Some(e.container_id.clone())
        });
        let Some(container_id) = ended else {
            return;
        };
        if let Some(record) = self.store.get(&container_id) {
            self.record_event(
                "exec_die",
                &record,
                &[("execID", id), ("exitCode", &exit_code.to_string())],
            );
        }
    }

    /// Record an exit from the shim's exit status (`None`: unknown, 255).
    pub fn exec_exit_status(&self, id: &str, exit: Option<&ExitStatus>) {
        self.exec_exited(id, exit.map_or(255, |e| i64::from(e.exit_code)));
    }

    /// Wait for an exec through its shim and record its exit: for detached
    /// execs, and attached ones whose client went away or detached. The wait
    /// is an attach without streams, read asynchronously until its exit
    /// frame (no thread blocked per running exec).
    pub fn wait_exec_in_background(self: &Arc<Self>, id: String) {
        let Some(container_id) =
            self.with_execs(|execs| execs.get(&id).map(|e| e.container_id.clone()))
        else {
            return;
        };
        let svc = self.clone();
        let shim = self.shim(&container_id);
        tokio::spawn(async move {
            let exec_id = id.clone();
            let attached = tokio::task::spawn_blocking(move || {
                shim.state()?;
                shim.attach(AttachRequest {
                    exec_id: Some(exec_id),
                    ..AttachRequest::default()
                })
            })
            .await;
            let status = match attached {
                Ok(Ok(stream)) => read_exit(stream).await,
                Ok(Err(e)) => {
                    tracing::warn!("waiting for exec {id}: {e}");
                    None
                }
                Err(e) => {
                    tracing::warn!("waiting for exec {id}: {e}");
                    None
                }
            };
            svc.exec_exit_status(&id, status.as_ref());
        });
    }

    /// The client detached from an attached exec with its detach keys: it
    /// keeps running (publishes `exec_detach`).
    pub fn exec_detached(self: &Arc<Self>, id: &str) {
        if let Ok(exec) = self.inspect_exec(id)
            && let Some(record) = self.store.get(&exec.container_id)
        {
            self.record_event("exec_detach", &record, &[("execID", id)]);
        }
        self.wait_exec_in_background(id.to_owned());
    }
}

/// Read a shim stream asynchronously until its exit frame; `None` when it
/// ends without one (or is not a valid frame stream).
async fn read_exit(stream: AttachStream) -> Option<ExitStatus> {
    let mut frames = match stream.into_async() {
        Ok(attach) => attach.frames,
        Err(e) => {
            tracing::warn!("reading a shim stream: {e}");
            return None;
        }
    };
    loop {
        match frames.next_frame().await {
            Ok(Some(Frame::Exit(status))) => return Some(status),
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!("reading a shim stream: {e}");
                return None;
            }
        }
    }
}
