//! `GET /_ping` on the engine's Unix socket: the engine is ready when it
//! answers `200 OK`.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const REQUEST: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: skiff\r\nConnection: close\r\n\r\n";

/// Whether an HTTP response is a successful `/_ping` (status 200, body `OK`).
pub fn is_pong(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let status_ok = head
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("HTTP/1.") && l.split(' ').nth(1) == Some("200"));
    status_ok && body.trim_end().ends_with("OK")
}

/// One ping; `false` on any failure (no socket yet, refused, bad answer, timeout).
pub async fn ping(socket: &Path, timeout: Duration) -> bool {
    let attempt = async {
        let mut stream = UnixStream::connect(socket).await.ok()?;
        stream.write_all(REQUEST).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(is_pong(&response))
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

/// Pings every `interval` until the engine answers.
pub async fn wait_ready(socket: &Path, interval: Duration) {
    loop {
        if ping(socket, Duration::from_secs(2)).await {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pong_forms() {
        assert!(is_pong(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"));
        // skiffd answers with a Content-Length; chunked bodies are not pongs.
        assert!(!is_pong(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n"
        ));
        assert!(!is_pong(b"HTTP/1.1 500 Internal\r\n\r\nOK"));
        assert!(!is_pong(b"HTTP/1.1 200 OK\r\n\r\nNOPE"));
        assert!(!is_pong(b"garbage"));
    }

    #[tokio::test]
    async fn pings_a_real_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docker.sock");
        assert!(!ping(&path, Duration::from_millis(200)).await);
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.expect("read");
            assert!(buf[..n].starts_with(b"GET /_ping HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nApi-Version: 1.50\r\n\r\nOK")
                .await
                .expect("write");
        });
        tokio::time::timeout(
            Duration::from_secs(5),
            wait_ready(&path, Duration::from_millis(10)),
        )
        .await
        .expect("ready");
        server.await.expect("server");
    }
}
