//! `POST /containers/{id}/attach?stdin=&stdout=&stderr=`: a hijacked
//! connection ([`hijack`](crate::hijack)) carrying the container's output
//! as a [`stdcopy`] stream (raw with a TTY, multiplexed without) and the
//! client's input as its stdin. The attach itself (the shim stream, its
//! registration before a start) is the container service's.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use skiff_engine::containers::ContainerService;
use skiff_engine::containers::attach::AttachOptions;
use skiff_shim::AttachStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::ApiError;
use crate::response::Response;
use crate::{hijack, shim_io, stdcopy};

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
    let Ok((mut shim_rd, mut shim_wr, buffered)) = shim_io::into_async(stream) else {
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
    let mut pending = buffered;
    let mut buf = vec![0u8; 64 * 1024];
    'out: loop {
        // Parse whole frames from `pending`.
        while pending.len() >= skiff_shim::protocol::FRAME_HEADER {
            let id = pending[0];
            let len = u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]]) as usize;
            if pending.len() < skiff_shim::protocol::FRAME_HEADER + len {
                break;
            }
            let payload: Vec<u8> = pending
                .drain(..skiff_shim::protocol::FRAME_HEADER + len)
                .skip(skiff_shim::protocol::FRAME_HEADER)
                .collect();
            if id == skiff_shim::protocol::STREAM_EXIT {
                break 'out;
            }
            if cl_wr
                .write_all(&stdcopy::frame(tty, id, &payload))
                .await
                .is_err()
            {
                break 'out;
            }
        }
        match shim_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
    let _ = cl_wr.flush().await;
    let _ = cl_wr.shutdown().await;
    input.abort();
}
