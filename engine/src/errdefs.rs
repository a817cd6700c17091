//! Error kinds shared by every service, after moby's `errdefs`: a service
//! says *what kind* of failure happened; only the API layer maps a kind to an
//! HTTP status.

/// The kind of a service error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object does not exist (404).
    NotFound,
    /// The request is malformed (400).
    InvalidArgument,
    /// The request conflicts with the current state (409).
    Conflict,
    /// Credentials are missing or wrong (401).
    Unauthorized,
    /// The caller may not do this (403).
    Forbidden,
    /// A dependency is unreachable (503).
    Unavailable,
    /// Anything else (500).
    Internal,
}
