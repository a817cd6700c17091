//! API errors in Docker's JSON shape, `{"message": "..."}`, with docker's
//! status codes. Services report an error *kind*; this is the only place that
//! turns kinds into HTTP statuses.

use http::StatusCode;

use skiff_engine::containers::ContainerError;
use skiff_engine::containers::archive::ArchiveError;
use skiff_engine::containers::exec::ExecError;
use skiff_engine::errdefs::ErrorKind;
use skiff_engine::images::ImageError;
use skiff_engine::networks::NetworkError;
use skiff_engine::volumes::VolumeError;

use crate::response::{self, Response};

/// An error answered to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The message docker clients print after "Error response from daemon: ".
    pub message: String,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: something that should not fail did (a task that panicked).
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }

    /// The response carrying this error.
    pub fn into_response(self) -> Response {
        response::json(self.status, &serde_json::json!({ "message": self.message }))
    }
}

/// The HTTP status for a service error kind (moby's errdefs mapping).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A service error: its message, with the status of its kind.
macro_rules! from_service_error {
    ($($error:ty),+) => {$(
        impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                Self::new(status_of(e.kind()), e.to_string())
            }
        }
    )+};
}

from_service_error!(
    ImageError,
    ContainerError,
    ExecError,
    ArchiveError,
    NetworkError,
    VolumeError
);

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn errors_have_dockers_json_shape() {
        let resp = ApiError::not_found("No such image: nope:latest").into_response();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"message": "No such image: nope:latest"})
        );
    }
}
