//! The harness's error type.
//!
//! Every message names the path, address, program or subject involved, so
//! that a test failing on `expect` or on one of the panicking wrappers
//! ([`crate::Skiffd::start`], [`crate::Registry::start`], [`crate::seed`])
//! says what went wrong where.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;

/// Result of the harness's fallible functions.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// What went wrong in the harness.
///
/// `Debug` shows the same text as `Display` (log tails and command output
/// included, unescaped), so that `.expect(…)` in a test prints a readable
/// message rather than a struct dump.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation and the path, address or program it was on, e.g.
        /// `creating /tmp/skiff-e2e-x/data`.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A peer answered with something that is not a well-formed HTTP
    /// response.
    #[error("bad HTTP response from {peer}: {detail}")]
    Http {
        /// The address or socket path of the peer.
        peer: String,
        /// What is wrong with the response.
        detail: String,
    },

    /// A command ran to completion but failed.
    #[error("{command} failed ({status}):\n{output}")]
    Command {
        /// The program and its (non-secret) arguments.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed (stdout, then stderr).
        output: String,
    },

    /// A daemon (skiffd, docker-registry) exited or did not become ready.
    #[error("{program} {problem}; log tail:\n{log}")]
    NotReady {
        /// The program, e.g. `skiffd` or the registry binary's path.
        program: String,
        /// What happened, e.g. `exited during startup (exit status: 1)`.
        problem: String,
        /// The tail of its log.
        log: String,
    },

    /// The skiffd binary does not exist.
    #[error(
        "skiffd binary not found at {}: build it first (`cargo build -p skiffd`) or set SKIFFD_BIN",
        .0.display()
    )]
    SkiffdBinaryMissing(PathBuf),

    /// The per-test socket path does not fit in a `sockaddr_un`.
    #[error(
        "socket path {} is too long for a Unix socket; set SKIFF_TEST_TMPDIR to a shorter directory",
        .0.display()
    )]
    SocketPathTooLong(PathBuf),

    /// The token server could not be set up or could not sign a token.
    #[error("{what}: {detail}")]
    Token {
        /// The step that failed, e.g. `signing a token for skiff`.
        what: String,
        /// The underlying error (rcgen, ring, the clock).
        detail: String,
    },

    /// The fixture build failed earlier in this process; its outcome is
    /// cached, so this is that first error again.
    #[error(transparent)]
    Fixtures(Arc<HarnessError>),
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl HarnessError {
    /// An [`HarnessError::Token`] from a step description and any error.
    pub(crate) fn token(what: impl Into<String>, detail: impl fmt::Display) -> HarnessError {
        HarnessError::Token {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// An [`HarnessError::Http`] for `peer`.
    pub(crate) fn http(peer: impl Into<String>, detail: impl Into<String>) -> HarnessError {
        HarnessError::Http {
            peer: peer.into(),
            detail: detail.into(),
        }
    }
}

/// Attaches what was being done to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error in [`HarnessError::Io`] with `what()` as its
    /// description.
    fn io_context<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn io_context<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|source| HarnessError::Io {
            what: what(),
            source,
        })
    }
}
