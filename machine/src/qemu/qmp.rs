//! A minimal QMP client: enough for `system_powerdown` and `quit`.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Sends `command` (e.g. `system_powerdown`) to the QMP socket at `path`
/// after the capabilities handshake; waits for its `return`.
#[cfg(unix)]
pub async fn execute(path: &Path, command: &str) -> Result<(), String> {
    let run = async {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| format!("connecting to {}: {e}", path.display()))?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        // Greeting.
        next_json(&mut lines).await?;
        for cmd in ["qmp_capabilities", command] {
            let msg = serde_json::json!({ "execute": cmd }).to_string() + "\n";
            write
                .write_all(msg.as_bytes())
                .await
                .map_err(|e| format!("writing to {}: {e}", path.display()))?;
            loop {
                let value = next_json(&mut lines).await?;
                if value.get("return").is_some() {
                    break;
                }
                if let Some(err) = value.get("error") {
                    return Err(format!("QMP {cmd}: {err}"));
                }
                // Events (e.g. POWERDOWN) come in between.
            }
        }
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(5), run).await {
        Ok(result) => result,
        Err(_) => Err(format!("QMP {command}: no answer within 5 s")),
    }
}

#[cfg(unix)]
async fn next_json(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
) -> Result<serde_json::Value, String> {
    let line = lines
        .next_line()
        .await
        .map_err(|e| format!("reading QMP: {e}"))?
        .ok_or_else(|| "QMP closed the connection".to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("parsing QMP {line:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn speaks_the_handshake_then_the_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.expect("accept");
            let (r, mut w) = s.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"{\"QMP\": {\"version\": {}}}\n")
                .await
                .expect("greet");
            let mut seen = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line);
                if seen.len() == 2 {
                    w.write_all(b"{\"event\": \"POWERDOWN\"}\n")
                        .await
                        .expect("event");
                }
                w.write_all(b"{\"return\": {}}\n").await.expect("return");
            }
            seen
        });
        execute(&path, "system_powerdown").await.expect("ok");
        let seen = server.await.expect("server");
        assert_eq!(
            seen,
            [
                r#"{"execute":"qmp_capabilities"}"#,
                r#"{"execute":"system_powerdown"}"#
            ]
        );
    }
}
