//! The one error type every command returns.
//!
//! The UI receives it as `{ "kind": "...", "message": "..." }`: `kind` is a
//! stable snake_case word the UI may branch on, `message` a sentence a
//! person understands (the `Display` text, capitalised, with a full stop).

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// What went wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No engine answers at the endpoint.
    #[error("the container engine at {endpoint} is not reachable ({reason})")]
    EngineUnreachable {
        /// The endpoint tried, e.g. `unix:///run/skiff/docker.sock`.
        endpoint: String,
        /// Why, in a few words.
        reason: String,
    },
    /// The engine does not know the container, image or reference.
    #[error("{0}")]
    NotFound(String),
    /// The engine refused because of the object's state (an image in use,
    /// a name taken, ...).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (an empty image name, an unbalanced
    /// quote in a command line, ...).
    #[error("{0}")]
    InvalidRequest(String),
    /// Any other answer of the engine.
    #[error("the engine answered {status}: {message}")]
    Engine {
        /// The HTTP status code.
        status: u16,
        /// The engine's message.
        message: String,
    },
    /// This build or this host has no machine manager.
    #[error("{0}")]
    MachineUnavailable(String),
    /// The machine manager failed.
    #[error("{0}")]
    Machine(String),
    /// Some of the operations of one request failed (a compose project's
    /// containers): each failure, named, in the message.
    #[error("{0}")]
    Partial(String),
    /// The app itself failed (an event could not be sent, ...).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable word the UI may branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::EngineUnreachable { .. } => "engine_unreachable",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::InvalidRequest(_) => "invalid_request",
            Error::Engine { .. } => "engine_error",
            Error::MachineUnavailable(_) => "machine_unavailable",
            Error::Machine(_) => "machine_error",
            Error::Partial(_) => "partial",
            Error::Internal(_) => "internal",
        }
    }

    /// True when the engine could not be talked to at all (the cached
    /// connection should be dropped).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::EngineUnreachable { .. })
    }

    /// The message shown to a person: the `Display` text as a sentence.
    pub fn sentence(&self) -> String {
        sentence(&self.to_string())
    }

    /// Maps a bollard error from a request to `endpoint`.
    pub fn from_bollard(err: bollard::errors::Error, endpoint: &str) -> Error {
        use bollard::errors::Error as B;
        match err {
            B::DockerResponseServerError {
                status_code,
                message,
            } => match status_code {
                404 => Error::NotFound(message),
                409 => Error::Conflict(message),
                400 => Error::InvalidRequest(message),
                status => Error::Engine { status, message },
            },
            B::DockerStreamError { error } => Error::Engine {
                status: 500,
                message: error,
            },
            B::JsonDataError { message, .. } => Error::Engine {
                status: 200,
                message: format!("unexpected answer: {message}"),
            },
            B::JsonSerdeError { err } => Error::Engine {
                status: 200,
                message: format!("unexpected answer: {err}"),
            },
            B::RequestTimeoutError => Error::EngineUnreachable {
                endpoint: endpoint.to_string(),
                reason: "it did not answer in time".to_string(),
            },
            B::SocketNotFoundError(path) => Error::EngineUnreachable {
                endpoint: endpoint.to_string(),
                reason: format!("there is no socket at {path}"),
            },
            other => Error::EngineUnreachable {
                endpoint: endpoint.to_string(),
                reason: root_cause(&other),
            },
        }
    }
}

/// The innermost error message of a chain ("Connection refused (os error
/// 111)" rather than "client error (Connect)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text.to_lowercase(),
    }
}

/// `text` with its first letter capitalised and a full stop at the end.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Error", 2)?;
        state.serialize_field("kind", self.kind())?;
        state.serialize_field("message", &self.sentence())?;
        state.end()
    }
}

/// What commands return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_kind_and_sentence() {
        let err = Error::EngineUnreachable {
            endpoint: "unix:///run/skiff/docker.sock".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            serde_json::to_value(&err).expect("serialize"),
            serde_json::json!({
                "kind": "engine_unreachable",
                "message": "The container engine at unix:///run/skiff/docker.sock is not reachable (connection refused)."
            })
        );
    }

    #[test]
    fn maps_engine_status_codes() {
        let server = |status_code: u16| bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: "no such container: x".into(),
        };
        assert_eq!(Error::from_bollard(server(404), "e").kind(), "not_found");
        assert_eq!(Error::from_bollard(server(409), "e").kind(), "conflict");
        assert_eq!(
            Error::from_bollard(server(400), "e").kind(),
            "invalid_request"
        );
        let err = Error::from_bollard(server(500), "e");
        assert_eq!(err.kind(), "engine_error");
        assert_eq!(
            err.sentence(),
            "The engine answered 500: no such container: x."
        );
        assert!(
            Error::from_bollard(bollard::errors::Error::RequestTimeoutError, "e").is_unreachable()
        );
    }

    #[test]
    fn sentences() {
        assert_eq!(sentence("image is in use"), "Image is in use.");
        assert_eq!(sentence("Done!"), "Done!");
        assert_eq!(sentence("  "), "");
    }
}
