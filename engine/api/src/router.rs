//! Routing: strip the `/v1.NN` prefix, pick the endpoint group by the first
//! path segment, and add the headers every docker response carries.

use std::sync::Arc;

use http::{HeaderValue, Method};
use hyper::body::Incoming;

use super::error::ApiError;
use super::query::Query;
use super::response::Response;
use super::{attach_ws, changes, containers, distribution, events, exec, images, system, version};
use skiff_engine::daemon::Daemon;

/// What every endpoint group's handler receives.
#[derive(Debug)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path with the version prefix removed, e.g. `/images/busybox/json`.
    pub path: String,
    /// The query string.
    pub query: Query,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The API version the client asked for, if it used a prefix.
    pub version: Option<String>,
}

/// Route one request.
pub async fn route(daemon: &Arc<Daemon>, req: http::Request<Incoming>) -> Response {
    let (mut parts, body) = req.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    tracing::debug!("{} {}", parts.method, parts.uri);
    let mut resp = match version::split(parts.uri.path()) {
        Err(e) => e.into_response(),
        Ok((version, path)) => {
            let call = Call {
                method: parts.method.clone(),
                path: path.to_owned(),
                query: Query::parse(parts.uri.query()),
                headers: parts.headers,
                version: version.map(str::to_owned),
            };
            let group = call
                .path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let result = match group.as_str() {
                "_ping" | "version" | "info" | "auth" | "system" => {
                    system::handle(daemon, &call, body).await
                }
                "images" => images::handle(daemon, &call, body).await,
                "containers" => {
                    if let Some(id) = changes::parse(&call) {
                        changes::handle(daemon, &id).await
                    } else if let Some(attach) = attach_ws::parse(&call) {
                        attach_ws::handle(daemon, &call, attach, upgrade).await
                    } else {
                        containers::handle(daemon, &call, body, upgrade).await
                    }
                }
                "events" => events::handle(daemon, &call).await,
                "exec" => exec::handle(daemon, &call, body, upgrade).await,
                "distribution" => distribution::handle(daemon, &call).await,
                "build" | "commit" => Err(ApiError::new(
                    http::StatusCode::NOT_IMPLEMENTED,
                    format!("/{group} is not supported by this engine yet"),
                )),
                _ => Err(ApiError::not_found("page not found")),
            };
            result.unwrap_or_else(ApiError::into_response)
        }
    };
    let headers = resp.headers_mut();
    headers.insert(
        "api-version",
        HeaderValue::from_static(version::API_VERSION),
    );
    headers.insert("ostype", HeaderValue::from_static("linux"));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert(
        "server",
        HeaderValue::from_static(concat!("skiffd/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// A [`Call`] for the endpoint groups' parse tests.
#[cfg(test)]
pub fn test_call(method: Method, path: &str, query: &str) -> Call {
    Call {
        method,
        path: path.into(),
        query: Query::parse(Some(query)),
        headers: http::HeaderMap::new(),
        version: None,
    }
}
