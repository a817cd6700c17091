//! A container's health as dockerd keeps it (`State.Health`): the status,
//! the failing streak and the last [`MAX_LOG`] probe results, and how one
//! probe result changes them ([`Health::record`], dockerd's
//! `handleProbeResult`).

use serde::{Deserialize, Serialize};

/// Probe results kept in `State.Health.Log` (dockerd's `maxLogEntries`).
pub const MAX_LOG: usize = 5;
/// Bytes of a probe's output kept (dockerd's `maxOutputLen`); more is cut
/// and marked with `...`.
pub const MAX_OUTPUT: usize = 4096;

/// A healthchecked container's status, in docker's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No probe has passed since the start (and failures have not reached
    /// the retries).
    #[default]
    Starting,
    /// The last probe passed.
    Healthy,
    /// `retries` probes in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's word (`starting`, `healthy`, `unhealthy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// How `docker ps` shows it after `Up …`: `health: starting`,
    /// `healthy`, `unhealthy`.
    pub fn ps_text(self) -> &'static str {
        match self {
            Self::Starting => "health: starting",
            other => other.as_str(),
        }
    }
}

/// One probe's result (`State.Health.Log[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// RFC 3339 (nanoseconds) time the probe was started.
    pub start: String,
    /// RFC 3339 (nanoseconds) time it ended.
    pub end: String,
    /// 0: healthy; anything else a failure (-1: the probe could not run or
    /// timed out).
    pub exit_code: i64,
    /// Its stdout and stderr, interleaved, cut at [`MAX_OUTPUT`] bytes.
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Failed probes in a row (counted outside the start period).
    pub failing_streak: i64,
    /// The last [`MAX_LOG`] results, oldest first.
    pub log: Vec<ProbeResult>,
}

impl Health {
    /// Back to `starting` with no failing streak (dockerd's
    /// `initHealthMonitor` at each start); the log is kept.
    pub fn reset(&mut self) {
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
    }

    /// Record one result: a pass makes the container healthy; a failure
    /// counts (unless it started within `start_period` of the container's
    /// start while still `starting`) and makes it unhealthy at `retries`
    /// in a row. `in_start_period` says whether the probe started within
    /// the start period. Returns the new status when it changed.
    pub fn record(
        &mut self,
        result: ProbeResult,
        retries: i64,
        in_start_period: bool,
    ) -> Option<HealthStatus> {
        let old = self.status;
        if self.log.len() >= MAX_LOG {
            self.log.drain(..=self.log.len() - MAX_LOG);
        }
        let passed = result.exit_code == 0;
        self.log.push(result);
        if passed {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        (self.status != old).then_some(self.status)
    }
}

/// A probe's output as dockerd keeps it: the first [`MAX_OUTPUT`] bytes,
/// `...` appended when more came.
#[derive(Debug, Default)]
pub struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    /// Append `data` while there is room.
    pub fn write(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    /// The text (invalid UTF-8 replaced, as Go's JSON encoder does).
    pub fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            out.push_str("...");
        }
        out
    }
}

/// A Go duration (`90s`, `1h30m`, `500ms`, `1.5s`) in nanoseconds, as
/// `time.ParseDuration` reads it (unsigned); `None` if malformed.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    // Go's ParseDuration refuses what does not fit an int64 of nanoseconds.
    (total < i64::MAX as f64).then_some(total as i64)
}

/// A duration as Go's `time.Duration.String` writes it (`30s`, `1m30s`,
/// `500ms`, `1.5s`): dockerd's timeout message shows it.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let n = nanos.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    let frac = |value: u64, unit: u64| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.ilog10() as usize;
        let s = format!("{rest:0digits$}");
        format!("{whole}.{}", s.trim_end_matches('0'))
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", frac(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", frac(n, 1_000_000));
    }
    let secs_nanos = n % 60_000_000_000;
    let mins = n / 60_000_000_000;
    let (h, m) = (mins / 60, mins % 60);
    let s = frac(secs_nanos, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn passes_and_failures_move_the_status_like_dockerd() {
        let mut h = Health::default();
        assert_eq!(h.record(result(1), 2, false), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.record(result(1), 2, false), Some(HealthStatus::Unhealthy));
        assert_eq!(h.record(result(0), 2, false), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
        // A failure while healthy counts but does not flip at once.
        assert_eq!(h.record(result(7), 2, false), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1));
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_while_starting() {
        let mut h = Health::default();
        for _ in 0..5 {
            assert_eq!(h.record(result(1), 1, true), None);
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(h.record(result(1), 1, false), Some(HealthStatus::Unhealthy));
    }

    #[test]
    fn the_log_keeps_the_last_five() {
        let mut h = Health::default();
        for code in 0..8 {
            h.record(result(code), 100, false);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
        h.reset();
        assert_eq!(
            (h.status, h.failing_streak, h.log.len()),
            (HealthStatus::Starting, 0, 5)
        );
    }

    #[test]
    fn output_is_cut_at_4_kib_with_dots() {
        let mut out = LimitedOutput::default();
        out.write(b"ok\n");
        assert_eq!(out.text(), "ok\n");
        out.write(&[b'x'; MAX_OUTPUT]);
        let text = out.text();
        assert_eq!(text.len(), MAX_OUTPUT + 3);
        assert!(text.ends_with("x..."));
    }

    #[test]
    fn durations_print_like_go() {
        let s = 1_000_000_000;
        assert_eq!(go_duration(30 * s), "30s");
        assert_eq!(go_duration(90 * s), "1m30s");
        assert_eq!(go_duration(3600 * s), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_000_000), "1ms");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(parse_go_duration("1m30s"), Some(90 * s));
        assert_eq!(parse_go_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
