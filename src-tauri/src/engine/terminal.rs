//! Terminals: `docker exec -it <container> <shell>` for the Terminal tab.
//!
//! [`Terminals::open`] creates an exec with a TTY and stdin, starts it
//! attached, sizes it, and streams its output to a sink as UTF-8 text
//! (`terminal-output` events; a character split between two reads waits
//! for its end), then its exit code (`terminal-exit`). Keystrokes go in
//! with [`Terminals::input`], the size with [`Terminals::resize`];
//! [`Terminals::close`] closes stdin and drops the session (the shell
//! sees end of input and leaves). A session is the exec's id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::ResizeExecOptions;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::Engine;
use super::containers::non_empty;
use crate::error::{Error, Result};

/// Keystroke chunks buffered for a session before `input` waits.
const INPUT_QUEUE: usize = 256;
/// Largest terminal accepted (columns or rows).
const MAX_SIZE: u16 = 1000;

/// A `terminal-output` event: text the terminal printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalOutput {
    /// The session (exec id).
    pub session: String,
    /// The text (ANSI sequences included: the terminal widget draws them).
    pub data: String,
}

/// A `terminal-exit` event: the shell ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalExit {
    /// The session (exec id).
    pub session: String,
    /// Its exit code, when the engine knows it.
    pub code: Option<i64>,
}

/// Where a session's output and end go.
#[derive(Clone)]
pub struct TerminalSinks {
    /// Output text.
    pub output: Arc<dyn Fn(TerminalOutput) + Send + Sync>,
    /// The end.
    pub exit: Arc<dyn Fn(TerminalExit) + Send + Sync>,
}

struct Session {
    input: mpsc::Sender<Vec<u8>>,
    tasks: [AbortHandle; 2],
}

/// The open terminal sessions.
#[derive(Default, Clone)]
pub struct Terminals {
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

impl std::fmt::Debug for Terminals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminals")
            .field("sessions", &self.lock().len())
            .finish()
    }
}

/// The command of `shell` (`sh`, `/bin/bash -l`, …), split as a shell
/// would; refuses an empty one.
pub fn shell_command(shell: &str) -> Result<Vec<String>> {
    let words = shell_words::split(non_empty(shell, "shell")?)
        .map_err(|err| Error::InvalidRequest(format!("the shell {shell:?}: {err}")))?;
    if words.is_empty() {
        return Err(Error::InvalidRequest("the shell is empty".to_string()));
    }
    Ok(words)
}

/// Checks a terminal size.
fn size(cols: u16, rows: u16) -> Result<ResizeExecOptions> {
    if cols == 0 || rows == 0 || cols > MAX_SIZE || rows > MAX_SIZE {
        return Err(Error::InvalidRequest(format!(
            "a terminal of {cols}×{rows}: each side must be 1 to {MAX_SIZE}"
        )));
    }
    Ok(ResizeExecOptions {
        w: i32::from(cols),
        h: i32::from(rows),
    })
}

impl Terminals {
    /// Starts `shell` in container `id` with a `cols`×`rows` TTY; returns
    /// the session. Fails when the container does not exist or is not
    /// running (the engine's words).
    pub async fn open(
        &self,
        engine: &Engine,
        id: &str,
        shell: &str,
        cols: u16,
        rows: u16,
        sinks: TerminalSinks,
    ) -> Result<String> {
        let id = non_empty(id, "container id")?.to_string();
        let cmd = shell_command(shell)?;
        let dims = size(cols, rows)?;
        let config = CreateExecOptions::<String> {
            cmd: Some(cmd),
            tty: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            env: Some(vec!["TERM=xterm-256color".to_string()]),
            ..Default::default()
        };
        let exec = engine
            .call(|d| async move { d.create_exec(&id, config).await })
            .await?
            .id;
        let start = StartExecOptions {
            detach: false,
            tty: true,
            output_capacity: None,
        };
        let target = exec.clone();
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = engine
            .call(|d| async move { d.start_exec(&target, Some(start)).await })
            .await?
        else {
            return Err(Error::Internal(format!("exec {exec} started detached")));
        };
        let target = exec.clone();
        // The shell runs; a failed resize leaves it at the engine's size.
        if let Err(err) = engine
            .call(|d| async move { d.resize_exec(&target, dims).await })
            .await
        {
            tracing::warn!("sizing terminal {exec}: {err}");
        }

        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(INPUT_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                    break;
                }
            }
            let _ = input.shutdown().await;
        });
        let conn = engine.connection().await?;
        let session = exec.clone();
        let sessions = self.sessions.clone();
        let reader = tokio::spawn(async move {
            let mut text = Utf8Stream::default();
            while let Some(Ok(chunk)) = output.next().await {
                let data = text.push(&chunk.into_bytes());
                if !data.is_empty() {
                    (sinks.output)(TerminalOutput {
                        session: session.clone(),
                        data,
                    });
                }
            }
            let code = conn
                .docker
                .inspect_exec(&session)
                .await
                .ok()
                .and_then(|i| i.exit_code);
            if let Some(s) = sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&session)
            {
                s.tasks[0].abort();
            }
            (sinks.exit)(TerminalExit { session, code });
        });
        self.lock().insert(
            exec.clone(),
            Session {
                input: tx,
                tasks: [writer.abort_handle(), reader.abort_handle()],
            },
        );
        Ok(exec)
    }

    /// Types `data` into session `session`.
    pub async fn input(&self, session: &str, data: String) -> Result<()> {
        let tx = self.sender(session)?;
        tx.send(data.into_bytes())
            .await
            .map_err(|_| Error::Conflict(format!("terminal {session} has ended")))
    }

    /// Resizes session `session`'s TTY.
    pub async fn resize(&self, engine: &Engine, session: &str, cols: u16, rows: u16) -> Result<()> {
        let dims = size(cols, rows)?;
        self.sender(session)?;
        let target = session.to_string();
        engine
            .call(|d| async move { d.resize_exec(&target, dims).await })
            .await
    }

    /// Closes session `session` (its stdin; the shell leaves); false when
    /// there was none.
    pub fn close(&self, session: &str) -> bool {
        match self.lock().remove(session) {
            Some(s) => {
                // Dropping the sender ends the writer, which closes stdin.
                drop(s.input);
                true
            }
            None => false,
        }
    }

    /// The open sessions.
    pub fn sessions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn sender(&self, session: &str) -> Result<mpsc::Sender<Vec<u8>>> {
        self.lock()
            .get(session)
            .map(|s| s.input.clone())
            .ok_or_else(|| Error::NotFound(format!("no terminal session {session}")))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Bytes to UTF-8 text across reads: an incomplete character at the end
/// of a read waits for the next; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let keep = match std::str::from_utf8(&self.pending) {
            Ok(_) => 0,
            // An incomplete sequence at the very end (error_len None).
            Err(err) if err.error_len().is_none() => self.pending.len() - err.valid_up_to(),
            Err(_) => incomplete_tail(&self.pending),
        };
        let rest = self.pending.split_off(self.pending.len() - keep);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }
}

/// The length of an unfinished UTF-8 sequence at the end of `bytes` (0 if
/// none), for input that also holds invalid bytes earlier.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        let want = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            0x80..=0xBF => continue,
            _ => return 0,
        };
        return if want > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_between_reads_are_joined() {
        let mut s = Utf8Stream::default();
        let euro = "€".as_bytes();
        assert_eq!(s.push(b"price: "), "price: ");
        assert_eq!(s.push(&euro[..1]), "");
        assert_eq!(s.push(&euro[1..]), "€");
        let mut bad = b"\xff ok ".to_vec();
        bad.extend_from_slice(&euro[..2]);
        assert_eq!(s.push(&bad), "\u{fffd} ok ");
        assert_eq!(s.push(&euro[2..]), "€");
    }

    #[test]
    fn shells_and_sizes_are_checked() {
        assert_eq!(shell_command("sh").expect("sh"), ["sh"]);
        assert_eq!(
            shell_command("/bin/bash -l").expect("bash"),
            ["/bin/bash", "-l"]
        );
        assert_eq!(
            shell_command("  ").expect_err("empty").kind(),
            "invalid_request"
        );
        assert_eq!(
            shell_command("sh 'open").expect_err("quote").kind(),
            "invalid_request"
        );
        assert!(size(80, 24).is_ok());
        assert!(size(0, 24).is_err());
        assert!(size(80, 5000).is_err());
    }

    #[tokio::test]
    async fn unknown_sessions_are_refused() {
        let t = Terminals::default();
        let err = t.input("nope", "ls\n".into()).await.expect_err("none");
        assert_eq!(err.kind(), "not_found");
        assert!(!t.close("nope"));
        assert!(t.sessions().is_empty());
    }
}
