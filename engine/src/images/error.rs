//! Errors of the image service, worded as docker words them.

use skiff_oci::reference::ReferenceError;
use skiff_store::content::ContentError;
use skiff_store::images::ImageStoreError;
use skiff_store::snapshots::SnapshotError;
use skiff_store::unpack::UnpackError;

use crate::errdefs::ErrorKind;

/// An image service error. `Display` is the message docker clients print.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image by that name or id.
    #[error("No such image: {0}")]
    NotFound(String),
    /// A malformed request (bad reference, platform, archive…).
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation conflicts with the store's state.
    #[error("{0}")]
    Conflict(String),
    /// The registry has no such manifest or repository.
    #[error("{0}")]
    RegistryNotFound(String),
    /// The registry refused our credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The registry could not be reached or misbehaved.
    #[error("{0}")]
    Registry(String),
    /// A layer failed verification or unpacking.
    #[error("{0}")]
    Layer(String),
    /// A store failed.
    #[error("{0}")]
    Store(String),
}

impl ImageError {
    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::RegistryNotFound(_) => ErrorKind::NotFound,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Unauthorized(_) => ErrorKind::Unauthorized,
            Self::Registry(_) => ErrorKind::Unavailable,
            Self::Layer(_) | Self::Store(_) => ErrorKind::Internal,
        }
    }
}

impl From<ReferenceError> for ImageError {
    fn from(e: ReferenceError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}

impl From<ContentError> for ImageError {
    fn from(e: ContentError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<SnapshotError> for ImageError {
    fn from(e: SnapshotError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<ImageStoreError> for ImageError {
    fn from(e: ImageStoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<UnpackError> for ImageError {
    /// A malformed or hostile tar is the client's (or the image's) error, a
    /// 400; a failing disk is a 500.
    fn from(e: UnpackError) -> Self {
        if e.is_bad_input() {
            Self::InvalidArgument(e.to_string())
        } else {
            Self::Layer(e.to_string())
        }
    }
}

impl From<tokio::task::JoinError> for ImageError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Store(format!("worker task failed: {e}"))
    }
}
