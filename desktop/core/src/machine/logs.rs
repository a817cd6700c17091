//! The engine's log, as the machine exposes it. skiff-init starts skiffd
//! with its stdout and stderr on the VM's console (the serial line the
//! supervisor writes to `console.log`), so the engine's log is the part of
//! the console skiffd wrote: its `tracing` lines (`2026-01-02T03:04:05.…Z
//! INFO skiffd…`), plus init's own lines about skiffd (started, exited,
//! restarted). Everything else there is the kernel's and init's.

use super::Machine;
use crate::error::Result;

/// The levels `tracing`'s formatter writes.
const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// True for a line of skiffd's log on the console: a `tracing` line
/// (RFC 3339 UTC timestamp, then a level) or a `skiff-init:` line that
/// mentions skiffd.
pub fn is_engine_line(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("skiff-init: ") {
        return rest.contains("skiffd");
    }
    let mut words = line.split_whitespace();
    let (Some(stamp), Some(level)) = (words.next(), words.next()) else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && stamp.ends_with('Z')
        && LEVELS.contains(&level)
}

/// The engine's lines of `console`, in order.
pub fn engine_lines(console: &[String]) -> Vec<String> {
    console
        .iter()
        .filter(|l| is_engine_line(l))
        .cloned()
        .collect()
}

/// How many console lines are read to find `lines` of the engine's.
const SCAN_FACTOR: usize = 8;
/// The most console lines read for one answer.
const MAX_SCAN: usize = 200_000;

impl Machine {
    /// The last `lines` lines skiffd wrote to the machine's console (read
    /// from the last `lines × 8` console lines, at most 200 000, within
    /// the console's last 256 KiB).
    pub fn engine_log(&self, lines: usize) -> Result<Vec<String>> {
        let console = self
            .control
            .console(lines.saturating_mul(SCAN_FACTOR).min(MAX_SCAN))?;
        let mut engine = engine_lines(&console);
        let skip = engine.len().saturating_sub(lines);
        engine.drain(..skip);
        Ok(engine)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::machine::fake::FakeMachine;

    const CONSOLE: &[&str] = &[
        "[    0.000000] Linux version 6.12.0 (debian-kernel@lists.debian.org)",
        "skiff-init: mounting /usr",
        "skiff-init: starting skiffd",
        "2026-12-08T00:51:02.123456Z  INFO skiffd: listening on unix:///run/skiff/docker.sock",
        "2026-12-08T00:51:03.5Z  WARN skiff_engine::images: registry mirror slow",
        "2026-12-08 not a stamp INFO",
        "skiff-init: stamp skiffd-listening 812",
        "[    1.2] random: crng init done",
        "skiff-init: network up",
    ];

    #[test]
    fn picks_skiffds_lines() {
        let console: Vec<String> = CONSOLE.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            engine_lines(&console),
            [CONSOLE[2], CONSOLE[3], CONSOLE[4], CONSOLE[6]]
        );
        assert!(!is_engine_line(""));
        assert!(!is_engine_line("2026-12-08T00:51:02Z"));
    }

    #[test]
    fn the_last_lines_of_the_engine() {
        let fake = Arc::new(FakeMachine::stopped());
        fake.set_console(CONSOLE.iter().map(|s| s.to_string()).collect());
        let machine = Machine::new(fake);
        let log = machine.engine_log(2).expect("log");
        assert_eq!(log, [CONSOLE[4], CONSOLE[6]]);
    }
}
