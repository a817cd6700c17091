//! Exec endpoints: `/exec/{id}/start`, `/exec/{id}/json`, `/exec/{id}/resize`
//! (`POST /containers/{id}/exec`, in [`containers`](crate::containers),
//! creates them).
//!
//! An attached start is a [`hijack`] (`Upgrade: tcp`, answered 101)
//! carrying a [`stdcopy`] stream: multiplexed, or raw bytes when the start
//! asked for a tty. The process is started before the 101 is
//! answered (the shim holds its output until the stream is relayed), so a
//! resize that follows the 101 always finds it, and a process that cannot
//! start gets dockerd's treatment: 101, the error as output, exit code
//! 126/127 in `/exec/{id}/json`. The exit code is recorded from the stream's
//! exit frame before the client's stream is closed.

use std::sync::Arc;

use base64::Engine;
use http::{Method, StatusCode, header};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::json;
use skiff_engine::containers::ContainerService;
use skiff_engine::containers::exec::{ExecRecord, ExecStartOptions, ExecStarted};
use skiff_shim::client::AttachStream;
use skiff_shim::framed::AsyncAttach;
use skiff_shim::protocol::{Frame, FrameError, STREAM_STDOUT};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::call::Call;
use crate::detach::Escape;
use crate::error::ApiError;
use crate::query::percent_decode;
use crate::response::{self, Response};
use crate::stdcopy;
use crate::{body, hijack};

/// A parsed exec request.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// `POST /exec/{id}/start`.
    Start(String),
    /// `GET /exec/{id}/json`.
    Inspect(String),
    /// `POST /exec/{id}/resize?h=&w=`.
    Resize(String, u16, u16),
}

/// Parse an exec request.
pub fn parse(call: &Call) -> Result<Action, ApiError> {
    let rest = call
        .path
        .trim_start_matches("/exec")
        .trim_start_matches('/');
    let (id, op) = rest
        .split_once('/')
        .filter(|(id, _)| !id.is_empty())
        .ok_or_else(|| ApiError::not_found("page not found"))?;
    let id = percent_decode(id);
    match (&call.method, op) {
        (&Method::POST, "start") => Ok(Action::Start(id)),
        (&Method::GET, "json") => Ok(Action::Inspect(id)),
        (&Method::POST, "resize") => {
            let dim = |k: &str| {
                let v = call.query.get(k).unwrap_or_default();
                v.parse::<u16>().map_err(|_| {
                    ApiError::bad_request(format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
                })
            };
            Ok(Action::Resize(id, dim("h")?, dim("w")?))
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Handle an exec request: execs belong to the container service `svc`.
pub async fn handle(
    svc: &Arc<ContainerService>,
    call: &Call,
    body: Incoming,
    upgrade: Option<OnUpgrade>,
) -> Result<Response, ApiError> {
    match parse(call)? {
        Action::Inspect(id) => Ok(response::json(
            StatusCode::OK,
            &inspect(&svc.inspect_exec(&id)?),
        )),
        Action::Resize(id, h, w) => {
            svc.resize_exec(&id, h, w).await?;
            Ok(response::empty(StatusCode::OK))
        }
        Action::Start(id) => {
            let bytes = body::collect(body).await?;
            // dockerd needs the start options (clients always send them).
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad_request("got EOF while reading request body"));
            }
            let opts: ExecStartOptions = body::json_or_default(&bytes)?;
            let wants_upgrade = call.headers.contains_key(header::UPGRADE);
            let record = svc.inspect_exec(&id)?;
            match svc.start_exec(&id, opts).await? {
                ExecStarted::Detached => Ok(response::empty(StatusCode::OK)),
                started => Ok(attached(
                    svc.clone(),
                    record,
                    opts.tty,
                    started,
                    upgrade.filter(|_| wants_upgrade),
                    stdcopy::content_type_at(opts.tty, call.version.as_deref()),
                )),
            }
        }
    }
}

/// dockerd's `ExecInspect`.
fn inspect(e: &ExecRecord) -> serde_json::Value {
    let mut process = json!({
        "tty": e.tty,
        "entrypoint": e.entrypoint,
        "arguments": e.args,
        "privileged": e.privileged,
    });
    if !e.user.is_empty() {
        process["user"] = json!(e.user);
    }
    // dockerd keeps the detach keys as bytes: JSON shows them in base64.
    let detach_keys = if e.detach_keys.is_empty() {
        String::new()
    } else {
        base64::engine::general_purpose::STANDARD.encode(&e.detach_bytes)
    };
    json!({
        "ID": e.id,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "ProcessConfig": process,
        "OpenStdin": e.open_stdin,
        "OpenStderr": e.open_stderr,
        "OpenStdout": e.open_stdout,
        "CanRemove": e.can_remove(),
        "ContainerID": e.container_id,
        "DetachKeys": detach_keys,
        "Pid": e.pid,
    })
}

/// The answer to an attached start: 101 and the relay, or (without an
/// upgrade) the output as a 200 body.
fn attached(
    svc: Arc<ContainerService>,
    exec: ExecRecord,
    raw: bool,
    started: ExecStarted,
    upgrade: Option<OnUpgrade>,
    content_type: &'static str,
) -> Response {
    let opts = RelayOptions {
        raw,
        stdin: exec.open_stdin,
        detach_keys: (exec.tty && exec.open_stdin).then(|| exec.detach_bytes.clone()),
    };
    let Some(upgrade) = upgrade else {
        // No upgrade: the output as the body of a 200, without stdin.
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let opts = RelayOptions {
            stdin: false,
            ..opts
        };
        tokio::spawn(serve(svc, exec.id, started, ours, opts));
        return response::stream(content_type, tokio_util::io::ReaderStream::new(theirs));
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => serve(svc, exec.id, started, TokioIo::new(upgraded), opts).await,
            Err(e) => {
                tracing::debug!("exec {} upgrade failed: {e}", exec.id);
                if let ExecStarted::Attached(_) = started {
                    svc.wait_exec_in_background(exec.id);
                }
            }
        }
    });
    hijack::switching_protocols_as(content_type)
}

async fn serve<C>(
    svc: Arc<ContainerService>,
    id: String,
    started: ExecStarted,
    mut client: C,
    opts: RelayOptions,
) where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match started {
        ExecStarted::Attached(stream) => relay(svc, id, client, stream, opts).await,
        ExecStarted::Failed(message) => {
            // dockerd writes the error to the exec's stdout stream.
            let _ = client
                .write_all(&stdcopy::frame(
                    opts.raw,
                    STREAM_STDOUT,
                    format!("{message}\r\n").as_bytes(),
                ))
                .await;
            let _ = client.flush().await;
            let _ = client.shutdown().await;
        }
        ExecStarted::Detached => {}
    }
}

/// How long a relay waits for the client to close its side after the end
/// of the output.
const CLIENT_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How to relay an attached exec.
#[derive(Debug, Clone)]
struct RelayOptions {
    /// Raw output (tty) instead of docker's multiplexed frames.
    raw: bool,
    /// Forward the client's input to the process.
    stdin: bool,
    /// With a tty: the sequence that detaches the client.
    detach_keys: Option<Vec<u8>>,
}

/// How a relay ended.
enum End {
    /// The exit frame came.
    Exited(Option<skiff_shim::ExitStatus>),
    /// The client typed the detach keys.
    Detached,
    /// The client went away, or the shim stream broke.
    Abandoned,
}

/// Relay between the client and the exec's shim stream. The exit code is
/// recorded before the client's stream is closed; a client that leaves or
/// detaches leaves the process running and a task waiting for it.
async fn relay<C>(
    svc: Arc<ContainerService>,
    id: String,
    client: C,
    stream: AttachStream,
    opts: RelayOptions,
) where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let AsyncAttach {
        mut frames,
        stdin: mut shim_wr,
    } = match stream.into_async() {
        Ok(attach) => attach,
        Err(e) => {
            tracing::warn!("exec {id}: shim stream: {e}");
            return svc.wait_exec_in_background(id);
        }
    };
    let (mut cl_rd, mut cl_wr) = tokio::io::split(client);
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let RelayOptions {
        raw,
        stdin,
        detach_keys,
    } = opts;
    // The client's input is read until it closes, even when it is not
    // forwarded: a connection closed with unread input is reset, and the
    // client would see an error instead of the end of the output.
    let mut input = tokio::spawn(async move {
        let mut forward = stdin;
        if !forward {
            let _ = shim_wr.shutdown().await;
        }
        let mut escape = detach_keys.filter(|k| !k.is_empty()).map(Escape::new);
        let mut detach_tx = Some(detach_tx);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match cl_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !forward {
                continue;
            }
            let (out, detach) = match escape.as_mut() {
                Some(e) => e.feed(&buf[..n]),
                None => (buf[..n].to_vec(), false),
            };
            if !out.is_empty() && shim_wr.write_all(&out).await.is_err() {
                forward = false;
            }
            if detach {
                if let Some(tx) = detach_tx.take() {
                    let _ = tx.send(());
                }
                forward = false;
            }
        }
        if forward {
            // The client half-closed: the shim closes the process's stdin.
            let _ = shim_wr.shutdown().await;
        }
    });
    let mut armed = true;
    let end = loop {
        tokio::select! {
            frame = frames.next_frame() => match frame {
                Ok(Some(Frame::Exit(status))) => break End::Exited(Some(status)),
                Ok(Some(output)) => {
                    let Some(chunk) = stdcopy::output(raw, &output) else {
                        continue;
                    };
                    if cl_wr.write_all(&chunk).await.is_err() {
                        break End::Abandoned;
                    }
                }
                // An exit frame that does not parse still ends the exec.
                Err(FrameError::BadExit(_)) => break End::Exited(None),
                Ok(None) | Err(_) => break End::Abandoned,
            },
            d = &mut detach_rx, if armed => {
                if d.is_ok() {
                    break End::Detached;
                }
                armed = false;
            }
        }
    };
    drop(frames);
    match end {
        End::Exited(status) => svc.exec_exit_status(&id, status.as_ref()),
        End::Detached => svc.exec_detached(&id),
        End::Abandoned => svc.wait_exec_in_background(id),
    }
    let _ = cl_wr.flush().await;
    let _ = cl_wr.shutdown().await;
    // Let the client see the end and close its side.
    let _ = tokio::time::timeout(CLIENT_CLOSE_GRACE, &mut input).await;
    input.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call as call;

    #[test]
    fn parses_exec_routes() {
        assert_eq!(
            parse(&call(Method::POST, "/exec/abc/start", "")).expect("start"),
            Action::Start("abc".into())
        );
        assert_eq!(
            parse(&call(Method::GET, "/exec/abc/json", "")).expect("json"),
            Action::Inspect("abc".into())
        );
        assert_eq!(
            parse(&call(Method::POST, "/exec/abc/resize", "h=24&w=80")).expect("resize"),
            Action::Resize("abc".into(), 24, 80)
        );
        assert_eq!(
            parse(&call(Method::POST, "/exec/abc/resize", "h=x&w=80"))
                .expect_err("bad height")
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse(&call(Method::GET, "/exec/abc", ""))
                .expect_err("no op")
                .status,
            StatusCode::NOT_FOUND
        );
    }
}
