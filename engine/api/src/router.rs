//! Routing: strip the `/v1.NN` prefix, pick the endpoint group by the first
//! path segment, and add the headers every docker response carries.

use std::sync::Arc;

use http::HeaderValue;
use hyper::body::Incoming;

use crate::call::Call;
use crate::error::ApiError;
use crate::query::Query;
use crate::response::Response;
use crate::{
    build, containers, distribution, events, exec, images, networks, system, version, volumes,
};
use skiff_engine::daemon::Daemon;

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
                "containers" => containers::handle(daemon, &call, body, upgrade).await,
                "events" => events::handle(daemon, &call).await,
                "networks" => networks::handle(daemon, &call, body).await,
                "exec" => exec::handle(&daemon.containers, &call, body, upgrade).await,
                "distribution" => distribution::handle(daemon, &call).await,
                "volumes" => volumes::handle(daemon, &call, body).await,
                "build" | "commit" => build::handle(daemon, &call, body).await,
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
