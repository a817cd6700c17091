//! Requests bollard does not make as the app needs them (push keeps each
//! line's layer id; `/auth`), with reqwest over the engine's endpoint.

use std::time::Duration;

use crate::error::{Error, Result};

/// A client that reaches `endpoint` (`unix://…` or `tcp://…`) and the base
/// URL of its API.
pub fn client_for(endpoint: &str, connect_timeout: Duration) -> Result<(reqwest::Client, String)> {
    let internal = |err: reqwest::Error| Error::Internal(format!("an HTTP client: {err}"));
    if let Some(path) = endpoint.strip_prefix("unix://") {
        let client = reqwest::Client::builder()
            .unix_socket(path)
            .connect_timeout(connect_timeout)
            .build()
            .map_err(internal)?;
        return Ok((client, "http://localhost".to_string()));
    }
    let base = endpoint
        .strip_prefix("tcp://")
        .map(|rest| format!("http://{rest}"))
        .unwrap_or_else(|| endpoint.to_string());
    let client = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(internal)?;
    Ok((client, base.trim_end_matches('/').to_string()))
}

/// The engine's error answer as the app's error (docker's `{"message"}`).
pub async fn answer_error(response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    match status {
        404 => Error::NotFound(message),
        400 => Error::InvalidRequest(message),
        409 => Error::Conflict(message),
        code => Error::Engine {
            status: code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_base_urls() {
        let t = Duration::from_secs(1);
        let (_, base) = client_for("unix:///run/skiff/docker.sock", t).expect("client");
        assert_eq!(base, "http://localhost");
        let (_, base) = client_for("tcp://127.0.0.1:2375", t).expect("client");
        assert_eq!(base, "http://127.0.0.1:2375");
    }
}
