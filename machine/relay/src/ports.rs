//! Published ports over the relay: the wire format both halves share.
//!
//! Two more stream kinds beside the engine streams and [`crate::shell`]
//! (the host opens every stream; its first line says what it is):
//!
//! ```text
//! SKIFF-PORTS/1\n                          the publication stream (one per session)
//! SKIFF-PORT/1 <tcp|udp> <guest ip> <port>\n   one forwarded connection / UDP flow
//! ```
//!
//! On the publication stream the guest writes one line per change of the
//! set of ports published in the VM, [`PortEvent`]s:
//! `publish <tcp|udp> <host ip|-> <port>\n` and
//! `unpublish <tcp|udp> <host ip|-> <port>\n` (`-` = no address given). A
//! new session starts from an empty set, so the guest first publishes every
//! port already published. The host never writes on it.
//!
//! A `SKIFF-PORT/1 tcp` stream is relayed byte for byte to a fresh TCP
//! connection to `<guest ip>:<port>` in the guest, half-close included
//! (EOF on one side is `shutdown(SHUT_WR)` on the other). A
//! `SKIFF-PORT/1 udp` stream carries the datagrams of one host client
//! (one source address) both ways, each framed `[len u16 BE][data]`; either
//! side ends the flow after [`UDP_IDLE`] without a datagram.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

/// The first line of the publication stream, newline included.
pub const PORTS_MAGIC: &[u8] = b"SKIFF-PORTS/1\n";
/// The first bytes of a forwarded connection's stream.
pub const PORT_MAGIC: &[u8] = b"SKIFF-PORT/1 ";
/// A UDP flow without a datagram either way for this long is closed.
pub const UDP_IDLE: Duration = Duration::from_secs(60);
/// Longest datagram carried (the u16 length prefix).
pub const MAX_DATAGRAM: usize = u16::MAX as usize;
/// Longest line of the publication stream the host reads, newline not
/// counted (`unpublish udp <IPv6 address> 65535` is under 60 bytes): a
/// guest cannot make the host buffer an endless line.
pub const MAX_EVENT_LINE: usize = 256;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as docker writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// Parses `tcp` / `udp`.
    pub fn parse(text: &str) -> Option<Proto> {
        match text {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One port published in the VM: where skiffd's proxy listens in the guest
/// (`HostIp`/`HostPort` of docker's `NetworkSettings.Ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Publication {
    /// TCP or UDP.
    pub proto: Proto,
    /// The address published on; `None` when none was given (all addresses).
    pub host_ip: Option<IpAddr>,
    /// The published port.
    pub port: u16,
}

impl Publication {
    /// Where the guest connects for this publication: the published address,
    /// or the guest's loopback of the same family for a wildcard / none.
    pub fn guest_target(&self) -> SocketAddr {
        let ip = match self.host_ip {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(IpAddr::V6(ip)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            Some(ip) => ip,
        };
        SocketAddr::new(ip, self.port)
    }

    /// Whether the host forwards it on its loopback, as Docker Desktop does:
    /// no address, a wildcard (`0.0.0.0`, `::`) or a loopback address.
    pub fn forwarded_on_loopback(&self) -> bool {
        match self.host_ip {
            None => true,
            Some(ip) => ip.is_unspecified() || ip.is_loopback(),
        }
    }

    fn words(&self) -> String {
        let ip = self
            .host_ip
            .map_or_else(|| "-".to_string(), |ip| ip.to_string());
        format!("{} {} {}", self.proto, ip, self.port)
    }

    fn parse_words<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<Publication> {
        let proto = Proto::parse(words.next()?)?;
        let host_ip = match words.next()? {
            "-" => None,
            ip => Some(ip.parse().ok()?),
        };
        let port = words.next()?.parse().ok()?;
        if words.next().is_some() {
            return None;
        }
        Some(Publication {
            proto,
            host_ip,
            port,
        })
    }
}

impl fmt::Display for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}/{}", self.port, self.proto),
            Some(ip) => write!(f, "{ip}:{}/{}", self.port, self.proto),
            None => write!(f, "{}/{}", self.port, self.proto),
        }
    }
}

/// A line of the publication stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortEvent {
    /// The port is now published in the guest.
    Publish(Publication),
    /// The port is no longer published.
    Unpublish(Publication),
}

impl PortEvent {
    /// The line, newline included.
    pub fn encode(&self) -> String {
        match self {
            PortEvent::Publish(p) => format!("publish {}\n", p.words()),
            PortEvent::Unpublish(p) => format!("unpublish {}\n", p.words()),
        }
    }

    /// Parses a line (without its newline); `None` for anything else.
    pub fn decode(line: &str) -> Option<PortEvent> {
        let mut words = line.split(' ');
        match words.next()? {
            "publish" => Publication::parse_words(words).map(PortEvent::Publish),
            "unpublish" => Publication::parse_words(words).map(PortEvent::Unpublish),
            _ => None,
        }
    }
}

/// Reads the next line of the publication stream, without its newline (a
/// last line cut by EOF counts too); `None` at EOF. A line longer than
/// [`MAX_EVENT_LINE`] or not UTF-8 is an `InvalidData` error, after reading
/// at most [`MAX_EVENT_LINE`] + 1 bytes of it.
pub async fn read_event_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let limit = MAX_EVENT_LINE as u64 + 1;
    let n = (&mut *r).take(limit).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > MAX_EVENT_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a port publication line longer than {MAX_EVENT_LINE} bytes"),
        ));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The first line of a forwarded connection's stream: what to reach in the
/// guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    /// TCP connection or UDP flow.
    pub proto: Proto,
    /// The guest address to connect to.
    pub target: SocketAddr,
}

impl PortRequest {
    /// The request line, newline included.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "SKIFF-PORT/1 {} {} {}\n",
            self.proto,
            self.target.ip(),
            self.target.port()
        )
        .into_bytes()
    }

    /// Parses a request line (without its newline).
    pub fn decode(line: &[u8]) -> Option<PortRequest> {
        let rest = std::str::from_utf8(line.strip_prefix(PORT_MAGIC)?).ok()?;
        let mut words = rest.split(' ');
        let proto = Proto::parse(words.next()?)?;
        let ip: IpAddr = words.next()?.parse().ok()?;
        let port = words.next()?.parse().ok()?;
        if words.next().is_some() {
            return None;
        }
        Some(PortRequest {
            proto,
            target: SocketAddr::new(ip, port),
        })
    }
}

/// Writes one datagram frame (`[len u16 BE][data]`). Longer datagrams than
/// [`MAX_DATAGRAM`] cannot exist on UDP.
pub async fn write_datagram<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(data.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "datagram too long"))?;
    let mut frame = Vec::with_capacity(2 + data.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(data);
    w.write_all(&frame).await?;
    w.flush().await
}

/// Reads one datagram frame into `buf` (at least [`MAX_DATAGRAM`] bytes);
/// `None` at a clean EOF between frames.
pub async fn read_datagram<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> std::io::Result<Option<usize>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut len[1..]).await?;
    let len = usize::from(u16::from_be_bytes(len));
    let buf = buf.get_mut(..len).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "datagram buffer too small",
        )
    })?;
    r.read_exact(buf).await?;
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn event_lines_are_bounded() {
        let mut ok = &b"publish tcp - 80\nunpublish tcp - 80\r\nlast"[..];
        assert_eq!(
            read_event_line(&mut ok).await.expect("line").as_deref(),
            Some("publish tcp - 80")
        );
        assert_eq!(
            read_event_line(&mut ok).await.expect("line").as_deref(),
            Some("unpublish tcp - 80")
        );
        assert_eq!(
            read_event_line(&mut ok).await.expect("line").as_deref(),
            Some("last")
        );
        assert_eq!(read_event_line(&mut ok).await.expect("eof"), None);

        // A hostile guest's endless line: refused after the limit, not
        // buffered to the end.
        let endless = vec![b'x'; 10 * MAX_EVENT_LINE];
        let mut r = &endless[..];
        let err = read_event_line(&mut r).await.expect_err("too long");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(r.len(), endless.len() - MAX_EVENT_LINE - 1);

        let mut bad = &b"publish \xff\n"[..];
        assert!(read_event_line(&mut bad).await.is_err());
    }

    fn publication(proto: Proto, ip: Option<&str>, port: u16) -> Publication {
        Publication {
            proto,
            host_ip: ip.map(|ip| ip.parse().expect("ip")),
            port,
        }
    }

    #[test]
    fn events_round_trip() {
        for p in [
            publication(Proto::Tcp, Some("0.0.0.0"), 8080),
            publication(Proto::Udp, None, 53),
            publication(Proto::Tcp, Some("::"), 1),
            publication(Proto::Udp, Some("10.0.2.15"), 65535),
        ] {
            for event in [PortEvent::Publish(p), PortEvent::Unpublish(p)] {
                let line = event.encode();
                assert!(line.ends_with('\n'), "{line}");
                assert_eq!(PortEvent::decode(line.trim_end()), Some(event), "{line}");
            }
        }
        assert_eq!(
            PortEvent::Publish(publication(Proto::Tcp, None, 80)).encode(),
            "publish tcp - 80\n"
        );
    }

    #[test]
    fn malformed_events_are_refused() {
        for line in [
            "",
            "publish",
            "publish sctp - 80",
            "publish tcp - 65536",
            "publish tcp nowhere 80",
            "publish tcp - 80 extra",
            "open tcp - 80",
        ] {
            assert_eq!(PortEvent::decode(line), None, "{line}");
        }
    }

    #[test]
    fn requests_round_trip() {
        for target in ["127.0.0.1:8080", "[::1]:53", "10.0.2.15:1"] {
            for proto in [Proto::Tcp, Proto::Udp] {
                let request = PortRequest {
                    proto,
                    target: target.parse().expect("addr"),
                };
                let line = request.encode();
                assert!(line.starts_with(PORT_MAGIC));
                let parsed = PortRequest::decode(&line[..line.len() - 1]);
                assert_eq!(parsed, Some(request));
            }
        }
        assert_eq!(PortRequest::decode(b"SKIFF-PORT/1 tcp 127.0.0.1"), None);
        assert_eq!(PortRequest::decode(b"SKIFF-SHELL/1 pty 1 1 -"), None);
    }

    #[test]
    fn wildcards_reach_the_guest_loopback_and_the_host_loopback() {
        let any = publication(Proto::Tcp, Some("0.0.0.0"), 80);
        assert_eq!(any.guest_target(), "127.0.0.1:80".parse().expect("addr"));
        assert!(any.forwarded_on_loopback());
        let none = publication(Proto::Udp, None, 53);
        assert_eq!(none.guest_target(), "127.0.0.1:53".parse().expect("addr"));
        let any6 = publication(Proto::Tcp, Some("::"), 80);
        assert_eq!(any6.guest_target(), "[::1]:80".parse().expect("addr"));
        let lo = publication(Proto::Tcp, Some("127.0.0.1"), 80);
        assert!(lo.forwarded_on_loopback());
        let other = publication(Proto::Tcp, Some("10.0.2.15"), 80);
        assert_eq!(other.guest_target(), "10.0.2.15:80".parse().expect("addr"));
        assert!(!other.forwarded_on_loopback());
        assert_eq!(other.to_string(), "10.0.2.15:80/tcp");
        assert_eq!(any6.to_string(), "[::]:80/tcp");
    }

    #[tokio::test]
    async fn datagrams_keep_their_boundaries() {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let big = vec![7u8; MAX_DATAGRAM];
        write_datagram(&mut a, b"one").await.expect("write");
        write_datagram(&mut a, b"").await.expect("write");
        write_datagram(&mut a, &big).await.expect("write");
        assert!(
            write_datagram(&mut a, &[0u8; MAX_DATAGRAM + 1])
                .await
                .is_err()
        );
        drop(a);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        assert_eq!(
            read_datagram(&mut b, &mut buf).await.expect("read"),
            Some(3)
        );
        assert_eq!(&buf[..3], b"one");
        assert_eq!(
            read_datagram(&mut b, &mut buf).await.expect("read"),
            Some(0)
        );
        let n = read_datagram(&mut b, &mut buf).await.expect("read");
        assert_eq!(n, Some(MAX_DATAGRAM));
        assert_eq!(buf, big);
        assert_eq!(read_datagram(&mut b, &mut buf).await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_truncated_datagram_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[0, 5, b'a', b'b']).await.expect("write");
        drop(a);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        assert!(read_datagram(&mut b, &mut buf).await.is_err());
    }
}
