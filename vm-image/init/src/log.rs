//! `skiff-init: <message>` lines on the console (the kernel gives PID 1
//! `/dev/console` as stdin/stdout/stderr), and the uptime they quote.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static TIMESTAMPS: AtomicBool = AtomicBool::new(false);

/// Ends every later line with the uptime (`skiff.debug`).
pub fn enable_timestamps() {
    TIMESTAMPS.store(true, Ordering::Relaxed);
}

/// Writes one `skiff-init: ` line to the console. A console that cannot be
/// written to is ignored: init must never die of a log line.
pub fn line(message: std::fmt::Arguments<'_>) {
    let text = if TIMESTAMPS.load(Ordering::Relaxed) {
        let ms = uptime_ms();
        // At the end, so that `skiff-init: <message>` stays greppable.
        format!("skiff-init: {message} [+{}.{:03}]\n", ms / 1000, ms % 1000)
    } else {
        format!("skiff-init: {message}\n")
    };
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Logs a formatted `skiff-init: ` line on the console.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

/// Logs `skiff-init: stamp <phase> <uptime ms>`: the boot's milestones,
/// which `bench/vm-boot.sh` tabulates (kernel → /init → mounts → modules →
/// network → disk → shares → booted → skiffd listening).
pub fn stamp(phase: &str, ms: u64) {
    line(format_args!("stamp {phase} {ms}"));
}

/// Milliseconds since the kernel started (CLOCK_BOOTTIME).
pub fn uptime_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| (t.tv_sec() as u64).saturating_mul(1000) + (t.tv_nsec() as u64) / 1_000_000)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_moves_forward() {
        let a = super::uptime_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::uptime_ms();
        assert!(a > 0);
        assert!(b >= a + 20, "{a} then {b}");
    }
}
