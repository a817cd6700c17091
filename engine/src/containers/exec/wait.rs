//! The end of an exec: its exit recorded (once) from an attached stream's
//! exit frame, or waited for in the background for detached and abandoned
//! execs.

use std::sync::Arc;
use std::time::Instant;

use skiff_shim::ExitStatus;
use skiff_shim::client::AttachStream;
use skiff_shim::protocol::{
    AttachRequest, FRAME_HEADER, Frame, MAX_FRAME_LEN, check_frame_len, decode_frame_header,
};

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

/// Take one whole shim frame (stream id, payload) off the front of
/// `pending`; kept for the API's exec relay until it reads frames with
/// [`skiff_shim::framed::FrameReader`]. A frame announcing more than the
/// protocol's limit is never taken.
pub fn take_frame(pending: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let header: [u8; FRAME_HEADER] = pending.get(..FRAME_HEADER)?.try_into().ok()?;
    let (id, len) = decode_frame_header(header);
    check_frame_len(len, MAX_FRAME_LEN).ok()?;
    let payload = pending.get(FRAME_HEADER..FRAME_HEADER + len)?.to_vec();
    pending.drain(..FRAME_HEADER + len);
    Some((id, payload))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_whole() {
        let mut pending = vec![1, 0, 0, 0, 2, b'h', b'i', 3, 0, 0];
        assert_eq!(take_frame(&mut pending), Some((1, b"hi".to_vec())));
        assert_eq!(take_frame(&mut pending), None);
        assert_eq!(pending, [3, 0, 0]);
    }
}
