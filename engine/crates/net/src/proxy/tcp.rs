//! TCP forwarding: one backend connection per accepted client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::ActiveGuard;

/// Accepts until `stop` fires (or its sender is dropped); then every
/// forwarded connection is aborted with the `JoinSet`.
pub(super) async fn run(
    listener: TcpListener,
    container: SocketAddr,
    active: Arc<AtomicUsize>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, _peer)) => {
                    let guard = ActiveGuard::new(&active);
                    conns.spawn(async move {
                        let _guard = guard;
                        forward(client, container).await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep listening.
                    tracing::warn!(error = %e, "port proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Each direction's copy buffer: 32 KiB, as docker-proxy's `io.Copy`.
/// tokio's default (8 KiB) costs a read and a write per 8 KiB; a larger
/// one would cost every open connection (two buffers each) memory.
const BUFFER: usize = 32 * 1024;

/// Copies both ways; an EOF from one side becomes a write shutdown on the
/// other, and the other direction goes on until it ends too.
async fn forward(mut client: TcpStream, container: SocketAddr) {
    let mut backend = match TcpStream::connect(container).await {
        Ok(backend) => backend,
        Err(e) => {
            tracing::debug!(%container, error = %e, "port proxy: cannot reach the container");
            return;
        }
    };
    if let Err(e) =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut backend, BUFFER, BUFFER).await
    {
        tracing::debug!(%container, error = %e, "port proxy: connection ended with an error");
    }
}
