//! `GET /distribution/{name}/json`: a registry lookup without a pull.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;

use crate::call::Call;
use crate::error::ApiError;
use crate::images::decode_auth;
use crate::query::percent_decode;
use crate::response::{self, Response};
use skiff_engine::daemon::Daemon;

/// Parse: the image name between `/distribution/` and `/json`.
pub fn parse(method: &Method, path: &str) -> Result<String, ApiError> {
    let name = path
        .strip_prefix("/distribution/")
        .and_then(|r| r.strip_suffix("/json"));
    match (method, name) {
        (&Method::GET, Some(n)) if !n.is_empty() => Ok(percent_decode(n)),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Handle the lookup.
pub async fn handle(daemon: &Arc<Daemon>, call: &Call) -> Result<Response, ApiError> {
    let name = parse(&call.method, &call.path)?;
    let info = daemon
        .images
        .distribution(&name, decode_auth(&call.headers)?)
        .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({ "Descriptor": info.descriptor, "Platforms": info.platforms }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_hosts_and_tags() {
        assert_eq!(
            parse(
                &Method::GET,
                "/distribution/localhost:5000/hello-world:linux/json"
            )
            .expect("parse"),
            "localhost:5000/hello-world:linux"
        );
        assert!(parse(&Method::GET, "/distribution//json").is_err());
        assert!(parse(&Method::POST, "/distribution/x/json").is_err());
    }
}
