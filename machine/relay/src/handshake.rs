//! The line handshake that opens a relay session.
//!
//! ```text
//! host → guest   \nSKIFF-RELAY/1 HELLO <nonce>\n     (every second until answered)
//! guest → host   \nSKIFF-RELAY/1 OK <nonce>\n        (once per nonce)
//! host → guest   \nSKIFF-RELAY/1 START <nonce>\n     (then yamux, both ways)
//! ```
//!
//! Each side skips every other line and byte before the one it waits for,
//! so frames an earlier session left in the pipe (a virtio-serial port
//! keeps them while nobody reads) never reach the new session's yamux
//! decoder. The host repeats its HELLO because a guest still attached to an
//! old session may swallow the first one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::RelayError;
use crate::prefixed::Prefixed;

/// Protocol name and version at the start of every handshake line.
pub const MAGIC: &str = "SKIFF-RELAY/1";
/// How often the host repeats its HELLO.
const RETRANSMIT: Duration = Duration::from_secs(1);
/// Longest handshake line; anything longer without a newline is junk.
const MAX_LINE: usize = 128;
/// Read size during the handshake.
const CHUNK: usize = 16 * 1024;

/// The host's half: greets the guest until it answers, then starts the
/// session. Returns the port, with any bytes read past the guest's answer
/// still to be read. Waits as long as the guest takes to boot; fails when
/// the port closes first.
pub async fn host<P: AsyncRead + AsyncWrite + Unpin>(
    mut port: P,
) -> Result<Prefixed<P>, RelayError> {
    let nonce = nonce();
    let hello = format!("\n{MAGIC} HELLO {nonce}\n");
    let ok = format!("{MAGIC} OK {nonce}");
    let start = format!("\n{MAGIC} START {nonce}\n");
    let mut scanner = LineScanner::default();
    let mut tick = tokio::time::interval(RETRANSMIT);
    let mut buf = vec![0u8; CHUNK];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                port.write_all(hello.as_bytes())
                    .await
                    .map_err(|e| RelayError::io("sending the relay handshake", e))?;
                port.flush().await.map_err(|e| RelayError::io("sending the relay handshake", e))?;
            }
            read = port.read(&mut buf) => {
                let n = read.map_err(|e| RelayError::io("reading the relay handshake", e))?;
                if n == 0 {
                    return Err(RelayError::io(
                        "reading the relay handshake",
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the port closed before the guest answered",
                        ),
                    ));
                }
                scanner.push(&buf[..n]);
                while let Some(line) = scanner.next_line() {
                    if line == ok.as_bytes() {
                        port.write_all(start.as_bytes())
                            .await
                            .map_err(|e| RelayError::io("sending the relay handshake", e))?;
                        port.flush().await.map_err(|e| RelayError::io("sending the relay handshake", e))?;
                        return Ok(Prefixed::new(scanner.into_rest(), port));
                    }
                }
            }
        }
    }
}

/// The guest's half: answers the host's greetings until it says START.
/// Returns the port with any bytes read past START still to be read, or
/// `None` when the port reached EOF first (on a virtio-serial port: no host
/// is connected).
pub async fn guest<P: AsyncRead + AsyncWrite + Unpin>(
    mut port: P,
) -> Result<Option<Prefixed<P>>, RelayError> {
    let hello = format!("{MAGIC} HELLO ");
    let start = format!("{MAGIC} START ");
    let mut acked: Option<Vec<u8>> = None;
    let mut scanner = LineScanner::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = port
            .read(&mut buf)
            .await
            .map_err(|e| RelayError::io("reading the relay handshake", e))?;
        if n == 0 {
            return Ok(None);
        }
        scanner.push(&buf[..n]);
        while let Some(line) = scanner.next_line() {
            if let Some(nonce) = line.strip_prefix(hello.as_bytes()) {
                if valid_nonce(nonce) && acked.as_deref() != Some(nonce) {
                    let mut answer = format!("\n{MAGIC} OK ").into_bytes();
                    answer.extend_from_slice(nonce);
                    answer.push(b'\n');
                    port.write_all(&answer)
                        .await
                        .map_err(|e| RelayError::io("answering the relay handshake", e))?;
                    port.flush()
                        .await
                        .map_err(|e| RelayError::io("answering the relay handshake", e))?;
                    acked = Some(nonce.to_vec());
                }
            } else if let Some(nonce) = line.strip_prefix(start.as_bytes()) {
                if acked.as_deref() == Some(nonce) {
                    return Ok(Some(Prefixed::new(scanner.into_rest(), port)));
                }
            }
        }
    }
}

/// 16 hex digits, different for every session of this process and likely
/// of any other.
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = now
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}")
}

fn valid_nonce(nonce: &[u8]) -> bool {
    nonce.len() == 16 && nonce.iter().all(u8::is_ascii_hexdigit)
}

/// Splits the bytes read so far into lines, dropping junk that cannot be
/// part of a handshake line.
#[derive(Debug, Default)]
struct LineScanner {
    buf: Vec<u8>,
}

impl LineScanner {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn next_line(&mut self) -> Option<Vec<u8>> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = self.buf[..end].to_vec();
                self.buf.drain(..=end);
                Some(line)
            }
            None => {
                if self.buf.len() > MAX_LINE {
                    // No newline: whatever this is, it is no handshake line
                    // (they all start after a newline and are short).
                    self.buf.clear();
                }
                None
            }
        }
    }

    fn into_rest(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_splits_lines_and_drops_long_junk() {
        let mut s = LineScanner::default();
        s.push(b"junk\nabc");
        assert_eq!(s.next_line().as_deref(), Some(&b"junk"[..]));
        assert_eq!(s.next_line(), None);
        s.push(b"def\nrest");
        assert_eq!(s.next_line().as_deref(), Some(&b"abcdef"[..]));
        assert_eq!(s.next_line(), None);
        assert_eq!(s.into_rest(), b"rest");

        let mut s = LineScanner::default();
        s.push(&[0u8; 1000]);
        assert_eq!(s.next_line(), None);
        assert!(s.buf.is_empty());
    }

    #[test]
    fn nonces_are_hex_and_differ() {
        let a = nonce();
        let b = nonce();
        assert!(valid_nonce(a.as_bytes()), "{a}");
        assert_ne!(a, b);
        assert!(!valid_nonce(b"xyz"));
    }

    #[tokio::test]
    async fn both_halves_agree_over_junk_and_keep_the_bytes_after() {
        let (mut h, mut g) = tokio::io::duplex(1 << 16);
        h.write_all(b"old frames\x00\x01\nSKIFF-RELAY/1 START 0123456789abcdef\n")
            .await
            .expect("junk");
        // Junk an earlier session left behind, in both directions.
        g.write_all(b"\x00\x00stale yamux frame\nSKIFF-RELAY/1 OK 0123456789abcdef\n")
            .await
            .expect("junk");
        let guest = tokio::spawn(async move {
            let mut port = guest_port_with_junk(g).await;
            let mut got = [0u8; 5];
            port.read_exact(&mut got).await.expect("read after start");
            port.write_all(b"world").await.expect("write after start");
            got
        });
        let mut port = host(h).await.expect("host handshake");
        port.write_all(b"hello").await.expect("write");
        let mut got = [0u8; 5];
        port.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"world");
        assert_eq!(&guest.await.expect("guest"), b"hello");
    }

    async fn guest_port_with_junk(g: tokio::io::DuplexStream) -> Prefixed<tokio::io::DuplexStream> {
        // The junk written above travels host-ward; the guest sees the
        // host's HELLO only.
        guest(g).await.expect("guest handshake").expect("not eof")
    }

    #[tokio::test]
    async fn guest_returns_none_at_eof() {
        let (h, g) = tokio::io::duplex(1024);
        drop(h);
        assert!(guest(g).await.expect("no error").is_none());
    }

    #[tokio::test]
    async fn host_fails_when_the_port_closes() {
        let (h, g) = tokio::io::duplex(1024);
        drop(g);
        let err = host(h).await.expect_err("must fail");
        assert!(err.to_string().contains("handshake"), "{err}");
    }
}
