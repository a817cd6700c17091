//! A minimal HTTP/1.1 GET on the engine's Unix socket, for the few
//! requests init makes of skiffd itself (`/events`, `/containers/json`):
//! `Connection: close`, status 200 required, body chunked or read to EOF.

use std::io;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A response body being read.
#[derive(Debug)]
pub struct Body {
    stream: UnixStream,
    chunked: Option<Dechunk>,
    /// Body bytes read with the head.
    early: Vec<u8>,
    done: bool,
}

/// Sends `GET <path>` to the engine at `socket` and reads the response head.
/// A status other than 200 is an error naming it.
pub async fn get(socket: &Path, path: &str) -> io::Result<Body> {
    let mut stream = UnixStream::connect(socket).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: skiff\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if head.len() > MAX_HEAD {
            return Err(invalid("response head too long"));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(invalid("the engine closed the connection before answering"));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let early = head.split_off(end + 4);
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(invalid(&format!("GET {path}: {status}")));
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    Ok(Body {
        stream,
        chunked: chunked.then(Dechunk::default),
        early,
        done: false,
    })
}

impl Body {
    /// The next body bytes; `None` at the end of the body.
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if self.done {
                return Ok(None);
            }
            let raw = if self.early.is_empty() {
                let n = self.stream.read(&mut buf).await?;
                if n == 0 {
                    if self.chunked.is_some() {
                        return Err(invalid("the engine closed a chunked body early"));
                    }
                    self.done = true;
                    return Ok(None);
                }
                buf[..n].to_vec()
            } else {
                std::mem::take(&mut self.early)
            };
            let out = match &mut self.chunked {
                Some(dechunk) => {
                    let mut out = Vec::new();
                    self.done = dechunk.feed(&raw, &mut out)?;
                    out
                }
                None => raw,
            };
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// The whole (rest of the) body.
    pub async fn read_all(mut self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(bytes) = self.next().await? {
            all.extend_from_slice(&bytes);
        }
        Ok(all)
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Incremental `Transfer-Encoding: chunked` decoder.
#[derive(Debug, Default)]
struct Dechunk {
    pending: Vec<u8>,
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Done,
}

impl Dechunk {
    /// Decodes `input` into `out`; `true` once the last chunk was read.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<bool> {
        self.pending.extend_from_slice(input);
        loop {
            match self.state {
                State::Size => {
                    let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") else {
                        if self.pending.len() > 1024 {
                            return Err(invalid("chunk size line too long"));
                        }
                        return Ok(false);
                    };
                    let line = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                    self.pending.drain(..end + 2);
                    let hex = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| invalid(&format!("bad chunk size {line:?}")))?;
                    self.state = if size == 0 {
                        State::Done
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    let n = left.min(self.pending.len());
                    out.extend(self.pending.drain(..n));
                    if n < left {
                        self.state = State::Data(left - n);
                        return Ok(false);
                    }
                    self.state = State::DataEnd;
                }
                State::DataEnd => {
                    if self.pending.len() < 2 {
                        return Ok(false);
                    }
                    self.pending.drain(..2);
                    self.state = State::Size;
                }
                State::Done => return Ok(true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_decode_whatever_the_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for split in 1..wire.len() {
            let mut d = Dechunk::default();
            let mut out = Vec::new();
            let mut done = false;
            for part in wire.chunks(split) {
                done = d.feed(part, &mut out).expect("valid");
            }
            assert!(done, "split {split}");
            assert_eq!(out, b"hello, world", "split {split}");
        }
        let mut d = Dechunk::default();
        assert!(d.feed(b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[tokio::test]
    async fn get_reads_a_chunked_body_and_refuses_errors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("engine.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(async move {
            for answer in [
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
                &b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"[..],
                &b"HTTP/1.0 200 OK\r\n\r\nplain body"[..],
            ] {
                let (mut conn, _) = listener.accept().await.expect("accept");
                let mut request = [0u8; 1024];
                let _ = conn.read(&mut request).await.expect("request");
                conn.write_all(answer).await.expect("answer");
            }
        });
        let body = get(&path, "/x").await.expect("200").read_all().await;
        assert_eq!(body.expect("body"), b"abc");
        let err = get(&path, "/x").await.expect_err("404");
        assert!(err.to_string().contains("404"), "{err}");
        let body = get(&path, "/x").await.expect("200").read_all().await;
        assert_eq!(body.expect("body"), b"plain body");
        server.await.expect("server");
    }
}
