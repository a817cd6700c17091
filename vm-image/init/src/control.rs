//! The control port's line protocol (virtio-serial port `skiff.control`).
//!
//! Guest → host: `booted <uptime_ms>`, `engine-ready <uptime_ms>`, `ok`
//! (the answer to `poweroff`), `error <message>` (an unknown command).
//! Host → guest: `poweroff`; `time <unix nanoseconds>` (the host's clock,
//! sent every second: the guest steps its clock to it when they differ by
//! more than [`crate::clock::STEP_THRESHOLD_NS`] — after the host slept or
//! the VM was paused; answered only with `error` when setting fails);
//! `touch <percent-encoded path>`
//! (a file changed on the host under a shared folder: the guest makes an
//! inotify event for it, see [`crate::touch`]; not answered). Lines end with `\n`; a `\r` before it is
//! tolerated. On every new host connection the guest repeats the state
//! lines already sent (`booted`, then `engine-ready` if reached), so a host
//! that reconnects learns where the guest is.

/// A line from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Stop the engine and power the VM off.
    Poweroff,
    /// Set CLOCK_REALTIME to this many nanoseconds since the epoch.
    Time(i128),
    /// A host-side change of this path (a guest path under a share).
    Touch(std::path::PathBuf),
    /// Anything else (answered with `error`).
    Unknown(String),
}

/// Parses one line from the host (without or with its `\n`). Blank lines
/// are `None`.
pub fn parse_command(line: &str) -> Option<Command> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if let Some(ns) = line.strip_prefix("time ") {
        return Some(match ns.trim().parse::<i128>() {
            Ok(ns) if ns > 0 => Command::Time(ns),
            _ => Command::Unknown(line.to_string()),
        });
    }
    if let Some(path) = line.strip_prefix("touch ") {
        use std::os::unix::ffi::OsStringExt;
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(path.trim()).collect();
        return Some(if bytes.first() == Some(&b'/') && !bytes.contains(&0) {
            Command::Touch(std::ffi::OsString::from_vec(bytes).into())
        } else {
            Command::Unknown(line.to_string())
        });
    }
    Some(match line {
        "poweroff" => Command::Poweroff,
        other => Command::Unknown(other.to_string()),
    })
}

/// A line to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Init is up, at this uptime.
    Booted(u64),
    /// skiffd answered `/_ping`, at this uptime.
    EngineReady(u64),
    /// `poweroff` accepted.
    Ok,
    /// A command was not understood.
    Error(String),
}

impl Event {
    /// The wire form, `\n` included.
    pub fn line(&self) -> String {
        match self {
            Event::Booted(ms) => format!("booted {ms}\n"),
            Event::EngineReady(ms) => format!("engine-ready {ms}\n"),
            Event::Ok => "ok\n".to_string(),
            Event::Error(msg) => format!("error {}\n", msg.replace(['\n', '\r'], " ")),
        }
    }
}

/// Splits a byte stream into lines: feed it bytes, take complete lines.
/// Lines longer than `MAX_LINE` are cut (a misbehaving host cannot grow
/// the buffer without bound).
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

/// The longest line kept.
pub const MAX_LINE: usize = 4096;

impl LineBuffer {
    /// Adds bytes; returns the lines completed by them (without `\n`).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                lines.push(String::from_utf8_lossy(&self.buf).into_owned());
                self.buf.clear();
            } else if self.buf.len() < MAX_LINE {
                self.buf.push(b);
            }
        }
        lines
    }

    /// Drops a partial line (a new host connection starts afresh).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command("poweroff\n"), Some(Command::Poweroff));
        assert_eq!(parse_command("poweroff\r\n"), Some(Command::Poweroff));
        assert_eq!(parse_command("  \n"), None);
        assert_eq!(
            parse_command("reboot"),
            Some(Command::Unknown("reboot".into()))
        );
        assert_eq!(
            parse_command("time 1700000000123456789\n"),
            Some(Command::Time(1_700_000_000_123_456_789))
        );
        assert_eq!(
            parse_command("time soon"),
            Some(Command::Unknown("time soon".into()))
        );
        assert_eq!(
            parse_command("touch /home/me/a%20b.txt"),
            Some(Command::Touch("/home/me/a b.txt".into()))
        );
        for bad in ["touch relative", "touch /a%00b"] {
            assert_eq!(parse_command(bad), Some(Command::Unknown(bad.into())));
        }
    }

    #[test]
    fn events() {
        assert_eq!(Event::Booted(412).line(), "booted 412\n");
        assert_eq!(Event::EngineReady(873).line(), "engine-ready 873\n");
        assert_eq!(Event::Ok.line(), "ok\n");
        assert_eq!(Event::Error("a\nb".into()).line(), "error a b\n");
    }

    #[test]
    fn lines_across_reads() {
        let mut b = LineBuffer::default();
        assert!(b.push(b"powe").is_empty());
        assert_eq!(b.push(b"roff\nx"), vec!["poweroff"]);
        assert_eq!(b.push(b"y\n\n"), vec!["xy", ""]);
        b.push(b"partial");
        b.clear();
        assert_eq!(b.push(b"poweroff\n"), vec!["poweroff"]);
    }

    #[test]
    fn long_lines_are_cut() {
        let mut b = LineBuffer::default();
        let long = vec![b'a'; MAX_LINE * 3];
        assert!(b.push(&long).is_empty());
        let lines = b.push(b"\n");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), MAX_LINE);
    }
}
