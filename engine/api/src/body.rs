//! Request bodies: read whole (JSON documents), or as a blocking reader for
//! consumers in `spawn_blocking` (tar readers).
//!
//! Limits against hostile clients: a whole-read body is capped at
//! [`JSON_BODY_LIMIT`] (413 beyond, refused by its `Content-Length` before
//! anything is read when it declares one); every body, whole-read or
//! streamed, must keep sending: no byte for [`BODY_IDLE_TIMEOUT`] ends the
//! request (408 for a whole-read body, an I/O error for a streamed one).
//! Streamed bodies (tars) have no size cap: their consumers write them to
//! disk as they arrive. JSON nesting is capped by `serde_json` (128 levels:
//! deeper is a 400 "recursion limit exceeded").

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use skiff_engine::streams::ChannelReader;

use crate::error::ApiError;

/// Largest body read whole (a JSON document): 16 MiB, as a container
/// config with its environment and labels is a few KiB.
pub const JSON_BODY_LIMIT: usize = 16 << 20;

/// How long a client may send nothing while a body is still due.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The whole body, at most [`JSON_BODY_LIMIT`] bytes: 413 beyond, 408 when
/// the client stops sending for [`BODY_IDLE_TIMEOUT`], 400 when it breaks
/// off.
pub async fn collect(body: Incoming) -> Result<Bytes, ApiError> {
    collect_limited(body, JSON_BODY_LIMIT, BODY_IDLE_TIMEOUT).await
}

/// [`collect`] with explicit limits, for any body.
pub async fn collect_limited<B>(
    mut body: B,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let too_large = || {
        ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: the limit is {} MiB", limit >> 20),
        )
    };
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    let mut out = bytes::BytesMut::new();
    loop {
        let frame = tokio::time::timeout(idle, body.frame())
            .await
            .map_err(|_| {
                ApiError::new(
                    http::StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "timed out reading the request body: nothing received for {} seconds",
                        idle.as_secs()
                    ),
                )
            })?;
        let Some(frame) = frame else {
            return Ok(out.freeze());
        };
        let frame = frame.map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&data);
        }
    }
}

/// A JSON body, or `T::default()` when the body is empty or blank (docker
/// clients may send no body where the options have defaults).
pub fn json_or_default<T>(bytes: &[u8]) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + Default,
{
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| json_error(bytes, &e))
}

/// A JSON body's parse error in the words of Go's `encoding/json`, which
/// dockerd answers with: `EOF` for an empty body, `unexpected EOF` for a
/// truncated one; other errors keep serde's description.
pub fn json_error(bytes: &[u8], e: &serde_json::Error) -> ApiError {
    let message = if bytes.iter().all(u8::is_ascii_whitespace) {
        "EOF".to_owned()
    } else if e.is_eof() {
        "unexpected EOF".to_owned()
    } else {
        format!("invalid JSON: {e}")
    };
    ApiError::bad_request(message)
}

/// An `AuthConfig` JSON body (`POST /auth`, and a push without
/// `X-Registry-Auth`), field names matched as Go does. A body that is no
/// JSON object fails with the words of Go's JSON decoder, which dockerd
/// answers with: `EOF` (empty), `unexpected EOF` (cut short), else the
/// parser's message.
pub fn auth_config(bytes: &[u8]) -> Result<skiff_registry::AuthConfig, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("EOF".to_owned());
    }
    let map = match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes) {
        Ok(map) => map,
        Err(e) if e.is_eof() => return Err("unexpected EOF".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    // Go refuses a field of the wrong type (every AuthConfig field is a
    // string) rather than reading it as empty.
    const FIELDS: [&str; 7] = [
        "username",
        "password",
        "auth",
        "email",
        "serveraddress",
        "identitytoken",
        "registrytoken",
    ];
    for (key, value) in &map {
        let known = FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key));
        let kind = match value {
            serde_json::Value::String(_) | serde_json::Value::Null => continue,
            serde_json::Value::Bool(_) => "bool",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        };
        if known {
            return Err(format!(
                "json: cannot unmarshal {kind} into Go struct field AuthConfig.{key} of type string"
            ));
        }
    }
    skiff_registry::AuthConfig::from_json(bytes).map_err(|e| e.to_string())
}

/// How much of a body is still read, and thrown away, once its consumer has
/// stopped reading (see [`reader`]): 256 MiB. A consumer that fails (a
/// `docker cp` onto a full disk) stops with the rest of a large tar still
/// on its way; reading it costs no disk and a fraction of a second, and
/// is what lets the client read the error rather than "broken pipe".
const DRAIN_LIMIT: usize = 256 << 20;

/// A blocking reader over a request body, fed by a task that pulls frames;
/// a client silent for [`BODY_IDLE_TIMEOUT`] makes it fail (`TimedOut`).
///
/// A consumer may stop before the body ends: a tar reader stops at the first
/// end-of-archive block, while the client still sends the second one and the
/// chunked terminator. The rest of the body (up to [`DRAIN_LIMIT`]) is then
/// read and dropped, so the client can finish sending and read the answer:
/// a connection closed with unread input is reset, and the client sees
/// "broken pipe" instead of the answer.
pub fn reader(body: Incoming) -> ChannelReader {
    let (tx, reader) = ChannelReader::new();
    tokio::spawn(async move {
        let mut body = body;
        loop {
            let Ok(frame) = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await else {
                let _ = tx
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "timed out reading the request body",
                    )))
                    .await;
                break;
            };
            let Some(frame) = frame else {
                break;
            };
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        if tx.send(Ok(data)).await.is_err() {
                            drain(body).await;
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
            }
        }
    });
    reader
}

/// Read and drop what remains of `body`, up to [`DRAIN_LIMIT`] bytes (and
/// while the client keeps sending).
async fn drain(mut body: Incoming) {
    let mut left = DRAIN_LIMIT;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        match left.checked_sub(data.len()) {
            Some(rest) => left = rest,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    type Chunk = Result<Frame<Bytes>, std::io::Error>;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Chunk>>> {
        let frames: Vec<Chunk> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let second = Duration::from_secs(1);
        let got = collect_limited(chunks(&[b"ab", b"cd"]), 4, second)
            .await
            .expect("at the limit");
        assert_eq!(&got[..], b"abcd");
        let e = collect_limited(chunks(&[b"ab", b"cd", b"e"]), 4, second)
            .await
            .expect_err("chunked, over the limit");
        assert_eq!(e.status, http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            e.message.starts_with("request body too large"),
            "{}",
            e.message
        );
        // A declared length over the limit is refused before reading.
        let e = collect_limited(Full::new(Bytes::from_static(b"abcde")), 4, second)
            .await
            .expect_err("declared length over the limit");
        assert_eq!(e.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_silent_client_is_408() {
        let silent = StreamBody::new(futures_util::stream::pending::<Chunk>());
        let e = collect_limited(silent, 4, Duration::from_millis(20))
            .await
            .expect_err("silent");
        assert_eq!(e.status, http::StatusCode::REQUEST_TIMEOUT);
        assert!(
            e.message.starts_with("timed out reading the request body"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_broken_body_is_400() {
        let broken = StreamBody::new(futures_util::stream::iter(vec![Err::<Frame<Bytes>, _>(
            std::io::Error::other("connection reset"),
        )]));
        let e = collect_limited(broken, 4, Duration::from_secs(1))
            .await
            .expect_err("broken");
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "reading body: connection reset");
    }

    #[test]
    fn json_nesting_is_capped() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = json_or_default::<serde_json::Value>(deep.as_bytes()).expect_err("too deep");
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("recursion limit exceeded"),
            "{}",
            e.message
        );
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    struct Options {
        #[serde(rename = "Tty", default)]
        tty: bool,
    }

    #[test]
    fn blank_bodies_are_the_defaults() {
        assert_eq!(
            json_or_default::<Options>(b"").expect("empty"),
            Options::default()
        );
        assert_eq!(
            json_or_default::<Options>(b" \n").expect("blank"),
            Options::default()
        );
        assert_eq!(
            json_or_default::<Options>(br#"{"Tty":true}"#).expect("json"),
            Options { tty: true }
        );
        let e = json_or_default::<Options>(b"{").expect_err("bad");
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "unexpected EOF", "Go's words, as dockerd's");
        let e = json_or_default::<Options>(br#"{"Tty":1}"#).expect_err("type");
        assert!(e.message.starts_with("invalid JSON: "), "{}", e.message);
    }

    #[test]
    fn auth_configs_fail_in_go_words() {
        assert_eq!(auth_config(b"").expect_err("empty"), "EOF");
        assert_eq!(auth_config(b" \n").expect_err("blank"), "EOF");
        assert_eq!(auth_config(b"{").expect_err("cut"), "unexpected EOF");
        assert!(auth_config(b"[1]").is_err());
        assert_eq!(
            auth_config(br#"{"username":1}"#).expect_err("wrong type"),
            "json: cannot unmarshal number into Go struct field AuthConfig.username of type string"
        );
        auth_config(br#"{"username":null,"other":1}"#).expect("null and unknown keys pass");
        let auth =
            auth_config(br#"{"Username":"u","password":"p","serveraddress":"r"}"#).expect("valid");
        assert_eq!((auth.username.as_str(), auth.password.as_str()), ("u", "p"));
        assert_eq!(
            auth_config(b"{}").expect("empty object").credentials(),
            None
        );
    }
}
