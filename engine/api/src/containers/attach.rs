//! `POST /containers/{id}/attach?stdin=&stdout=&stderr=&logs=&stream=&detachKeys=`:
//! a hijacked connection ([`hijack`]) carrying the container's output as a
//! [`stdcopy`] stream (raw with a TTY, multiplexed without) and the
//! client's input as its stdin. `logs=1` first replays the container's log
//! of the chosen streams; `stream=1` then attaches to the live streams
//! (dockerd's default is no stream: a `logs=1&stream=0` attach answers the
//! log and closes, also without an upgrade). With a TTY and stdin, the
//! detach keys (`detachKeys`, else `ctrl-p,ctrl-q`) end the attach and
//! leave the container running. The attach itself (the shim stream, its
//! registration before a start) is the container service's.

use std::sync::Arc;

use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use skiff_engine::containers::ContainerService;
use skiff_engine::containers::attach::AttachOptions;
use skiff_engine::containers::exec::{DEFAULT_DETACH_KEYS, parse_detach_keys};
use skiff_engine::containers::logs::{LogLine, LogOptions};
use skiff_engine::streams::receiver_stream;
use skiff_shim::AttachStream;
use skiff_shim::framed::AsyncAttach;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::call::Call;
use crate::detach::Escape;
use crate::error::ApiError;
use crate::response::{self, Response};
use crate::{hijack, stdcopy};

/// Accept the attach (registered before the 101, so a start that follows
/// is never missed) and relay once the connection is handed over.
pub(super) fn handle(
    svc: &Arc<ContainerService>,
    call: &Call,
    id: &str,
    opts: AttachOptions,
    upgrade: Option<OnUpgrade>,
) -> Result<Response, ApiError> {
    let q = &call.query;
    let (logs, stream) = (q.bool("logs"), q.bool("stream"));
    let record = svc.resolve(id)?;
    let tty = record.config.tty.unwrap_or(false);
    let content_type = stdcopy::content_type_at(tty, call.version.as_deref());
    let detach_keys = match q.non_empty("detachKeys") {
        Some(keys) => parse_detach_keys(keys)
            .map_err(|_| ApiError::bad_request(format!("Invalid detach keys ({keys}) provided")))?,
        None => DEFAULT_DETACH_KEYS.to_vec(),
    };
    let log = if logs {
        Some(svc.logs(&record.id, LogOptions::replay(opts.stdout, opts.stderr))?)
    } else {
        None
    };
    if !stream {
        svc.log_only_attach(&record);
    }
    let Some(upgrade) = upgrade else {
        if stream {
            return Err(ApiError::bad_request(
                "attach needs an HTTP upgrade (Upgrade: tcp)",
            ));
        }
        // Nothing live: the log (if asked) as the body of a 200.
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
        tokio::spawn(async move {
            if let Some(mut log) = log {
                while let Some(line) = log.recv().await {
                    if tx.send(Ok(log_chunk(tty, &line))).await.is_err() {
                        return;
                    }
                }
            }
        });
        return Ok(response::stream(content_type, receiver_stream(rx)));
    };
    let ticket = if stream {
        Some(svc.prepare_attach(&record.id, opts)?.1)
    } else {
        None
    };
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => return tracing::debug!("attach upgrade failed: {e}"),
        };
        let mut client = TokioIo::new(upgraded);
        if let Some(mut log) = log {
            while let Some(line) = log.recv().await {
                if client.write_all(&log_chunk(tty, &line)).await.is_err() {
                    return;
                }
            }
        }
        let Some(ticket) = ticket else {
            let _ = client.flush().await;
            let _ = client.shutdown().await;
            return;
        };
        let detach = (tty && opts.stdin).then_some(detach_keys);
        match ticket.connect().await {
            Ok(stream) => relay(client, stream, tty, opts.stdin, detach).await,
            Err(e) => tracing::warn!("attach to {}: {e}", record.id),
        }
    });
    Ok(hijack::switching_protocols_as(content_type))
}

/// A line of the container's log as a chunk of the attach stream.
fn log_chunk(tty: bool, line: &LogLine) -> Bytes {
    stdcopy::frame(tty, line.stream, &line.bytes)
}

/// Relay between the hijacked client connection and the shim's attach
/// stream, half-closing each way correctly. With `detach` (a TTY attach
/// with stdin), typing those keys ends the relay and leaves the process
/// and its stdin as they are.
async fn relay<C>(client: C, stream: AttachStream, tty: bool, stdin: bool, detach: Option<Vec<u8>>)
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
    let (detached_tx, mut detached) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        if !stdin {
            let _ = shim_wr.shutdown().await;
            // Read (and drop) what the client sends until it closes: a socket
            // closed with unread input resets the connection.
            let _ = tokio::io::copy(&mut cl_rd, &mut tokio::io::sink()).await;
            return;
        }
        let mut escape = detach.filter(|k| !k.is_empty()).map(Escape::new);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match cl_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (out, done) = match escape.as_mut() {
                Some(e) => e.feed(&buf[..n]),
                None => (buf[..n].to_vec(), false),
            };
            if !out.is_empty() && shim_wr.write_all(&out).await.is_err() {
                break;
            }
            if done {
                // Detached: the process keeps its stdin (a TTY's is never
                // closed by a client leaving).
                let _ = detached_tx.send(());
                return;
            }
        }
        // Client half-closed: tell the shim (it closes the process's stdin).
        let _ = shim_wr.shutdown().await;
    });
    // The output until the exit frame, the end of the stream, a client
    // that is gone, or the detach keys.
    let mut armed = true;
    loop {
        tokio::select! {
            frame = frames.next_frame() => {
                let Ok(Some(frame)) = frame else { break };
                let Some(chunk) = stdcopy::output(tty, &frame) else {
                    break;
                };
                if cl_wr.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            d = &mut detached, if armed => {
                if d.is_ok() {
                    break;
                }
                // The input ended without a detach: keep relaying output.
                armed = false;
            }
        }
    }
    let _ = cl_wr.flush().await;
    let _ = cl_wr.shutdown().await;
    input.abort();
}
