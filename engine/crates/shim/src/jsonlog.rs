//! Docker's `json-file` log format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`.
//!
//! Output is cut into entries the way docker's log copier does: at every
//! newline (kept in `log`), and at [`MAX_LINE`] bytes without one (a partial
//! entry, whose `log` has no trailing newline); what is left when the stream
//! ends becomes a last entry without a newline.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Longest entry before a line is cut into partial entries (docker's 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// One parsed log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its newline when the line was complete.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
}

/// Formats a time as Go's `time.RFC3339Nano` does in UTC: fractional
/// seconds with trailing zeros removed (and no dot when they are all zero).
pub fn rfc3339_nano(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Now, as [`rfc3339_nano`].
pub fn now() -> String {
    rfc3339_nano(OffsetDateTime::now_utc())
}

/// Appends the JSON line for one entry (with its `\n`) to `out`. Invalid
/// UTF-8 becomes U+FFFD, as in docker.
pub fn encode(log: &[u8], stream: &str, time: &str, out: &mut Vec<u8>) {
    #[derive(Serialize)]
    struct Line<'a> {
        log: &'a str,
        stream: &'a str,
        time: &'a str,
    }
    let text = String::from_utf8_lossy(log);
    let line = Line {
        log: &text,
        stream,
        time,
    };
    // Serializing a struct of strings cannot fail.
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

/// Parses one line of a json-file log.
pub fn parse(line: &[u8]) -> Result<Entry, serde_json::Error> {
    serde_json::from_slice(line)
}

/// Cuts a byte stream into log entries.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds `data`; calls `emit` with every complete entry.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let (line, rest) = data.split_at(i + 1);
                    if self.pending.is_empty() {
                        emit(line);
                    } else {
                        self.pending.extend_from_slice(line);
                        emit(&self.pending);
                        self.pending.clear();
                    }
                    data = rest;
                }
                None => {
                    self.pending.extend_from_slice(data);
                    data = &[];
                }
            }
            while self.pending.len() >= MAX_LINE {
                let rest = self.pending.split_off(MAX_LINE);
                emit(&self.pending);
                self.pending = rest;
            }
        }
    }

    /// The stream ended: emits what is left, if anything.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l| out.push(l.to_vec()));
        }
        s.finish(|l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn splits_on_newlines_across_chunks() {
        assert_eq!(
            split(&[b"a\nb", b"c\n", b"d"]),
            vec![b"a\n".to_vec(), b"bc\n".to_vec(), b"d".to_vec()]
        );
        assert!(split(&[]).is_empty());
    }

    #[test]
    fn cuts_long_lines() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let out = split(&[&long, b"\n"]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), MAX_LINE);
        assert_eq!(out[1].len(), MAX_LINE);
        assert_eq!(out[2].len(), 11);
    }

    #[test]
    fn encodes_docker_lines() -> Result<(), serde_json::Error> {
        let mut out = Vec::new();
        encode(b"hi \"x\"\n", "stdout", "2024-01-01T00:00:00Z", &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"log\":\"hi \\\"x\\\"\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}\n"
        );
        let e = parse(out.strip_suffix(b"\n").unwrap_or(&out))?;
        assert_eq!(e.log, "hi \"x\"\n");
        Ok(())
    }

    #[test]
    fn times_look_like_go() -> Result<(), time::error::ComponentRange> {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_120_000_000)?;
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000)?;
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20Z");
        Ok(())
    }
}
