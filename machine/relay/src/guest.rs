//! The guest's half: every stream the host opens is one fresh connection to
//! the engine's Unix socket.

use std::future::poll_fn;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

use crate::error::RelayError;
use crate::handshake;
use crate::pipe::relay;
use crate::port_guest::{GuestPorts, serve_port, serve_publications};
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
    serve_with_ports(port, engine_socket, GuestPorts::default()).await
}

/// [`serve`], with the ports published in the guest: the host's
/// publication stream is told `ports.table`'s contents and changes, and
/// each forwarded connection is relayed to its port in the guest
/// ([`crate::ports`]).
pub async fn serve_with_ports<P>(
    port: P,
    engine_socket: &Path,
    ports: GuestPorts,
) -> Result<(), RelayError>
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
                tokio::spawn(handle_stream(stream.compat(), engine, ports.clone()));
            }
            Some(Err(err)) => return Err(RelayError::from(err)),
            None => return Ok(()),
        }
    }
}

/// First bytes of the streams that are not relayed to the engine.
const MAGICS: [&[u8]; 3] = [
    crate::shell::MAGIC,
    crate::ports::PORT_MAGIC,
    crate::ports::PORTS_MAGIC,
];

/// Whether `first` can still become (or is) one of [`MAGICS`].
fn may_be_special(first: &[u8]) -> bool {
    MAGICS.iter().any(|magic| {
        let m = first.len().min(magic.len());
        first[..m] == magic[..m]
    })
}

/// One stream from the host: relayed to a fresh engine connection, unless
/// its first line asks for a shell ([`crate::shell`]), a forwarded port or
/// the publication stream ([`crate::ports`]).
async fn handle_stream<S>(mut stream: S, engine_path: PathBuf, ports: GuestPorts)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut first = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut eof = false;
    // A forwarded port's stream arrives with its line (the host writes it
    // with the stream's opening): answered without dialling the engine.
    if let Ok(read) = tokio::time::timeout(std::time::Duration::ZERO, stream.read(&mut buf)).await {
        match read {
            Ok(0) => eof = true,
            Ok(n) => first.extend_from_slice(&buf[..n]),
            Err(_) => return,
        }
    }
    if first.starts_with(crate::ports::PORT_MAGIC) {
        if let Some(end) = first.iter().position(|&b| b == b'\n') {
            let rest = first.split_off(end + 1);
            let line = &first[..end];
            let stream = crate::prefixed::Prefixed::new(rest, stream);
            serve_port(line, stream, ports.redirect).await;
            return;
        }
    }
    let engine = match tokio::net::UnixStream::connect(&engine_path).await {
        Ok(socket) => Some(socket),
        Err(err) => {
            tracing::debug!("connecting to {}: {err}", engine_path.display());
            None
        }
    };
    // The client's first bytes decide, unless the engine speaks first.
    let special_line = loop {
        if eof || !may_be_special(&first) || first.len() > 64 * 1024 {
            break None;
        }
        if let Some(end) = first.iter().position(|&b| b == b'\n') {
            break Some(end);
        }
        let engine_speaks = async {
            match &engine {
                Some(socket) => socket.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) => eof = true,
                Ok(n) => first.extend_from_slice(&buf[..n]),
                Err(_) => return,
            },
            _ = engine_speaks => break None,
        }
    };
    match (special_line, engine) {
        (Some(end), engine) if first.starts_with(crate::ports::PORTS_MAGIC) => {
            drop(engine);
            let rest = first.split_off(end + 1);
            serve_publications(crate::prefixed::Prefixed::new(rest, stream), ports.table).await;
        }
        (Some(end), engine) if first.starts_with(crate::ports::PORT_MAGIC) => {
            drop(engine);
            let rest = first.split_off(end + 1);
            let line = &first[..end];
            let stream = crate::prefixed::Prefixed::new(rest, stream);
            serve_port(line, stream, ports.redirect).await;
        }
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
