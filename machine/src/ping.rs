//! `GET /_ping` on an engine socket: the one readiness check.

#[cfg(unix)]
use std::path::Path;
#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asks the engine behind the Unix socket `socket` for `/_ping`; `Ok` when
/// it answers 200 `OK` within `timeout`, else why not.
#[cfg(unix)]
pub async fn ping(socket: &Path, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, ping_inner(socket)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer to /_ping within {timeout:?}")),
    }
}

#[cfg(unix)]
async fn ping_inner(socket: &Path) -> Result<(), String> {
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| format!("connecting to {}: {e}", socket.display()))?;
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: skiff\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("writing to {}: {e}", socket.display()))?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("reading from {}: {e}", socket.display()))?;
    check_answer(&answer)
}

/// Checks a raw `/_ping` answer: status 200 and the body `OK`.
pub fn check_answer(answer: &[u8]) -> Result<(), String> {
    if answer.is_empty() {
        return Err("the connection closed without an answer".into());
    }
    let text = String::from_utf8_lossy(answer);
    let status_ok = text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200");
    let (_, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
    // The body may be chunked ("2\r\nOK\r\n0\r\n\r\n").
    if status_ok && (body == "OK" || body.contains("\r\nOK\r\n")) {
        Ok(())
    } else {
        let first = text.lines().next().unwrap_or_default();
        Err(format!("unexpected answer to /_ping: {first}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        assert!(check_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").is_ok());
        assert!(
            check_answer(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n"
            )
            .is_ok()
        );
        assert!(check_answer(b"HTTP/1.1 500 Internal\r\n\r\nno").is_err());
        assert!(check_answer(b"").is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn pings_a_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docker.sock");
        assert!(
            ping(&path, Duration::from_secs(1))
                .await
                .expect_err("must fail")
                .contains("connecting")
        );
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .await;
        });
        ping(&path, Duration::from_secs(5)).await.expect("pong");
    }
}
