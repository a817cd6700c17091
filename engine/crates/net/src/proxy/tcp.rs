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

/// Each direction's copy buffer when splicing is not possible: 32 KiB, as
/// docker-proxy's `io.Copy` without splice. tokio's default (8 KiB) costs a
/// read and a write per 8 KiB; a larger one would cost every open
/// connection (two buffers each) memory.
const BUFFER: usize = 32 * 1024;

/// Copies both ways; an EOF from one side becomes a write shutdown on the
/// other, and the other direction goes on until it ends too. The bytes move
/// with `splice(2)` (see [`super::splice`]); a buffered copy is the fallback
/// when the pipes cannot be made.
async fn forward(mut client: TcpStream, container: SocketAddr) {
    let mut backend = match TcpStream::connect(container).await {
        Ok(backend) => backend,
        Err(e) => {
            tracing::debug!(%container, error = %e, "port proxy: cannot reach the container");
            return;
        }
    };
    // Small request/response exchanges gain from not waiting for more data.
    let _ = backend.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let result = match super::splice::copy_bidirectional(&client, &backend).await {
        Err(e)
            if e.raw_os_error() == Some(nix::libc::EMFILE)
                || e.raw_os_error() == Some(nix::libc::ENFILE) =>
        {
            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut backend, BUFFER, BUFFER)
                .await
        }
        other => other,
    };
    if let Err(e) = result {
        tracing::debug!(%container, error = %e, "port proxy: connection ended with an error");
    }
}
