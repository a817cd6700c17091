//! skiffd's HTTP layer, the Docker Engine API: accepts connections, parses
//! each request into a typed action of one endpoint group, calls the
//! services of crate `skiff-engine` through their public methods, and
//! streams the answer. HTTP only: no service sees HTTP, nothing here keeps
//! state of its own or reaches a store; the crate graph enforces it
//! (`skiff-engine` has no HTTP dependency and keeps its stores to itself;
//! this crate does not depend on `skiff-store`).
//!
//! [`router`] strips the version prefix and picks the endpoint group by the
//! first path segment. One module per group — [`system`], [`images`],
//! [`distribution`], [`events`], [`exec`], and the [`containers`] folder
//! (one parse for every `/containers/…` route, a file per part) — each
//! with a `parse` step (a [`call::Call`] → a typed action) and its tests.
//! What the groups share lives once: [`call`], [`query`], [`body`],
//! [`response`], [`error`] (service error kinds → statuses), [`stdcopy`]
//! (docker's multiplexed stream), [`hijack`] (the `101 Upgrade: tcp`
//! answer). The shim's attach streams are read with `skiff_shim::framed`
//! (the one decoder of the shim's frames). [`listener`] binds the API
//! socket; the `skiffd` binary (`main.rs`) parses the flags.

#![warn(missing_docs)]

pub mod body;
pub mod build;
pub mod call;
pub mod containers;
pub mod detach;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
pub mod hijack;
pub mod images;
pub mod listener;
pub mod networks;
pub mod query;
pub mod response;
pub mod router;
pub mod stdcopy;
pub mod system;
pub mod version;
pub mod volumes;
pub mod zero;

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use skiff_engine::daemon::Daemon;

/// How long a client has to send a request's head (request line and
/// headers), counted from the first byte it may send — also the longest a
/// kept-alive connection may stay idle between requests. A slow-drip
/// client (slowloris) or an idle one is disconnected then. Streams that
/// last (a `logs -f` or `/events` answer, a hijacked attach or exec) are
/// not affected: the clock only runs while a request head is awaited.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Largest request head (request line and headers): 256 KiB, room for the
/// largest `X-Registry-Auth`/`X-Registry-Config`; beyond, hyper answers 431.
pub const MAX_HEADER_SIZE: usize = 256 << 10;

/// Serve the API on an accepted stream until the client closes it (or is
/// silent for [`HEADER_READ_TIMEOUT`] where a request is due).
pub async fn serve_connection<S>(daemon: Arc<Daemon>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let daemon = daemon.clone();
        async move { Ok::<_, std::convert::Infallible>(router::route(&daemon, req).await) }
    });
    if let Err(e) = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_SIZE)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await
    {
        tracing::debug!("connection closed with error: {e}");
    }
}

/// Accept connections with `accept` forever, serving each on its own task.
async fn accept_loop<S, F, Fut>(daemon: Arc<Daemon>, mut accept: F)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<S>>,
{
    loop {
        match accept().await {
            Ok(stream) => {
                tokio::spawn(serve_connection(daemon.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accept connections on a Unix listener forever.
pub async fn serve_unix(daemon: Arc<Daemon>, listener: tokio::net::UnixListener) {
    let listener = &listener;
    accept_loop(
        daemon,
        || async move { listener.accept().await.map(|(s, _)| s) },
    )
    .await
}

/// Accept connections on a TCP listener forever (only when `-H tcp://` asked for one).
pub async fn serve_tcp(daemon: Arc<Daemon>, listener: tokio::net::TcpListener) {
    let listener = &listener;
    accept_loop(
        daemon,
        || async move { listener.accept().await.map(|(s, _)| s) },
    )
    .await
}
