//! Following container logs: the last 200 lines, then new ones as they
//! come, one line per `container-log` event, until stopped or the
//! container ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::task::AbortHandle;

use super::Engine;
use crate::error::Result;

/// Lines of history sent before following.
pub const TAIL_LINES: &str = "200";

/// A `container-log` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// The container as the UI named it in `follow_logs`.
    pub id: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The line, without its newline.
    pub line: String,
}

/// Receives log lines.
pub type LogSink = Arc<dyn Fn(LogLine) + Send + Sync>;

/// The log followers running now, one per container.
#[derive(Debug, Clone, Default)]
pub struct Followers {
    tasks: Arc<Mutex<HashMap<String, (u64, AbortHandle)>>>,
    generation: Arc<AtomicU64>,
}

impl Followers {
    /// Follows the logs of container `id` (replacing a follower of the same
    /// id). Fails when the container does not exist; otherwise returns at
    /// once and `sink` gets the lines.
    pub async fn follow(&self, engine: &Engine, id: &str, sink: LogSink) -> Result<()> {
        let id = engine.existing_container(id).await?;
        let conn = engine.connection().await?;
        let key = id.clone();
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: TAIL_LINES.to_string(),
            ..Default::default()
        };
        self.run(id, async move {
            let mut stream = conn.docker.logs(&key, Some(options));
            let mut lines = Lines::default();
            while let Some(item) = stream.next().await {
                let Ok(output) = item else { break };
                for (stream, line) in lines.push(output) {
                    sink(LogLine {
                        id: key.clone(),
                        stream,
                        line,
                    });
                }
            }
            for (stream, line) in lines.finish() {
                sink(LogLine {
                    id: key.clone(),
                    stream,
                    line,
                });
            }
        });
        Ok(())
    }

    /// Runs `task` as the follower of `key`, replacing (aborting) the one
    /// before; the entry goes when the task ends or [`Followers::stop`]
    /// aborts it. The one task registry of every stream the UI opens
    /// (logs, stats).
    pub fn run<F>(&self, key: String, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst);
        let tasks = self.tasks.clone();
        let mine = key.clone();
        let mut map = self.lock();
        let task = tokio::spawn(async move {
            task.await;
            let mut map = tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.get(&mine).is_some_and(|(g, _)| *g == generation) {
                map.remove(&mine);
            }
        });
        if let Some((_, old)) = map.insert(key, (generation, task.abort_handle())) {
            old.abort();
        }
    }

    /// Stops following container `id`; false when nobody followed it.
    pub fn stop(&self, id: &str) -> bool {
        match self.lock().remove(id.trim()) {
            Some((_, task)) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    /// Containers followed now.
    pub fn following(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, AbortHandle)>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Splits the engine's frames into lines, per stream.
#[derive(Debug, Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    /// Adds a frame; returns the lines it completed.
    fn push(&mut self, output: LogOutput) -> Vec<(&'static str, String)> {
        let (name, buf, bytes) = match output {
            LogOutput::StdErr { message } => ("stderr", &mut self.stderr, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                ("stdout", &mut self.stdout, message)
            }
            LogOutput::StdIn { .. } => return Vec::new(),
        };
        buf.extend_from_slice(&bytes);
        let mut out = Vec::new();
        while let Some(at) = buf.iter().position(|b| *b == b'\n') {
            let rest = buf.split_off(at + 1);
            let line = std::mem::replace(buf, rest);
            out.push((name, text(&line)));
        }
        out
    }

    /// The unfinished last lines.
    fn finish(&mut self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (name, buf) in [("stdout", &mut self.stdout), ("stderr", &mut self.stderr)] {
            if !buf.is_empty() {
                out.push((name, text(buf)));
                buf.clear();
            }
        }
        out
    }
}

/// A line's text without its `\n` / `\r\n`.
fn text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn frames_become_lines_per_stream() {
        let mut lines = Lines::default();
        let out = |m: &str| LogOutput::StdOut {
            message: Bytes::from(m.to_string()),
        };
        let err = |m: &str| LogOutput::StdErr {
            message: Bytes::from(m.to_string()),
        };
        assert_eq!(lines.push(out("a\nb")), [("stdout", "a".to_string())]);
        assert_eq!(
            lines.push(err("oops\r\n")),
            [("stderr", "oops".to_string())]
        );
        assert_eq!(
            lines.push(out("c\nd\n")),
            [("stdout", "bc".to_string()), ("stdout", "d".to_string())]
        );
        assert_eq!(lines.push(out("tail")), []);
        assert_eq!(lines.finish(), [("stdout", "tail".to_string())]);
        assert_eq!(lines.finish(), []);
    }
}
