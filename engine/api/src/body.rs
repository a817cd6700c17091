//! Request bodies: read whole (JSON documents), or as a blocking reader for
//! consumers in `spawn_blocking` (tar readers).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use skiff_engine::streams::ChannelReader;

use crate::error::ApiError;

/// The whole body (a client that breaks off sending it gets a 400).
pub async fn collect(body: Incoming) -> Result<Bytes, ApiError> {
    Ok(body
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
        .to_bytes())
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
    if let Err(e) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes) {
        return Err(if e.is_eof() {
            "unexpected EOF".to_owned()
        } else {
            e.to_string()
        });
    }
    skiff_registry::AuthConfig::from_json(bytes).map_err(|e| e.to_string())
}

/// How much of a body is still read, and thrown away, once its consumer has
/// stopped reading (see [`reader`]).
const DRAIN_LIMIT: usize = 1 << 20;

/// A blocking reader over a request body, fed by a task that pulls frames.
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
        while let Some(frame) = body.frame().await {
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

/// Read and drop what remains of `body`, up to [`DRAIN_LIMIT`] bytes.
async fn drain(mut body: Incoming) {
    let mut left = DRAIN_LIMIT;
    while let Some(Ok(frame)) = body.frame().await {
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
        let auth =
            auth_config(br#"{"Username":"u","password":"p","serveraddress":"r"}"#).expect("valid");
        assert_eq!((auth.username.as_str(), auth.password.as_str()), ("u", "p"));
        assert_eq!(
            auth_config(b"{}").expect("empty object").credentials(),
            None
        );
    }
}
