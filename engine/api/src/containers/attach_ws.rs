//! `GET /containers/{id}/attach/ws?stdin=&stdout=&stderr=&logs=&stream=`:
//! attach over a websocket (RFC 6455), as dockerd serves it with
//! `golang.org/x/net/websocket`: the container's output, never multiplexed
//! (raw bytes, TTY or not), one binary message per chunk (text messages
//! for API versions before 1.28); what the client sends, binary or text, is
//! the container's stdin. `stdin`, `stdout` and `stderr` choose the streams
//! from API 1.42 on; before, all three are attached, as in dockerd. `logs=1` first replays the container's log of the
//! chosen streams; `stream=1` then attaches until the container exits, and
//! the server closes the websocket. The attach itself (the shim stream, its
//! registration before a start) is the container service's.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use skiff_engine::containers::attach::{AttachOptions, AttachTicket};
use skiff_engine::containers::logs::{LogLine, LogOptions};
use skiff_engine::daemon::Daemon;
use skiff_shim::framed::AsyncAttach;
use skiff_shim::protocol::Frame;

use crate::call::Call;
use crate::error::ApiError;
use crate::response::{self, Response};

/// A parsed websocket attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsAttach {
    /// Container name or id.
    pub id: String,
    /// Which streams.
    pub opts: AttachOptions,
    /// Replay the container's log first.
    pub logs: bool,
    /// Attach to the live streams.
    pub stream: bool,
    /// Binary messages (API ≥ 1.28), else text.
    pub binary: bool,
}

/// The websocket attach to container `id` that `call` (`GET
/// /containers/{id}/attach/ws`) asks for.
pub fn parse(call: &Call, id: String) -> WsAttach {
    let q = &call.query;
    // Before API 1.42 dockerd ignored the stream choice: all three.
    let all = version_below(call.version.as_deref(), (1, 42));
    WsAttach {
        id,
        opts: AttachOptions {
            stdin: all || q.bool("stdin"),
            stdout: all || q.bool("stdout"),
            stderr: all || q.bool("stderr"),
        },
        logs: q.bool("logs"),
        stream: q.bool("stream"),
        binary: !version_below(call.version.as_deref(), (1, 28)),
    }
}

/// Whether API version `v` (the latest when absent) is below `min`.
pub(crate) fn version_below(v: Option<&str>, min: (u32, u32)) -> bool {
    let Some(v) = v else {
        return false;
    };
    let (a, b) = v.split_once('.').unwrap_or((v, "0"));
    (a.parse::<u32>().unwrap_or(0), b.parse::<u32>().unwrap_or(0)) < min
}

/// The `Sec-WebSocket-Accept` answer to a handshake's headers (RFC 6455
/// §4.2.1: `Upgrade: websocket`, a `Connection` with `upgrade`, version 13,
/// a key).
pub fn accept_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or_default()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(ApiError::bad_request(
            "websocket: the client is not using the websocket protocol",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(ApiError::bad_request(
            "websocket: unsupported version (Sec-WebSocket-Version: 13 is needed)",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().trim_ascii())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("websocket: missing Sec-WebSocket-Key"))?;
    Ok(derive_accept_key(key))
}

/// Answer the handshake (101) and serve the attach on the upgraded
/// connection.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    attach: WsAttach,
    upgrade: Option<OnUpgrade>,
) -> Result<Response, ApiError> {
    let accept = accept_key(&call.headers)?;
    let upgrade =
        upgrade.ok_or_else(|| ApiError::bad_request("websocket attach needs an HTTP upgrade"))?;
    let svc = &daemon.containers;
    let record = svc.resolve(&attach.id)?;
    let logs = if attach.logs {
        Some(svc.logs(
            &record.id,
            LogOptions {
                stdout: attach.opts.stdout,
                stderr: attach.opts.stderr,
                follow: false,
                tail: None,
                since: None,
                until: None,
            },
        )?)
    } else {
        None
    };
    // Registered before the 101, so a start that follows is never missed.
    let ticket = if attach.stream {
        Some(svc.prepare_attach(&record.id, attach.opts)?.1)
    } else {
        None
    };
    let id = record.id;
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => return tracing::debug!("websocket attach upgrade failed: {e}"),
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        serve(ws, logs, ticket, attach.opts.stdin, attach.binary, &id).await;
    });
    let mut resp = response::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    Ok(resp)
}

/// A message of output.
fn message(binary: bool, bytes: Vec<u8>) -> Message {
    if binary {
        Message::Binary(Bytes::from(bytes))
    } else {
        Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
    }
}

/// The logs, then the live streams, then a close.
async fn serve<S>(
    mut ws: WebSocketStream<S>,
    logs: Option<mpsc::Receiver<LogLine>>,
    ticket: Option<AttachTicket>,
    stdin: bool,
    binary: bool,
    id: &str,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(mut rx) = logs {
        while let Some(line) = rx.recv().await {
            if ws.send(message(binary, line.bytes)).await.is_err() {
                return;
            }
        }
    }
    if let Some(ticket) = ticket {
        match ticket.connect().await {
            Ok(stream) => {
                if !relay(&mut ws, stream, stdin, binary).await {
                    return;
                }
            }
            Err(e) => tracing::warn!("websocket attach to {id}: {e}"),
        }
    }
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await;
}

/// Relay between the websocket and the shim's attach stream until the
/// container's streams end (true) or the client goes (false).
async fn relay<S>(
    ws: &mut WebSocketStream<S>,
    stream: skiff_shim::AttachStream,
    stdin: bool,
    binary: bool,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(AsyncAttach {
        mut frames,
        stdin: mut shim_wr,
    }) = stream.into_async()
    else {
        return true;
    };
    let mut stdin_open = stdin;
    if !stdin {
        let _ = shim_wr.shutdown().await;
    }
    loop {
        tokio::select! {
            // Output first: what the container wrote before the client
            // went is still sent.
            biased;
            frame = frames.next_frame() => match frame {
                Ok(Some(Frame::Stdout(payload) | Frame::Stderr(payload))) => {
                    if ws.send(message(binary, payload)).await.is_err() {
                        return false;
                    }
                }
                // The exit frame, the end of the stream, or a broken one.
                Ok(Some(Frame::Exit(_)) | None) | Err(_) => return true,
            },
            msg = ws.next() => {
                let input: Option<Vec<u8>> = match msg {
                    Some(Ok(Message::Binary(b))) => Some(b.to_vec()),
                    Some(Ok(Message::Text(t))) => Some(t.as_bytes().to_vec()),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        // The client is gone: end of its stdin (the shim
                        // closes the process's stdin for StdinOnce).
                        if stdin_open {
                            let _ = shim_wr.shutdown().await;
                        }
                        return false;
                    }
                    Some(Ok(_)) => None,
                };
                if let Some(bytes) = input.filter(|_| stdin_open)
                    && shim_wr.write_all(&bytes).await.is_err()
                {
                    stdin_open = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call as call;
    use http::Method;

    #[test]
    fn accept_key_is_rfc_6455s_example() {
        // RFC 6455 §1.3: the sample nonce and its answer.
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(
            accept_key(&h).expect("accept"),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut old = h.clone();
        old.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            accept_key(&old).expect_err("version").status,
            StatusCode::BAD_REQUEST
        );
        let mut plain = h.clone();
        plain.remove(header::UPGRADE);
        assert!(accept_key(&plain).is_err());
        let mut keyless = h;
        keyless.remove(header::SEC_WEBSOCKET_KEY);
        assert!(accept_key(&keyless).is_err());
    }

    /// The websocket attach the containers parse makes of `c`, if any.
    fn ws(c: &Call) -> Option<WsAttach> {
        match crate::containers::parse(c) {
            Ok(crate::containers::Action::AttachWs(a)) => Some(a),
            _ => None,
        }
    }

    #[test]
    fn parses_the_websocket_attach_route() {
        let a = ws(&call(
            Method::GET,
            "/containers/web/attach/ws",
            "stdin=1&stdout=true&stream=1&logs=0",
        ))
        .expect("route");
        assert_eq!(a.id, "web");
        assert!(a.opts.stdin && a.opts.stdout && !a.opts.stderr);
        assert!(a.stream && !a.logs && a.binary);
        assert!(ws(&call(Method::POST, "/containers/web/attach/ws", "")).is_none());
        assert!(ws(&call(Method::GET, "/containers/web/attach", "")).is_none());
        let mut legacy = call(Method::GET, "/containers/web/attach/ws", "");
        legacy.version = Some("1.27".into());
        assert!(!ws(&legacy).expect("route").binary);
        let opts = ws(&legacy).expect("route").opts;
        assert!(opts.stdin && opts.stdout && opts.stderr, "all before 1.42");
        legacy.version = Some("1.28".into());
        assert!(ws(&legacy).expect("route").binary);
        legacy.version = Some("1.42".into());
        let opts = ws(&legacy).expect("route").opts;
        assert!(!opts.stdin && !opts.stdout && !opts.stderr);
    }
}
