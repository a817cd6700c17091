//! Pushing an image (`docker push`) with per-layer progress.
//!
//! bollard's push stream drops each line's layer `id`, so the request is
//! made here with reqwest over the same endpoint (the engine's Unix socket
//! or TCP address), reading docker's JSON message stream line by line.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::Engine;
use super::images::split_reference;
use crate::error::{Error, Result};

/// How long the engine may take to answer the push request (the stream
/// itself may run longer).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// A `push-progress` event: the same shape as a pull's (statuses
/// `Preparing`, `Waiting`, `Pushing` with bytes sent, `Pushed`,
/// `Layer already exists`, `Mounted from …`, `<tag>: digest: … size: …`).
pub type PushProgress = super::images::PullProgress;

/// The `push-done` event that ends a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushDone {
    /// The reference, as the UI gave it.
    pub reference: String,
    /// The pushed manifest's digest, on success.
    pub digest: Option<String>,
    /// Why it failed, as a sentence; `null` on success.
    pub error: Option<String>,
}

/// One line of docker's JSON message stream.
#[derive(Debug, Default, Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "progressDetail")]
    progress: Option<Detail>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    aux: Option<Aux>,
}

#[derive(Debug, Default, Deserialize)]
struct Detail {
    current: Option<i64>,
    total: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Aux {
    #[serde(rename = "Digest")]
    digest: Option<String>,
}

/// What one line says.
#[derive(Debug, PartialEq, Eq)]
enum Said {
    Progress(PushProgress),
    Digest(String),
    Failed(String),
    Nothing,
}

fn read_line(reference: &str, line: &[u8]) -> Said {
    let Ok(message) = serde_json::from_slice::<Message>(line) else {
        return Said::Nothing;
    };
    if let Some(error) = message
        .error_detail
        .and_then(|d| d.message)
        .or(message.error)
    {
        return Said::Failed(error);
    }
    if let Some(digest) = message.aux.and_then(|a| a.digest) {
        return Said::Digest(digest);
    }
    let Some(status) = message.status.filter(|s| !s.is_empty()) else {
        return Said::Nothing;
    };
    let detail = message.progress.unwrap_or_default();
    // "The push refers to repository [...]" names no layer.
    let layer = message
        .id
        .filter(|id| !id.is_empty() && !status.starts_with("The push refers"));
    Said::Progress(PushProgress {
        reference: reference.to_string(),
        layer,
        status,
        current: detail.current.filter(|_| detail.total.is_some()),
        total: detail.total.filter(|t| *t > 0),
    })
}

/// Pushes `reference` with `auth` (the `X-Registry-Auth` value: base64url
/// of the credentials' JSON; `None`: anonymous), passing each line to
/// `progress`; returns the digest.
pub async fn push(
    engine: &Engine,
    reference: &str,
    auth: Option<String>,
    progress: &(dyn Fn(PushProgress) + Send + Sync),
) -> Result<String> {
    let (name, tag) = split_reference(reference)?;
    if tag.starts_with("sha256:") {
        return Err(Error::InvalidRequest(format!(
            "push a tag, not a digest: `{reference}`"
        )));
    }
    let conn = engine.connection().await?;
    let version = conn.docker.client_version();
    let (client, base) = super::raw::client_for(&conn.endpoint, ANSWER_TIMEOUT)?;
    let url = format!(
        "{base}/v{}.{}/images/{name}/push",
        version.major_version, version.minor_version
    );
    let unreachable = |err: reqwest::Error| {
        engine.failed(Error::EngineUnreachable {
            endpoint: conn.endpoint.clone(),
            reason: err.to_string(),
        })
    };
    let response = tokio::time::timeout(
        ANSWER_TIMEOUT,
        client
            .post(&url)
            .query(&[("tag", tag.as_str())])
            // dockerd wants the header, even empty ("{}").
            .header(
                "X-Registry-Auth",
                auth.unwrap_or_else(|| "e30=".to_string()),
            )
            .send(),
    )
    .await
    .map_err(|_| Error::EngineUnreachable {
        endpoint: conn.endpoint.clone(),
        reason: "it did not answer in time".to_string(),
    })?
    .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(super::raw::answer_error(response).await);
    }
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut digest = None;
    let handle = |line: &[u8], digest: &mut Option<String>| -> Result<()> {
        match read_line(reference, line) {
            Said::Progress(p) => progress(p),
            Said::Digest(d) => *digest = Some(d),
            Said::Failed(message) => {
                return Err(Error::Engine {
                    status: 500,
                    message,
                });
            }
            Said::Nothing => {}
        }
        Ok(())
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(unreachable)?;
        pending.extend_from_slice(&chunk);
        while let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let rest = pending.split_off(at + 1);
            let line = std::mem::replace(&mut pending, rest);
            handle(&line, &mut digest)?;
        }
    }
    handle(&pending, &mut digest)?;
    digest.ok_or_else(|| Error::Engine {
        status: 200,
        message: "the push ended without a digest".to_string(),
    })
}

/// [`push`], then `done` with the outcome; the error is also returned.
pub async fn push_reporting(
    engine: &Engine,
    reference: &str,
    auth: Option<String>,
    progress: &(dyn Fn(PushProgress) + Send + Sync),
    done: &(dyn Fn(PushDone) + Send + Sync),
) -> Result<String> {
    let result = push(engine, reference, auth, progress).await;
    done(PushDone {
        reference: reference.to_string(),
        digest: result.as_ref().ok().cloned(),
        error: result.as_ref().err().map(Error::sentence),
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_progress_digests_and_errors() {
        let said = |line: &str| read_line("r:1", line.as_bytes());
        assert_eq!(
            said(r#"{"status":"The push refers to repository [127.0.0.1:5000/r]"}"#),
            Said::Progress(PushProgress {
                reference: "r:1".into(),
                layer: None,
                status: "The push refers to repository [127.0.0.1:5000/r]".into(),
                current: None,
                total: None,
            })
        );
        assert_eq!(
            said(
                r#"{"status":"Pushing","progressDetail":{"current":512,"total":2048},"id":"a3ed95caeb02"}"#
            ),
            Said::Progress(PushProgress {
                reference: "r:1".into(),
                layer: Some("a3ed95caeb02".into()),
                status: "Pushing".into(),
                current: Some(512),
                total: Some(2048),
            })
        );
        assert_eq!(
            said(r#"{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:ab","Size":528}}"#),
            Said::Digest("sha256:ab".into())
        );
        assert_eq!(
            said(
                r#"{"errorDetail":{"message":"unauthorized: authentication required"},"error":"x"}"#
            ),
            Said::Failed("unauthorized: authentication required".into())
        );
        assert_eq!(said("not json"), Said::Nothing);
        assert_eq!(said(""), Said::Nothing);
    }
}
