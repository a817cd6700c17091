//! Building responses: JSON documents, empty bodies, and streamed bodies
//! (docker's newline-delimited JSON message streams, tar archives).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;
/// A response.
pub type Response = http::Response<Body>;

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON document.
pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_type(status, "application/json", full(bytes)),
        Err(e) => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            full(serde_json::json!({ "message": format!("encoding response: {e}") }).to_string()),
        ),
    }
}

/// A plain-text body.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    with_type(status, "text/plain; charset=utf-8", full(body))
}

/// No body.
pub fn empty(status: StatusCode) -> Response {
    let mut resp = http::Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *resp.status_mut() = status;
    resp
}

/// A streamed body of raw chunks with the given content type.
pub fn stream<S>(content_type: &'static str, chunks: S) -> Response
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
{
    let body = BodyExt::boxed(StreamBody::new(chunks.map(|r| r.map(Frame::data))));
    with_type(StatusCode::OK, content_type, body)
}

/// A docker JSON message stream: one JSON document per line.
pub fn json_lines<S, T>(items: S) -> Response
where
    S: Stream<Item = T> + Send + Sync + 'static,
    T: serde::Serialize,
{
    stream(
        "application/json",
        items.map(|item| {
            let mut line = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            line.push(b'\n');
            Ok(Bytes::from(line))
        }),
    )
}

/// The first event of a streaming operation running as `task`, or its
/// result when it ended first (then with whatever event it left): so an
/// error before any progress can still be the HTTP answer, as docker
/// answers pulls and builds. `what` names the task in a join error.
pub async fn first_event<E, T>(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<E>,
    task: &mut tokio::task::JoinHandle<T>,
    what: &str,
) -> Result<(Option<E>, Option<T>), crate::error::ApiError> {
    let mut finished = None;
    let first = tokio::select! {
        ev = events.recv() => ev,
        res = &mut *task => {
            finished = Some(res.map_err(|e| {
                crate::error::ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{what} task failed: {e}"),
                )
            })?);
            events.recv().await
        }
    };
    Ok((first, finished))
}
