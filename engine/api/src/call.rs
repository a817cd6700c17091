//! [`Call`]: a request as every endpoint group's parse step sees it.

use http::Method;

use crate::query::Query;

/// What every endpoint group's handler receives: the request line and
/// headers, the version prefix taken off the path (the body and the
/// upgrade travel separately).
#[derive(Debug)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path with the version prefix removed, e.g. `/images/busybox/json`.
    pub path: String,
    /// The query string.
    pub query: Query,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The API version the client asked for, if it used a prefix.
    pub version: Option<String>,
}

/// A [`Call`] for the endpoint groups' parse tests.
#[cfg(test)]
pub fn test_call(method: Method, path: &str, query: &str) -> Call {
    Call {
        method,
        path: path.into(),
        query: Query::parse(Some(query)),
        headers: http::HeaderMap::new(),
        version: None,
    }
}
