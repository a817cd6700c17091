//! The one error type of this crate, and the translation of a registry's
//! error response into it.
//!
//! Registry error bodies (`{"errors":[{"code","message","detail"}]}`) are
//! kept structured in [`RegistryError::Status`]; its `Display` is exactly
//! what docker prints for them (`manifest unknown: manifest unknown`), so
//! callers can build docker's messages around it
//! (`manifest for busybox:nope not found: <error>`).

use std::error::Error as _;
use std::fmt;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use skiff_oci::Digest;

use crate::challenge;

/// How many bytes of an error body are read and kept.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// One entry of a registry error body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorEntry {
    /// The error code (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DENIED`, …).
    pub code: String,
    /// The human readable message.
    #[serde(default)]
    pub message: String,
    /// Free-form detail, kept verbatim.
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

impl ErrorEntry {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            detail: None,
        }
    }
}

impl fmt::Display for ErrorEntry {
    /// docker's `errcode.Error`: `<code lowercased, _ as space>: <message>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.code.replace('_', " ").to_lowercase(),
            self.message
        )
    }
}

/// Coarse classification of a [`RegistryError`], for mapping to docker's
/// messages and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The manifest, blob or repository does not exist (404,
    /// `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `BLOB_UNKNOWN`).
    NotFound,
    /// Authentication failed or access was refused (401, 403,
    /// `UNAUTHORIZED`, `DENIED`). Docker Hub answers this way for
    /// repositories that do not exist, too.
    Unauthorized,
    /// Rate limited (429, `TOOMANYREQUESTS`).
    TooManyRequests,
    /// The registry could not be reached or the connection broke
    /// (DNS, connect, TLS, timeouts, truncated bodies).
    Transport,
    /// Content did not match its digest, or was larger than allowed.
    Integrity,
    /// Anything else (5xx, malformed answers, bad configuration).
    Other,
}

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry (or its token server) answered with an error status.
    /// `errors` holds the registry's structured errors in order; bodies
    /// without them are mapped the way docker's distribution client does
    /// (401 → `UNAUTHORIZED`, 403 → `DENIED`, 429 → `TOOMANYREQUESTS`,
    /// other 4xx → `UNKNOWN`, each with the body text as message; 5xx →
    /// no entries). Displays like docker: the single entry, or
    /// `errors:\n<entry>\n…` for several, or
    /// `received unexpected HTTP status: <status>`.
    #[error("{}", status_message(*status, errors))]
    Status {
        /// The URL that answered.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The registry's errors, first one first.
        errors: Vec<ErrorEntry>,
    },
    /// The request could not be sent or no answer arrived: DNS, connect,
    /// TLS, timeouts. Displays like Go: `Get "<url>": <cause>`.
    #[error("{method} \"{url}\": {}", cause_chain(error))]
    Transport {
        /// `Get`, `Post`, … (Go's capitalisation, as docker prints it).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The underlying error.
        error: reqwest::Error,
    },
    /// The connection failed while a response body was being read.
    #[error("reading response from \"{url}\": {}", cause_chain(error))]
    Body {
        /// The URL being read.
        url: String,
        /// The underlying error.
        error: reqwest::Error,
    },
    /// Content fetched by digest hashed to something else.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The URL that served the content.
        url: String,
        /// The digest that was asked for.
        expected: Digest,
        /// The digest of what was received.
        actual: Digest,
    },
    /// A response was larger than the caller's limit.
    #[error("response from {url} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The URL being read.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The registry or token server answered 2xx with something unusable.
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse {
        /// The URL that answered.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A configured or supplied URL / host is unusable.
    #[error("invalid registry address {address:?}: {reason}")]
    InvalidAddress {
        /// The offending address.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// `docker login`: the registry still refused the credentials (dockerd's
    /// words).
    #[error(
        "login attempt to {url} failed with status: {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )]
    LoginRefused {
        /// The `/v2/` URL pinged.
        url: String,
        /// Its answer.
        status: StatusCode,
    },
    /// `docker login`: the token server refused the credentials; shown as
    /// Go shows the failed ping (`Get "<url>": <error>`).
    #[error("Get \"{url}\": {source}")]
    LoginToken {
        /// The `/v2/` URL pinged.
        url: String,
        /// The token request's error.
        #[source]
        source: Box<RegistryError>,
    },
    /// An `X-Registry-Auth` header or auth config body could not be decoded.
    #[error("invalid X-Registry-Auth header: {0}")]
    InvalidAuthConfig(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("creating the registry http client: {}", cause_chain(.0))]
    Client(reqwest::Error),
}

impl RegistryError {
    /// The HTTP status, when the registry answered with one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } | Self::LoginRefused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's structured errors (empty unless [`Self::Status`]).
    pub fn errors(&self) -> &[ErrorEntry] {
        match self {
            Self::Status { errors, .. } => errors,
            _ => &[],
        }
    }

    /// The URL involved, when there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Status { url, .. }
            | Self::Transport { url, .. }
            | Self::Body { url, .. }
            | Self::DigestMismatch { url, .. }
            | Self::TooLarge { url, .. }
            | Self::InvalidResponse { url, .. }
            | Self::LoginRefused { url, .. }
            | Self::LoginToken { url, .. } => Some(url),
            Self::InvalidAddress { .. } | Self::InvalidAuthConfig(_) | Self::Client(_) => None,
        }
    }

    /// Classify the error. For [`Self::Status`] the *first* structured
    /// error decides (as docker's `translatePullError` does), then the
    /// status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Status { status, errors, .. } => {
                let by_code = errors.first().and_then(|e| match e.code.as_str() {
                    "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN" => {
                        Some(ErrorKind::NotFound)
                    }
                    "UNAUTHORIZED" | "DENIED" => Some(ErrorKind::Unauthorized),
                    "TOOMANYREQUESTS" => Some(ErrorKind::TooManyRequests),
                    _ => None,
                });
                by_code.unwrap_or(match *status {
                    StatusCode::NOT_FOUND => ErrorKind::NotFound,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Unauthorized,
                    StatusCode::TOO_MANY_REQUESTS => ErrorKind::TooManyRequests,
                    _ => ErrorKind::Other,
                })
            }
            Self::Transport { .. } | Self::Body { .. } => ErrorKind::Transport,
            Self::DigestMismatch { .. } | Self::TooLarge { .. } => ErrorKind::Integrity,
            Self::LoginRefused { status, .. } => match *status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Unauthorized,
                StatusCode::NOT_FOUND => ErrorKind::NotFound,
                _ => ErrorKind::Other,
            },
            Self::LoginToken { source, .. } => source.kind(),
            Self::InvalidResponse { .. }
            | Self::InvalidAddress { .. }
            | Self::InvalidAuthConfig(_)
            | Self::Client(_) => ErrorKind::Other,
        }
    }

    /// [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// [`ErrorKind::Unauthorized`].
    pub fn is_unauthorized(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }

    /// [`ErrorKind::Transport`]: the registry was not reached (or the
    /// connection broke), so another endpoint may do better.
    pub fn is_transport(&self) -> bool {
        self.kind() == ErrorKind::Transport
    }

    /// True when a registry actually answered (anything but a transport
    /// failure); such errors are more meaningful than transport failures of
    /// other endpoints.
    pub(crate) fn is_answer(&self) -> bool {
        !self.is_transport()
    }

    pub(crate) fn transport(method: &'static str, url: &str, error: reqwest::Error) -> Self {
        Self::Transport {
            method,
            url: url.to_owned(),
            error,
        }
    }

    pub(crate) fn body(url: &str, error: reqwest::Error) -> Self {
        Self::Body {
            url: url.to_owned(),
            error,
        }
    }

    pub(crate) fn invalid_response(url: &str, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }

    /// Turn a non-success response into an error, reading (a bounded part
    /// of) its body.
    pub(crate) async fn from_response(url: &str, mut response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                // A broken error body still leaves the status to report.
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        Self::from_parts(url, status, &headers, &body)
    }

    /// docker's `HandleErrorResponse`, on an already read body.
    pub(crate) fn from_parts(
        url: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut errors = Vec::new();
        if status.is_client_error() {
            errors.extend(oauth_error(headers));
            errors.extend(body_errors(status, body));
        }
        Self::Status {
            url: url.to_owned(),
            status,
            errors,
        }
    }
}

/// RFC 6750 errors carried in a Bearer challenge (`error="insufficient_scope"`).
fn oauth_error(headers: &HeaderMap) -> Option<ErrorEntry> {
    challenge::parse_headers(headers)
        .into_iter()
        .filter(|c| c.scheme == "bearer")
        .find_map(|c| {
            let (code, default) = match c.param("error")? {
                "invalid_token" => ("UNAUTHORIZED", "authentication required"),
                "insufficient_scope" => ("DENIED", "requested access to the resource is denied"),
                _ => return None,
            };
            let message = c
                .param("error_description")
                .filter(|d| !d.is_empty())
                .unwrap_or(default);
            Some(ErrorEntry::new(code, message))
        })
}

/// The structured errors of a 4xx body, or one synthesised from it.
fn body_errors(status: StatusCode, body: &[u8]) -> Vec<ErrorEntry> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
        #[serde(default)]
        details: Option<String>,
    }
    let text = String::from_utf8_lossy(body).trim().to_owned();
    let message = match serde_json::from_slice::<Body>(body) {
        Ok(parsed) if !parsed.errors.is_empty() => return parsed.errors,
        Ok(Body {
            details: Some(details),
            ..
        }) if !details.is_empty() => details,
        Ok(_) => String::new(),
        Err(_) => text,
    };
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or_default().to_lowercase()
    } else {
        message
    };
    let code = match status {
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "DENIED",
        StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
        _ => "UNKNOWN",
    };
    vec![ErrorEntry::new(code, message)]
}

fn status_message(status: StatusCode, errors: &[ErrorEntry]) -> String {
    match errors {
        [] => format!("received unexpected HTTP status: {status}"),
        [one] => one.to_string(),
        many => {
            let mut s = String::from("errors:\n");
            for e in many {
                s.push_str(&e.to_string());
                s.push('\n');
            }
            s
        }
    }
}

/// The causes of a reqwest error, without reqwest's own
/// "error sending request for url (…)" wrapper (the URL is printed already).
fn cause_chain(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() && !parts.iter().any(|p| p.contains("timed out")) {
        parts.push("operation timed out".to_owned());
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderValue, WWW_AUTHENTICATE};

    use super::*;

    fn status_error(status: u16, headers: &HeaderMap, body: &str) -> RegistryError {
        let status = StatusCode::from_u16(status).expect("status");
        RegistryError::from_parts(
            "http://r/v2/x/manifests/y",
            status,
            headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn formats_registry_errors_like_docker() {
        let none = HeaderMap::new();
        let cases: &[(u16, &str, &str, ErrorKind)] = &[
            (
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#,
                "manifest unknown: manifest unknown",
                ErrorKind::NotFound,
            ),
            (
                404,
                r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
                "name unknown: repository name not known to registry",
                ErrorKind::NotFound,
            ),
            (
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
                "unauthorized: authentication required",
                ErrorKind::Unauthorized,
            ),
            (
                403,
                r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
                "denied: requested access to the resource is denied",
                ErrorKind::Unauthorized,
            ),
            (
                429,
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#,
                "toomanyrequests: You have reached your pull rate limit.",
                ErrorKind::TooManyRequests,
            ),
            (
                401,
                r#"{"details":"incorrect username or password"}"#,
                "unauthorized: incorrect username or password",
                ErrorKind::Unauthorized,
            ),
            (403, "go away", "denied: go away", ErrorKind::Unauthorized),
            (404, "", "unknown: not found", ErrorKind::NotFound),
            (400, "{}", "unknown: bad request", ErrorKind::Other),
            (
                500,
                "boom",
                "received unexpected HTTP status: 500 Internal Server Error",
                ErrorKind::Other,
            ),
            (
                400,
                r#"{"errors":[{"code":"TAG_INVALID","message":"a"},{"code":"BLOB_UNKNOWN","message":"b"}]}"#,
                "errors:\ntag invalid: a\nblob unknown: b\n",
                ErrorKind::Other,
            ),
        ];
        for (status, body, message, kind) in cases {
            let e = status_error(*status, &none, body);
            assert_eq!(e.to_string(), *message, "{status} {body}");
            assert_eq!(e.kind(), *kind, "{status} {body}");
            assert_eq!(e.status().map(|s| s.as_u16()), Some(*status));
            assert_eq!(e.url(), Some("http://r/v2/x/manifests/y"));
        }
        let e = status_error(
            404,
            &none,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"m","detail":{"Tag":"nope"}}]}"#,
        );
        assert_eq!(
            e.errors()[0].detail,
            Some(serde_json::json!({"Tag": "nope"}))
        );
        assert!(e.is_not_found() && !e.is_unauthorized() && !e.is_transport());
    }

    #[test]
    fn bearer_error_in_challenge_comes_first() {
        // What Docker Hub answers for a repository that does not exist.
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nope:pull",error="insufficient_scope""#,
            ),
        );
        let e = status_error(
            401,
            &headers,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        assert_eq!(
            e.errors()[0].to_string(),
            "denied: requested access to the resource is denied"
        );
        assert_eq!(
            e.errors()[1].to_string(),
            "unauthorized: authentication required"
        );
        assert!(e.is_unauthorized());

        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="x",error="invalid_token",error_description="token expired""#,
            ),
        );
        let e = status_error(401, &headers, "");
        assert_eq!(e.errors()[0].to_string(), "unauthorized: token expired");
    }

    #[test]
    fn other_variants_classify() {
        let d = Digest::of(b"a");
        let mismatch = RegistryError::DigestMismatch {
            url: "u".into(),
            expected: d.clone(),
            actual: Digest::of(b"b"),
        };
        assert_eq!(mismatch.kind(), ErrorKind::Integrity);
        assert!(
            mismatch
                .to_string()
                .starts_with("digest mismatch for u: expected sha256:")
        );
        assert_eq!(
            RegistryError::TooLarge {
                url: "u".into(),
                limit: 3
            }
            .kind(),
            ErrorKind::Integrity
        );
        assert_eq!(
            RegistryError::invalid_response("u", "x").kind(),
            ErrorKind::Other
        );
        assert!(
            RegistryError::InvalidAuthConfig("bad".into())
                .url()
                .is_none()
        );
    }
}
