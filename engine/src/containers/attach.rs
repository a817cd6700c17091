//! `docker attach` (and `docker run`'s attach before start): an attach
//! stream to the container's shim. An attach to a container that has not
//! started waits for the start, which waits for it to connect, so no output
//! is missed.

use skiff_shim::client::AttachStream;
use skiff_shim::protocol::AttachRequest;
use tokio::sync::oneshot;

use super::ContainerService;
use super::error::ContainerError;
use super::record::{ContainerRecord, Status};
use super::runtime::ShimRef;

/// Which streams to attach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// Forward stdin.
    pub stdin: bool,
    /// Receive stdout.
    pub stdout: bool,
    /// Receive stderr.
    pub stderr: bool,
}

/// An attach that has been accepted: connect it once the client is ready.
#[derive(Debug)]
pub enum AttachTicket {
    /// The container runs: connect to its shim now.
    Now(ShimRef, AttachRequest),
    /// The container has not started: its start hands over the shim and
    /// waits for the acknowledgement before the process runs.
    Later(
        oneshot::Receiver<(ShimRef, oneshot::Sender<()>)>,
        AttachRequest,
    ),
}

impl AttachTicket {
    /// Connect the attach stream (waiting for the start, for `Later`).
    pub async fn connect(self) -> Result<AttachStream, ContainerError> {
        match self {
            Self::Now(shim, req) => Ok(tokio::task::spawn_blocking(move || {
                shim.state()?;
                shim.attach(req)
            })
            .await??),
            Self::Later(rx, req) => {
                let (handle, ack) = rx.await.map_err(|_| {
                    ContainerError::Conflict("the container was removed before it started".into())
                })?;
                let stream = tokio::task::spawn_blocking(move || handle.attach(req)).await?;
                let _ = ack.send(());
                Ok(stream?)
            }
        }
    }
}

impl ContainerService {
    /// Publish the `attach` event of an attach that only replays the log
    /// (`stream=0`): dockerd publishes one for every attach.
    pub fn log_only_attach(&self, record: &ContainerRecord) {
        self.record_event("attach", record, &[]);
    }

    /// Accept an attach: registered before answering the client, so a start
    /// that follows can never miss it.
    pub fn prepare_attach(
        &self,
        what: &str,
        opts: AttachOptions,
    ) -> Result<(ContainerRecord, AttachTicket), ContainerError> {
        let record = self.resolve(what)?;
        let req = AttachRequest {
            exec_id: None,
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
            close_stdin: record.config.stdin_once.unwrap_or(false),
        };
        if !matches!(record.state.status, Status::Removing | Status::Dead) {
            self.record_event("attach", &record, &[]);
        }
        match record.state.status {
            Status::Running | Status::Paused | Status::Restarting => {
                let shim = self.shim(&record.id);
                Ok((record, AttachTicket::Now(shim, req)))
            }
            Status::Created | Status::Exited => {
                let (tx, rx) = oneshot::channel();
                self.pending_attach
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(record.id.clone())
                    .or_default()
                    .push(tx);
                Ok((record, AttachTicket::Later(rx, req)))
            }
            Status::Removing | Status::Dead => Err(ContainerError::Conflict(format!(
                "container {} is being removed",
                record.id
            ))),
        }
    }
}
