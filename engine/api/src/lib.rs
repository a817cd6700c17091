//! The HTTP layer: accepts connections, parses each request into a typed
//! action for one endpoint group, calls the services, and streams the answer.
//! No service sees HTTP; nothing here keeps state of its own.
//!
//! One file per endpoint group ([`system`], [`images`], [`containers`]), each
//! with a `parse` step (request → typed action) and tests.

pub mod attach_ws;
pub mod body;
pub mod changes;
pub mod container_fs;
pub mod container_stats;
pub mod containers;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
pub mod listener;
pub mod query;
pub mod response;
pub mod router;
pub mod system;
pub mod version;

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use skiff_engine::daemon::Daemon;

/// Serve the API on an accepted stream until the client closes it.
pub async fn serve_connection<S>(daemon: Arc<Daemon>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let daemon = daemon.clone();
        async move { Ok::<_, std::convert::Infallible>(router::route(&daemon, req).await) }
    });
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await
    {
        tracing::debug!("connection closed with error: {e}");
    }
}

/// Accept connections on a Unix listener forever.
pub async fn serve_unix(daemon: Arc<Daemon>, listener: tokio::net::UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(daemon.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accept connections on a TCP listener forever (only when `-H tcp://` asked for one).
pub async fn serve_tcp(daemon: Arc<Daemon>, listener: tokio::net::TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(daemon.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
