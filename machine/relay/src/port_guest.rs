//! The guest's side of [`crate::ports`]: the publication stream, and each
//! forwarded connection relayed to the port skiffd's proxy listens on.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::pipe::relay;
use crate::port_table::PortTable;
use crate::ports::{self, PortEvent, PortRequest, Proto, Publication};

/// Maps the address a forwarded connection asks for to the address dialled.
pub type Redirect = Arc<dyn Fn(SocketAddr) -> SocketAddr + Send + Sync>;

/// What the guest half needs for published ports.
#[derive(Clone, Default)]
pub struct GuestPorts {
    /// The ports published in the guest, sent to the host.
    pub table: PortTable,
    /// Rewrites the address dialled (tests run host and "guest" in one
    /// network namespace, so the published port and the one the guest
    /// serves cannot be the same); `None` dials the address asked for.
    pub redirect: Option<Redirect>,
}

impl fmt::Debug for GuestPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestPorts")
            .field("table", &self.table)
            .field("redirect", &self.redirect.is_some())
            .finish()
    }
}

/// Serves the publication stream: every port published now, then each
/// change, until the host closes the stream or it fails.
pub(crate) async fn serve_publications<S>(stream: S, table: PortTable)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let mut watch = table.watch();
    let mut sent: BTreeSet<Publication> = BTreeSet::new();
    let mut next = watch.current();
    let mut buf = [0u8; 64];
    loop {
        let mut lines = String::new();
        for gone in sent.difference(&next) {
            lines.push_str(&PortEvent::Unpublish(*gone).encode());
        }
        for new in next.difference(&sent) {
            lines.push_str(&PortEvent::Publish(*new).encode());
        }
        if !lines.is_empty() {
            if let Err(err) = write_flush(&mut w, lines.as_bytes()).await {
                tracing::debug!("publication stream: {err}");
                return;
            }
        }
        sent = next;
        tokio::select! {
            changed = watch.changed() => next = changed,
            // The host writes nothing: EOF or an error ends the stream.
            _ = r.read(&mut buf) => return,
        }
    }
}

async fn write_flush<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

/// Serves one forwarded connection whose request line (without the
/// newline) is `line`. A malformed request or a target that cannot be
/// reached drops the stream unanswered (the host's client sees its
/// connection closed).
pub(crate) async fn serve_port<S>(line: &[u8], stream: S, redirect: Option<Redirect>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(request) = PortRequest::decode(line) else {
        tracing::debug!("malformed port request {:?}", String::from_utf8_lossy(line));
        return;
    };
    let target = match &redirect {
        Some(redirect) => redirect(request.target),
        None => request.target,
    };
    match request.proto {
        Proto::Tcp => match tokio::net::TcpStream::connect(target).await {
            Ok(socket) => {
                let _ = socket.set_nodelay(true);
                relay(socket, stream).await;
            }
            Err(err) => tracing::debug!("forwarded connection to {target}: {err}"),
        },
        Proto::Udp => {
            if let Err(err) = udp_flow(target, stream).await {
                tracing::debug!("forwarded UDP flow to {target}: {err}");
            }
        }
    }
}

/// One UDP flow: datagram frames from the stream are sent to `target` from
/// a socket of this flow's own, and its answers go back as frames; ends at
/// the stream's EOF or after [`ports::UDP_IDLE`] without a datagram.
async fn udp_flow<S>(target: SocketAddr, stream: S) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let local: IpAddr = match target {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(local, 0)).await?;
    socket.connect(target).await?;
    let (mut r, mut w) = tokio::io::split(stream);
    let mut from_host = vec![0u8; ports::MAX_DATAGRAM];
    let mut from_target = vec![0u8; ports::MAX_DATAGRAM];
    loop {
        tokio::select! {
            frame = ports::read_datagram(&mut r, &mut from_host) => match frame? {
                Some(n) => {
                    // A refused datagram (nothing listens yet) is not fatal.
                    if let Err(err) = socket.send(&from_host[..n]).await {
                        tracing::debug!("UDP to {target}: {err}");
                    }
                }
                None => return Ok(()),
            },
            received = socket.recv(&mut from_target) => match received {
                Ok(n) => ports::write_datagram(&mut w, &from_target[..n]).await?,
                Err(err) => tracing::debug!("UDP from {target}: {err}"),
            },
            _ = tokio::time::sleep(ports::UDP_IDLE) => {
                let _ = w.shutdown().await;
                return Ok(());
            }
        }
    }
}
