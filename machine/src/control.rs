//! The control port's line protocol (`skiff.control`).
//!
//! Guest → host: `booted <uptime_ms>`, `engine-ready <uptime_ms>`, `ok`
//! (the answer to `poweroff`). Host → guest: `poweroff`.

/// One line from the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlEvent {
    /// Init is up, after this many ms of guest uptime.
    Booted(u64),
    /// skiffd answered `/_ping` inside the guest.
    EngineReady(u64),
    /// The guest accepted a command.
    Ok,
    /// Anything else (kept for the log).
    Other(String),
}

/// The host's power-off request.
pub const POWEROFF: &[u8] = b"poweroff\n";

/// Parses one line (without its newline).
pub fn parse_line(line: &str) -> ControlEvent {
    let line = line.trim();
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let ms = || words.clone().next().and_then(|w| w.parse().ok());
    match first {
        "booted" => ms().map_or(ControlEvent::Other(line.into()), ControlEvent::Booted),
        "engine-ready" => ms().map_or(ControlEvent::Other(line.into()), ControlEvent::EngineReady),
        "ok" if words.clone().next().is_none() => ControlEvent::Ok,
        _ => ControlEvent::Other(line.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse_line("booted 812\n"), ControlEvent::Booted(812));
        assert_eq!(
            parse_line("engine-ready 1500"),
            ControlEvent::EngineReady(1500)
        );
        assert_eq!(parse_line("ok"), ControlEvent::Ok);
        assert_eq!(
            parse_line("booted soon"),
            ControlEvent::Other("booted soon".into())
        );
        assert_eq!(parse_line("ok then"), ControlEvent::Other("ok then".into()));
    }
}
