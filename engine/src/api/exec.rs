//! Exec endpoints: `/exec/{id}/start`, `/exec/{id}/json`, `/exec/{id}/resize`
//! (`POST /containers/{id}/exec` creates them). Being written.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::error::ApiError;
use super::response::Response;
use super::router::Call;
use crate::daemon::Daemon;

/// Handle an exec request.
pub async fn handle(_daemon: &Arc<Daemon>, _call: &Call, _body: Incoming, _upgrade: Option<OnUpgrade>) -> Result<Response, ApiError> {
    Err(ApiError::new(http::StatusCode::NOT_IMPLEMENTED, "exec is not supported by this engine yet"))
}
