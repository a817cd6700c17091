//! Container endpoints. skiffd does not run containers yet, so the truthful
//! answers are: the list is empty and every id is unknown (docker's 404
//! "No such container", which `docker inspect` relies on to try images next).

use std::sync::Arc;

use http::{Method, StatusCode};

use super::error::ApiError;
use super::query::percent_decode;
use super::response::{self, Response};
use super::router::Call;
use crate::daemon::Daemon;

/// A parsed container request.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// `GET /containers/json`.
    List,
    /// Any request about one container.
    One(String),
}

/// Parse a container request.
pub fn parse(method: &Method, path: &str) -> Result<Action, ApiError> {
    let rest = path
        .trim_start_matches("/containers")
        .trim_start_matches('/');
    match (method, rest) {
        (&Method::GET, "json") => Ok(Action::List),
        (_, "") | (_, "create") | (_, "prune") => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "containers are not supported by this engine yet",
        )),
        (_, rest) => Ok(Action::One(percent_decode(
            rest.split('/').next().unwrap_or_default(),
        ))),
    }
}

/// Handle a container request.
pub async fn handle(_daemon: &Arc<Daemon>, call: &Call) -> Result<Response, ApiError> {
    match parse(&call.method, &call.path)? {
        Action::List => Ok(response::json(StatusCode::OK, &serde_json::json!([]))),
        Action::One(id) => Err(ApiError::not_found(format!("No such container: {id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_container_routes() {
        assert_eq!(
            parse(&Method::GET, "/containers/json").expect("list"),
            Action::List
        );
        assert_eq!(
            parse(&Method::GET, "/containers/busybox/json").expect("one"),
            Action::One("busybox".into())
        );
        assert_eq!(
            parse(&Method::POST, "/containers/create")
                .expect_err("create")
                .status,
            StatusCode::NOT_IMPLEMENTED
        );
    }
}
