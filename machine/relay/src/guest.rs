//! The guest's half: every stream the host opens is one fresh connection to
//! the engine's Unix socket.

use std::future::poll_fn;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

use crate::error::RelayError;
use crate::handshake;
use crate::pipe::relay;
use crate::session;

/// Serves one relay session on `port`: answers the host's handshake, then
/// connects each stream the host opens to `engine_socket` and relays bytes
/// both ways with half-close. A stream whose engine connection fails is
/// reset (the host client sees its connection closed).
///
/// Returns `Ok` when the port reaches EOF — before the handshake too: a
/// virtio-serial port reads EOF while no host is connected, so callers
/// reopen the port after a short pause and call again (see
/// [`serve_device`] on Linux, which does exactly that).
pub async fn serve<P>(port: P, engine_socket: &Path) -> Result<(), RelayError>
where
    P: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(port) = handshake::guest(port).await? else {
        return Ok(());
    };
    let port = session::buffered(port);
    tracing::debug!("relay session started");
    let mut conn = yamux::Connection::new(port.compat(), session::config(), yamux::Mode::Server);
    let engine: PathBuf = engine_socket.to_path_buf();
    loop {
        match poll_fn(|cx| conn.poll_next_inbound(cx)).await {
            Some(Ok(stream)) => {
                let engine = engine.clone();
                tokio::spawn(handle_stream(stream.compat(), engine));
            }
            Some(Err(err)) => return Err(RelayError::from(err)),
            None => return Ok(()),
        }
    }
}

/// One stream from the host: relayed to a fresh engine connection, unless
/// its first line asks for a shell ([`crate::shell`]).
async fn handle_stream<S>(mut stream: S, engine_path: PathBuf)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let engine = match tokio::net::UnixStream::connect(&engine_path).await {
        Ok(socket) => Some(socket),
        Err(err) => {
            tracing::debug!("connecting to {}: {err}", engine_path.display());
            None
        }
    };
    // The client's first bytes decide, unless the engine speaks first.
    let mut first = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let shell_line = loop {
        let engine_speaks = async {
            match &engine {
                Some(socket) => socket.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = match read {
                    Ok(n) => n,
                    Err(_) => return,
                };
                first.extend_from_slice(&buf[..n]);
                let m = first.len().min(crate::shell::MAGIC.len());
                if n == 0 || first[..m] != crate::shell::MAGIC[..m] {
                    break None;
                }
                if let Some(end) = first.iter().position(|&b| b == b'\n') {
                    break Some(end);
                }
                if first.len() > 64 * 1024 {
                    break None;
                }
            }
            _ = engine_speaks => break None,
        }
    };
    match (shell_line, engine) {
        #[cfg(target_os = "linux")]
        (Some(end), _) => {
            let rest = first.split_off(end + 1);
            let line = &first[..end];
            crate::shell_guest::serve(line, crate::prefixed::Prefixed::new(rest, stream)).await;
        }
        (_, Some(mut socket)) => {
            if socket.write_all(&first).await.is_ok() {
                relay(socket, stream).await;
            }
        }
        // No engine: dropping the stream unanswered resets it.
        (_, None) => {}
    }
}

/// Serves the virtio-serial port at `device` forever: opens it, runs
/// [`serve`], and when the session ends (the host went away, or none is
/// connected yet) reopens it after a short pause. Errors are logged.
#[cfg(target_os = "linux")]
pub async fn serve_device(device: &Path, engine_socket: &Path) -> std::convert::Infallible {
    /// Pause between sessions: a port with no host reads EOF at once.
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(200);
    loop {
        match crate::serial::open(device) {
            Ok(port) => {
                if let Err(err) = serve(port, engine_socket).await {
                    tracing::warn!("relay session on {}: {err}", device.display());
                }
            }
            Err(err) => tracing::warn!("{err}"),
        }
        tokio::time::sleep(PAUSE).await;
    }
}
