//! Forwarding a query the server does not answer to the upstream resolvers.
//!
//! The query's bytes go out unchanged (its id, flags, EDNS and any record
//! type), over the transport the client used (UDP or TCP), to each upstream
//! in turn, each with the timeout. A reply is taken when its id matches;
//! the next upstream is tried on a timeout, a network error, an unparsable
//! reply, SERVFAIL, REFUSED, other errors, or a non-authoritative NXDOMAIN
//! (dockerd's order, RFC 8020); a truncated UDP reply is passed on (the
//! client retries over TCP). When every upstream failed, the last NXDOMAIN
//! seen is the answer, else none (the server sends SERVFAIL).
//!
//! Why by hand on hickory-proto rather than `hickory-resolver`: a resolver
//! builds its own queries (its id, flags, EDNS, search and ndots rules of
//! the host), caches, and reports a non-answer as an error rather than the
//! message; the container's resolver needs the upstream's message itself
//! (rcode, authority section, every record type) — a transparent forwarder,
//! as dockerd's is (`miekg/dns` `Conn.WriteMsg`/`ReadMsg`). That is one
//! datagram or one length-prefixed TCP exchange per upstream, below.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use super::nsworker::NsWorker;

/// An upstream resolver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// Its address (port 53 for resolv.conf nameservers).
    pub addr: SocketAddr,
    /// Reached from the daemon's (host's) network namespace rather than the
    /// container's: dockerd's `HostLoopback`, set for a loopback nameserver
    /// of the host's resolv.conf (systemd-resolved's 127.0.0.53), which
    /// exists only there. `--dns` servers and the others are reached from
    /// the container's namespace, so its routes (and `--internal`) apply.
    pub from_host: bool,
}

impl Upstream {
    /// Port 53 of `ip`.
    pub fn new(ip: std::net::IpAddr, from_host: bool) -> Self {
        Upstream {
            addr: SocketAddr::new(ip, 53),
            from_host,
        }
    }
}

/// Transport of the client's query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Datagrams.
    Udp,
    /// Length-prefixed messages on a stream.
    Tcp,
}

/// Where sockets to upstreams are made.
pub(crate) struct Sockets<'a> {
    /// The container's namespace (`None`: the server runs in the daemon's).
    pub container: Option<&'a NsWorker>,
}

impl Sockets<'_> {
    async fn udp(&self, up: &Upstream) -> io::Result<UdpSocket> {
        let any = unspecified(up.addr);
        let std = match (self.container, up.from_host) {
            (Some(ns), false) => ns.run(move || std::net::UdpSocket::bind(any)).await??,
            _ => std::net::UdpSocket::bind(any)?,
        };
        std.set_nonblocking(true)?;
        let sock = UdpSocket::from_std(std)?;
        sock.connect(up.addr).await?;
        Ok(sock)
    }

    async fn tcp(&self, up: &Upstream) -> io::Result<TcpStream> {
        let v4 = up.addr.is_ipv4();
        let make = move || {
            if v4 {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
        };
        let sock = match (self.container, up.from_host) {
            (Some(ns), false) => ns.run(make).await??,
            _ => make()?,
        };
        sock.connect(up.addr).await
    }
}

fn unspecified(to: SocketAddr) -> SocketAddr {
    match to {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// dockerd asks at most this many upstreams (`maxExtDNS`); the rest of a
/// longer list is ignored.
pub const MAX_UPSTREAMS: usize = 3;

/// Forwards `query` (its wire bytes, id `id`) to the first
/// [`MAX_UPSTREAMS`] of `upstreams` in turn and
/// returns the reply's bytes to pass to the client, or `None` when no
/// upstream answered usefully.
pub(crate) async fn forward(
    query: &[u8],
    id: u16,
    transport: Transport,
    upstreams: &[Upstream],
    timeout: Duration,
    sockets: &Sockets<'_>,
) -> Option<Vec<u8>> {
    let mut fallback = None;
    for up in upstreams.iter().take(MAX_UPSTREAMS) {
        let exchange = async {
            match transport {
                Transport::Udp => udp_exchange(sockets, up, query, id).await,
                Transport::Tcp => tcp_exchange(sockets, up, query, id).await,
            }
        };
        let reply = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                tracing::debug!(upstream = %up.addr, error = %e, "dns: upstream failed");
                continue;
            }
            Err(_) => {
                tracing::debug!(upstream = %up.addr, "dns: upstream timed out");
                continue;
            }
        };
        let Ok(msg) = Message::from_vec(&reply) else {
            tracing::debug!(upstream = %up.addr, "dns: unparsable upstream reply");
            continue;
        };
        match msg.metadata.response_code {
            ResponseCode::NoError => return Some(reply),
            ResponseCode::NXDomain if msg.metadata.authoritative => return Some(reply),
            ResponseCode::NXDomain => fallback = Some(reply),
            code => {
                tracing::debug!(upstream = %up.addr, %code, "dns: upstream error");
            }
        }
    }
    fallback
}

async fn udp_exchange(
    sockets: &Sockets<'_>,
    up: &Upstream,
    query: &[u8],
    id: u16,
) -> io::Result<Vec<u8>> {
    let sock = sockets.udp(up).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        // A stray datagram (a late reply to someone else) is skipped.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(
    sockets: &Sockets<'_>,
    up: &Upstream,
    query: &[u8],
    id: u16,
) -> io::Result<Vec<u8>> {
    let mut stream = sockets.tcp(up).await?;
    write_framed(&mut stream, query).await?;
    let reply = read_framed(&mut stream).await?;
    if reply.len() < 2 || u16::from_be_bytes([reply[0], reply[1]]) != id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "reply id does not match",
        ));
    }
    Ok(reply)
}

/// Reads one length-prefixed DNS message (RFC 1035 4.2.2).
pub(crate) async fn read_framed<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let len = r.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one length-prefixed DNS message.
pub(crate) async fn write_framed<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    msg: &[u8],
) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 65535 bytes"))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    w.write_all(&framed).await
}
