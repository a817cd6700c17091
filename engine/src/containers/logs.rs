//! `docker logs`: the container's json-file log, filtered by stream, time
//! and tail, and followed while the container runs.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::ContainerService;
use super::error::ContainerError;

/// Which log entries to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming while the container runs.
    pub follow: bool,
    /// Only the last N entries.
    pub tail: Option<usize>,
    /// Only entries at or after (nanoseconds since the epoch).
    pub since: Option<i64>,
    /// Only entries before (nanoseconds since the epoch).
    pub until: Option<i64>,
}

impl LogOptions {
    /// The whole log of the chosen streams, once (an attach's `logs=1`).
    pub fn replay(stdout: bool, stderr: bool) -> Self {
        Self {
            stdout,
            stderr,
            ..Self::default()
        }
    }
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// The bytes, newline included.
    pub bytes: Vec<u8>,
    /// RFC 3339 time.
    pub time: String,
    /// Nanoseconds since the epoch.
    pub nanos: i64,
}

fn parse_line(line: &[u8]) -> Option<LogLine> {
    let e = skiff_shim::jsonlog::parse(line).ok()?;
    let nanos =
        time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp_nanos() as i64)
            .unwrap_or(0);
    Some(LogLine {
        stream: if e.stream == "stderr" { 2 } else { 1 },
        bytes: e.log.into_bytes(),
        time: e.time,
        nanos,
    })
}

fn wanted(opts: &LogOptions, l: &LogLine) -> bool {
    (if l.stream == 2 {
        opts.stderr
    } else {
        opts.stdout
    }) && opts.since.is_none_or(|s| l.nanos >= s)
        && opts.until.is_none_or(|u| l.nanos < u)
}

/// Read the entries of `path` from `offset`; returns them and the new offset
/// (only complete lines are consumed).
fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<LogLine>, u64)> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::new(f);
    let mut out = Vec::new();
    let mut pos = offset;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        pos += n as u64;
        if let Some(l) = parse_line(&buf) {
            out.push(l);
        }
    }
    Ok((out, pos))
}

impl ContainerService {
    /// Stream a container's log entries into `tx` (ends when done, or when
    /// following, when the container stops and the log is drained).
    pub fn logs(
        self: &Arc<Self>,
        what: &str,
        opts: LogOptions,
    ) -> Result<mpsc::Receiver<LogLine>, ContainerError> {
        let record = self.resolve(what)?;
        let path = self.log_path(&record.id);
        let (tx, rx) = mpsc::channel(256);
        let svc = self.clone();
        tokio::spawn(async move {
            let (first, mut offset) = {
                let p = path.clone();
                match tokio::task::spawn_blocking(move || read_from(&p, 0)).await {
                    Ok(Ok(r)) => r,
                    _ => return,
                }
            };
            let mut lines: Vec<LogLine> = first.into_iter().filter(|l| wanted(&opts, l)).collect();
            if let Some(n) = opts.tail {
                let skip = lines.len().saturating_sub(n);
                lines.drain(..skip);
            }
            for l in lines {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
            if !opts.follow {
                return;
            }
            let mut watch = svc.watch(&record.id);
            loop {
                let live = watch
                    .borrow()
                    .as_ref()
                    .is_some_and(|r| r.state.status.is_live());
                let p = path.clone();
                let Ok(Ok((more, next))) =
                    tokio::task::spawn_blocking(move || read_from(&p, offset)).await
                else {
                    return;
                };
                offset = next;
                for l in more.into_iter().filter(|l| wanted(&opts, l)) {
                    if opts.until.is_some_and(|u| l.nanos >= u) {
                        return;
                    }
                    if tx.send(l).await.is_err() {
                        return;
                    }
                }
                if !live {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = watch.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_complete_lines_and_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x-json.log");
        std::fs::write(
            &p,
            concat!(
                "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:01Z\"}\n",
                "{\"log\":\"two\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-01T00:00:02Z\"}\n",
                "{\"log\":\"partial"
            ),
        )
        .expect("write");
        let (lines, off) = read_from(&p, 0).expect("read");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].stream, 2);
        assert_eq!(lines[0].bytes, b"one\n");
        let (again, _) = read_from(&p, off).expect("reread");
        assert!(again.is_empty(), "an incomplete line waits");
        let only_out = LogOptions {
            stdout: true,
            ..Default::default()
        };
        assert!(wanted(&only_out, &lines[0]) && !wanted(&only_out, &lines[1]));
        let since = LogOptions {
            stdout: true,
            stderr: true,
            since: Some(lines[1].nanos),
            ..Default::default()
        };
        assert!(!wanted(&since, &lines[0]) && wanted(&since, &lines[1]));
    }
}
