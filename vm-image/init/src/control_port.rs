//! The control port (`skiff.control`): tells the host `booted` and
//! `engine-ready`, and takes its `poweroff`. See [`crate::control`] for the
//! protocol.

use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::control::{Command, Event, LineBuffer, parse_command};
use crate::say;
use crate::vport;
use crate::vsock::VsockListener;

/// Why a host session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The host went away (EOF).
    HostGone,
    /// Reading or writing the port failed.
    Failed(String),
}

/// Runs one host session on `port`: sends the state lines, then answers
/// commands and announces `engine-ready` when `ready` gets a value.
/// `poweroff` is acknowledged with `ok` and passed on to `shutdown`.
pub async fn session<P: AsyncRead + AsyncWrite>(
    port: P,
    booted_ms: u64,
    mut ready: watch::Receiver<Option<u64>>,
    shutdown: &mpsc::UnboundedSender<String>,
) -> SessionEnd {
    let (mut rd, mut wr) = tokio::io::split(port);
    let mut announced_ready = false;
    let mut out = Event::Booted(booted_ms).line();
    if let Some(ms) = *ready.borrow_and_update() {
        out.push_str(&Event::EngineReady(ms).line());
        announced_ready = true;
    }
    if let Err(e) = send(&mut wr, &out).await {
        return SessionEnd::Failed(e.to_string());
    }
    let mut lines = LineBuffer::default();
    let mut buf = [0u8; 512];
    let mut ready_open = true;
    loop {
        tokio::select! {
            read = rd.read(&mut buf) => {
                let n = match read {
                    Ok(0) => return SessionEnd::HostGone,
                    Ok(n) => n,
                    Err(e) => return SessionEnd::Failed(e.to_string()),
                };
                for line in lines.push(&buf[..n]) {
                    let answer = match parse_command(&line) {
                        None => continue,
                        Some(Command::Poweroff) => {
                            let _ = shutdown.send("poweroff on the control port".to_string());
                            Event::Ok
                        }
                        Some(Command::Time(ns)) => match crate::clock::follow_host(ns) {
                            Ok(stepped) => {
                                if stepped {
                                    say!("clock stepped to the host's");
                                }
                                continue;
                            }
                            Err(e) => Event::Error(e.to_string()),
                        },
                        Some(Command::Touch(path)) => {
                            tokio::task::spawn_blocking(move || crate::touch::nudge(&path));
                            continue;
                        }
                        Some(Command::Unknown(cmd)) => Event::Error(format!("unknown command {cmd:?}")),
                    };
                    if let Err(e) = send(&mut wr, &answer.line()).await {
                        return SessionEnd::Failed(e.to_string());
                    }
                }
            }
            changed = ready.changed(), if ready_open && !announced_ready => {
                if changed.is_err() {
                    ready_open = false;
                    continue;
                }
                let value = *ready.borrow_and_update();
                if let Some(ms) = value {
                    announced_ready = true;
                    if let Err(e) = send(&mut wr, &Event::EngineReady(ms).line()).await {
                        return SessionEnd::Failed(e.to_string());
                    }
                }
            }
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(wr: &mut W, text: &str) -> std::io::Result<()> {
    wr.write_all(text.as_bytes()).await?;
    wr.flush().await
}

/// Serves the control port forever: waits for a host, runs a session,
/// starts over when the host goes away.
pub async fn serve(
    device: PathBuf,
    booted_ms: u64,
    ready: watch::Receiver<Option<u64>>,
    shutdown: mpsc::UnboundedSender<String>,
) {
    vport::serve_forever(&device, "control port", |port| {
        logged(
            "control port",
            port,
            booted_ms,
            ready.clone(),
            shutdown.clone(),
        )
    })
    .await
}

/// Serves vsock connections forever, one session at a time (a new
/// connection replaces the current one).
pub async fn serve_vsock(
    listener: VsockListener,
    booted_ms: u64,
    ready: watch::Receiver<Option<u64>>,
    shutdown: mpsc::UnboundedSender<String>,
) {
    listener
        .serve_latest("control vsock", |conn| {
            logged(
                "control vsock",
                conn,
                booted_ms,
                ready.clone(),
                shutdown.clone(),
            )
        })
        .await
}

/// [`session`], with its failure logged, prefixed with `what`.
async fn logged<P: AsyncRead + AsyncWrite>(
    what: &'static str,
    port: P,
    booted_ms: u64,
    ready: watch::Receiver<Option<u64>>,
    shutdown: mpsc::UnboundedSender<String>,
) {
    if let SessionEnd::Failed(e) = session(port, booted_ms, ready, &shutdown).await {
        say!("{what}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::*;

    async fn next_line<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut line))
            .await
            .expect("line in time")
            .expect("read");
        line
    }

    #[tokio::test]
    async fn booted_then_ready_then_poweroff() {
        let (host, guest) = tokio::io::duplex(4096);
        let (ready_tx, ready_rx) = watch::channel(None);
        let (down_tx, mut down_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move { session(guest, 412, ready_rx, &down_tx).await });
        let (hr, mut hw) = tokio::io::split(host);
        let mut hr = BufReader::new(hr);
        assert_eq!(next_line(&mut hr).await, "booted 412\n");
        ready_tx.send(Some(873)).expect("send");
        assert_eq!(next_line(&mut hr).await, "engine-ready 873\n");
        hw.write_all(b"hello\r\n\npoweroff\n").await.expect("write");
        assert_eq!(
            next_line(&mut hr).await,
            "error unknown command \"hello\"\n"
        );
        assert_eq!(next_line(&mut hr).await, "ok\n");
        assert_eq!(
            down_rx.recv().await.as_deref(),
            Some("poweroff on the control port")
        );
        drop(hw);
        drop(hr);
        assert_eq!(task.await.expect("join"), SessionEnd::HostGone);
    }

    #[tokio::test]
    async fn a_reconnecting_host_hears_the_state_again() {
        let (ready_tx, ready_rx) = watch::channel(Some(900));
        let (down_tx, _down_rx) = mpsc::unbounded_channel();
        let (host, guest) = tokio::io::duplex(4096);
        let rx = ready_rx.clone();
        let task = tokio::spawn(async move { session(guest, 400, rx, &down_tx).await });
        let mut hr = BufReader::new(host);
        assert_eq!(next_line(&mut hr).await, "booted 400\n");
        assert_eq!(next_line(&mut hr).await, "engine-ready 900\n");
        // engine-ready is said once per session, even if the value changes.
        ready_tx.send(Some(950)).expect("send");
        drop(hr);
        assert_eq!(task.await.expect("join"), SessionEnd::HostGone);
    }
}
