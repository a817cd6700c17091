//! `POST /containers/{id}/attach?stdin=&stdout=&stderr=`: a hijacked
//! connection ([`hijack`]) carrying the container's output
//! as a [`stdcopy`] stream (raw with a TTY, multiplexed without) and the
//! client's input as its stdin. The attach itself (the shim stream, its
//! registration before a start) is the container service's.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use skiff_engine::containers::ContainerService;
use skiff_engine::containers::attach::AttachOptions;
use skiff_shim::AttachStream;
use skiff_shim::framed::AsyncAttach;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::ApiError;
use crate::response::Response;
use crate::{hijack, stdcopy};

/// Accept the attach (registered before the 101, so a start that follows
/// is never missed) and relay once the connection is handed over.
pub(super) fn handle(
    svc: &Arc<ContainerService>,
    id: &str,
    opts: AttachOptions,
    upgrade: Option<OnUpgrade>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade
        .ok_or_else(|| ApiError::bad_request("attach needs an HTTP upgrade (Upgrade: tcp)"))?;
    let (record, ticket) = svc.prepare_attach(id, opts)?;
    let tty = record.config.tty.unwrap_or(false);
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => return tracing::debug!("attach upgrade failed: {e}"),
        };
        match ticket.connect().await {
            Ok(stream) => relay(TokioIo::new(upgraded), stream, tty, opts.stdin).await,
            Err(e) => tracing::warn!("attach to {}: {e}", record.id),
        }
    });
    Ok(hijack::switching_protocols(tty))
}

/// Relay between the hijacked client connection and the shim's attach
/// stream, half-closing each way correctly.
async fn relay<C>(client: C, stream: AttachStream, tty: bool, stdin: bool)
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(AsyncAttach {
        mut frames,
        stdin: mut shim_wr,
    }) = stream.into_async()
    else {
        return;
    };
    let (mut cl_rd, mut cl_wr) = tokio::io::split(client);
    let input = tokio::spawn(async move {
        if stdin {
            let _ = tokio::io::copy(&mut cl_rd, &mut shim_wr).await;
            // Client half-closed: tell the shim (it closes the process's stdin).
            let _ = shim_wr.shutdown().await;
        } else {
            let _ = shim_wr.shutdown().await;
            // Read (and drop) what the client sends until it closes: a socket
            // closed with unread input resets the connection.
            let _ = tokio::io::copy(&mut cl_rd, &mut tokio::io::sink()).await;
        }
    });
    // The output until the exit frame, the end of the stream, or a client
    // that is gone.
    while let Ok(Some(frame)) = frames.next_frame().await {
        let Some(chunk) = stdcopy::output(tty, &frame) else {
            break;
        };
        if cl_wr.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = cl_wr.flush().await;
    let _ = cl_wr.shutdown().await;
    input.abort();
}
