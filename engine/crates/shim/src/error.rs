//! Errors of the client side of the shim (what skiffd sees).

use std::path::PathBuf;

use crate::protocol::ErrorKind;

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A file could not be read, written, created or removed: the one form of
/// this error for the client and the seccomp filter store.
#[derive(Debug, thiserror::Error)]
#[error("failed to {op} {path}: {source}")]
pub struct FileError {
    /// What was being done ("read", "write", "create", "remove").
    pub op: &'static str,
    /// Which file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// For `map_err`: the error of doing `op` on `path`.
    pub fn on(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self { op, path, source }
    }
}

/// Everything that can go wrong talking to (or starting) a shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `skiff-shim` binary could not be run at all.
    #[error("failed to run shim binary {path}: {source}")]
    SpawnBinary {
        /// The binary that was run.
        path: PathBuf,
        /// Why it could not be run.
        #[source]
        source: std::io::Error,
    },
    /// `skiff-shim start` ran but the container could not be created/started.
    #[error("shim for container {id} failed to start: {message}")]
    StartFailed {
        /// Container id.
        id: String,
        /// The shim's own message (libcontainer's error chain).
        message: String,
    },
    /// The control socket did not accept a connection.
    #[error("cannot connect to shim socket {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading from or writing to the control socket failed.
    #[error("i/o error on shim socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The shim answered something this client does not understand.
    #[error("protocol error on shim socket {path}: {message}")]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// An attach stream carried a frame this client refuses.
    #[error("protocol error on shim socket {path}: {source}")]
    Frame {
        /// The socket path.
        path: PathBuf,
        /// What was wrong with the frame.
        #[source]
        source: crate::protocol::FrameError,
    },
    /// The shim refused or failed the request.
    #[error("{message}")]
    Shim {
        /// Category, for mapping to an HTTP status.
        kind: ErrorKind,
        /// The shim's message (names the container id).
        message: String,
    },
    /// A file (bundle, pid file, exit status) could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A file held JSON that does not parse.
    #[error("invalid json in {path}: {source}")]
    Json {
        /// Which file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An OCI spec could not be built from a [`crate::bundle::BundleConfig`].
    #[error("invalid runtime spec for container {id}: {message}")]
    Spec {
        /// Container id.
        id: String,
        /// What was wrong.
        message: String,
    },
    /// A container or exec id has characters the runtime refuses.
    #[error("invalid id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: &'static str,
    },
}

impl Error {
    /// The protocol error kind, when the shim itself answered with an error.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Shim { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}
