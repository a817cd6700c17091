//! Errors of the container service, worded as docker words them. Failures
//! of the runtime keep their cause as `source()`; `Display` is the message
//! docker clients print.

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
    /// The container's networking (networks, addresses, published ports).
    #[error(transparent)]
    Network(Box<crate::networks::NetworkError>),
    /// A shim refused or failed a request, or could not be reached.
    #[error("{0}")]
    Shim(#[from] skiff_shim::Error),
    /// A shim request failed, in the context of an operation.
    #[error("{context}: {source}")]
    ShimOf {
        /// What was being done (names the container).
        context: String,
        /// The shim's error.
        #[source]
        source: skiff_shim::Error,
    },
    /// The shim could not create or start the container's process;
    /// `message` is docker's wording (which the CLI maps to exit codes).
    #[error("{message}")]
    StartFailed {
        /// docker's message.
        message: String,
        /// The shim's error.
        #[source]
        source: skiff_shim::Error,
    },
    /// No `skiff-shim` binary to run containers with.
    #[error("skiff-shim not found next to skiffd or on PATH")]
    ShimNotFound,
    /// A file or directory of the container could not be written or read.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A system call on the container's filesystem failed (mounting or
    /// unmounting it, entering it).
    #[error("{context}: {source}")]
    Sys {
        /// What was being done, naming the path.
        context: String,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// An OCI runtime spec (process, capabilities) could not be built.
    #[error("{0}")]
    Spec(#[from] oci_spec::OciSpecError),
    /// A blocking task of the service panicked or was cancelled.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    /// The runtime failed in a way with no underlying error (a cgroup that
    /// stays busy, `ps` output without a PID column, a missing image).
    #[error("{0}")]
    Runtime(String),
    /// The record store failed.
    #[error("{0}")]
    Store(String),
    /// A mount of the container is invalid (dockerd's parse messages).
    #[error(transparent)]
    Mount(#[from] crate::mounts::MountError),
    /// A volume of the container could not be created, found or mounted.
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
}

impl From<crate::networks::NetworkError> for ContainerError {
    fn from(e: crate::networks::NetworkError) -> Self {
        Self::Network(Box::new(e))
    }
}

impl ContainerError {
    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Ambiguous(_) | Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Image(e) => e.kind(),
            Self::Network(e) => e.kind(),
            Self::Mount(e) => e.kind(),
            Self::Volume(e) => e.kind(),
            Self::Shim(_)
            | Self::ShimOf { .. }
            | Self::StartFailed { .. }
            | Self::ShimNotFound
            | Self::Io { .. }
            | Self::Sys { .. }
            | Self::Spec(_)
            | Self::Task(_)
            | Self::Runtime(_)
            | Self::Store(_) => ErrorKind::Internal,
        }
    }

    /// An [`ContainerError::Io`] error: `context` names what was done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn runtime_errors_keep_their_source_and_message() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = ContainerError::io("writing /x", io);
        assert_eq!(e.to_string(), "writing /x: permission denied");
        assert!(e.source().is_some());
        assert_eq!(e.kind(), ErrorKind::Internal);
        let shim = skiff_shim::Error::Shim {
            kind: skiff_shim::protocol::ErrorKind::Conflict,
            message: "container c1 is not running".into(),
        };
        let e = ContainerError::ShimOf {
            context: "container c1".into(),
            source: shim,
        };
        assert_eq!(e.to_string(), "container c1: container c1 is not running");
        assert!(e.source().is_some());
    }
}
