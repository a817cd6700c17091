//! Errors of the container service, worded as docker words them.

use crate::errdefs::ErrorKind;
use crate::images::ImageError;

/// A container service error. `Display` is the message docker clients print.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No container by that name or id.
    #[error("No such container: {0}")]
    NotFound(String),
    /// An id prefix matching several containers.
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),
    /// A malformed request.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request conflicts with the container's state or name.
    #[error("{0}")]
    Conflict(String),
    /// The image could not be found or used.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The runtime (shim, mounts, cgroups) failed.
    #[error("{0}")]
    Runtime(String),
    /// The record store failed.
    #[error("{0}")]
    Store(String),
}

impl ContainerError {
    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Ambiguous(_) | Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Image(e) => e.kind(),
            Self::Runtime(_) | Self::Store(_) => ErrorKind::Internal,
        }
    }
}
