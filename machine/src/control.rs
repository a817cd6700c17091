//! The control port's line protocol (`skiff.control`).
//!
//! Guest → host: `booted <uptime_ms>`, `engine-ready <uptime_ms>`, `ok`
//! (the answer to `poweroff`). Host → guest: `poweroff`; `time <unix
//! nanoseconds>` every [`TIME_PUSH_INTERVAL`] (the guest steps its clock
//! to the host's when they differ by more than 250 ms: after the host
//! slept or the VM was paused); `touch <percent-encoded guest path>` (a
//! file changed on the host under a shared folder, [`crate::watch`]).

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

/// How often the host pushes its clock to the guest: the guest is back
/// within 1 s of the host's time at most this long after a resume.
pub const TIME_PUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The `time` line for `now`.
pub fn time_line(now: std::time::SystemTime) -> String {
    let ns = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("time {ns}\n")
}

/// The `touch` line for a guest path (bytes other than `A-Za-z0-9/._-~+`
/// percent-encoded, as the kernel command line's share paths).
pub fn touch_line(guest_path: &str) -> String {
    format!(
        "touch {}\n",
        percent_encoding::utf8_percent_encode(guest_path, crate::shares::PATH_KEEP)
    )
}

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

    #[test]
    fn host_lines() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(time_line(t), "time 1700000000000000005\n");
        assert_eq!(
            touch_line("/home/me/a b%.txt"),
            "touch /home/me/a%20b%25.txt\n"
        );
    }
}
