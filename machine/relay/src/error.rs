//! The relay's errors.

use std::io;

/// Why a relay session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// An I/O operation on the port or a socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The yamux session failed (a malformed frame, the port closed with
    /// frames in flight, ...).
    #[error("relay session: {0}")]
    Session(#[from] yamux::ConnectionError),
}

impl RelayError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        RelayError::Io {
            context: context.into(),
            source,
        }
    }
}
