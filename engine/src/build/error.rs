//! The build service's one error type.

use crate::containers::ContainerError;
use crate::errdefs::ErrorKind;
use crate::images::ImageError;

/// Why a build or commit failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The request or the Dockerfile is wrong (dockerd's words).
    #[error("{0}")]
    InvalidArgument(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A `RUN` exited non-zero: dockerd's message, and the exit code the
    /// client exits with.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as dockerd prints it (`/bin/sh -c exit 3`).
        command: String,
        /// Its exit code.
        code: i64,
    },
    /// The client went away: the build stopped.
    #[error("the build was cancelled")]
    Cancelled,
    /// An image operation.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A container operation.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Reading an earlier stage's files (`COPY --from`).
    #[error(transparent)]
    Archive(#[from] crate::containers::archive::ArchiveError),
    /// The build context is not a tar skiffd can read (the client's
    /// fault: garbage, a truncated or corrupt archive).
    #[error("reading the build context: {source}")]
    BadContext {
        /// What the tar reader said.
        #[source]
        source: std::io::Error,
    },
    /// Local file work (the context, layer tars, the cache record).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An error reading the build context: the archive's fault (a tar or
    /// decompression error, which carries no OS error number), else the
    /// machine's ([`BuildError::Io`]: a full disk, …).
    pub fn context(source: std::io::Error) -> Self {
        if source.raw_os_error().is_none() {
            Self::BadContext { source }
        } else {
            Self::io("reading the build context", source)
        }
    }

    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument(_) | Self::BadContext { .. } => ErrorKind::InvalidArgument,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::RunFailed { .. } | Self::Cancelled | Self::Io { .. } => ErrorKind::Internal,
            Self::Image(e) => e.kind(),
            Self::Container(e) => e.kind(),
            Self::Archive(e) => e.kind(),
        }
    }

    /// The exit code the client should report (a failed `RUN`'s).
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<tokio::task::JoinError> for BuildError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::io("a build task", std::io::Error::other(e.to_string()))
    }
}
