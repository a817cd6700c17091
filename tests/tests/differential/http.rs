//! One HTTP/1.1 exchange on a Unix socket, any method, any headers, with a
//! time limit: an endpoint that should answer and close but hangs is a
//! finding, not a stuck test.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use skiff_e2e::util;

/// What came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Status code (0 when the response could not be parsed).
    pub status: u16,
    /// Header (lower-case name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// True when the peer had not closed the connection by the deadline
    /// (the body is what arrived until then).
    pub timed_out: bool,
}

impl Exchange {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes the characters of a query string that are not allowed
/// raw (`{`, `"`, `[`, space, …), so the case table can show JSON filters
/// as they are.
pub fn encode_query(path: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let mut out = format!("{base}?");
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~=&%:/,+!".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends one request (`Connection: close`) and reads until the peer closes
/// or `timeout` passes.
pub fn send(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Exchange> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    let mut has_type = false;
    for (name, value) in headers {
        has_type |= name.eq_ignore_ascii_case("content-type");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() && !has_type {
        head.push_str("Content-Type: application/json\r\n");
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // A peer may answer (and close) before reading the whole body, as
    // dockerd does when it refuses a body: its answer is still read.
    if let Err(err) = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
    {
        if !matches!(
            err.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ) {
            return Err(err);
        }
    }
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                timed_out = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    let parsed = util::parse_response(&raw, &socket.display().to_string());
    Ok(match parsed {
        Ok(resp) => Exchange {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
            timed_out,
        },
        // A truncated chunked body (timed out mid-stream): keep the bytes.
        Err(_) => Exchange {
            status: status_of(&raw),
            headers: Vec::new(),
            body: raw,
            timed_out,
        },
    })
}

/// The status code of a raw response head, 0 when there is none.
fn status_of(raw: &[u8]) -> u16 {
    String::from_utf8_lossy(raw.get(..raw.len().min(32)).unwrap_or_default())
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
