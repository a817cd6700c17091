//! The guest clock: the kernel reads the RTC at boot; when that is behind
//! the host's time given as `skiff.time`, the host's time wins (TLS
//! certificates and image timestamps need a sane clock).

use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime, clock_settime};

use crate::error::{Context, SysError};

/// The time to set, if any: the host's, when the guest is behind it.
pub fn correction(now_secs: i64, host_secs: Option<i64>) -> Option<i64> {
    host_secs.filter(|host| *host > now_secs)
}

/// Sets CLOCK_REALTIME to `host_secs` if the guest clock is behind it.
/// Returns the guest time found and whether it was changed.
pub fn sync_from_host(host_secs: Option<i64>) -> Result<(i64, bool), SysError> {
    let now = clock_gettime(ClockId::CLOCK_REALTIME).during("clock_gettime")?;
    match correction(now.tv_sec(), host_secs) {
        Some(secs) => {
            clock_settime(ClockId::CLOCK_REALTIME, TimeSpec::new(secs, 0))
                .during("clock_settime")?;
            Ok((now.tv_sec(), true))
        }
        None => Ok((now.tv_sec(), false)),
    }
}

/// How far the guest clock may be from a time the host pushed before it
/// is stepped (more than the control port's latency, far less than the
/// 1 s TLS and build tools care about).
pub const STEP_THRESHOLD_NS: i128 = 250_000_000;

/// Whether a guest clock at `guest_ns` should be stepped to `host_ns`.
pub fn needs_step(guest_ns: i128, host_ns: i128) -> bool {
    (guest_ns - host_ns).abs() > STEP_THRESHOLD_NS
}

/// The host's time `unix_ns` (nanoseconds since the epoch, pushed on the
/// control port): steps CLOCK_REALTIME to it when the guest is further
/// off than [`STEP_THRESHOLD_NS`], either way (the host wins). Returns
/// whether it stepped.
pub fn follow_host(unix_ns: i128) -> Result<bool, SysError> {
    let now = clock_gettime(ClockId::CLOCK_REALTIME).during("clock_gettime")?;
    let guest = i128::from(now.tv_sec()) * 1_000_000_000 + i128::from(now.tv_nsec());
    if !needs_step(guest, unix_ns) {
        return Ok(false);
    }
    set_ns(unix_ns)?;
    Ok(true)
}

/// Sets CLOCK_REALTIME to `unix_ns` nanoseconds since the epoch.
pub fn set_ns(unix_ns: i128) -> Result<(), SysError> {
    let secs = i64::try_from(unix_ns.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
    let nanos = unix_ns.rem_euclid(1_000_000_000) as i64;
    clock_settime(ClockId::CLOCK_REALTIME, TimeSpec::new(secs, nanos)).during("clock_settime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_moves_forward() {
        assert_eq!(correction(100, Some(200)), Some(200));
        assert_eq!(correction(300, Some(200)), None);
        assert_eq!(correction(200, Some(200)), None);
        assert_eq!(correction(100, None), None);
    }

    #[test]
    fn steps_only_beyond_the_threshold_both_ways() {
        let s = 1_000_000_000;
        assert!(!needs_step(100 * s, 100 * s + STEP_THRESHOLD_NS));
        assert!(!needs_step(100 * s + STEP_THRESHOLD_NS, 100 * s));
        assert!(needs_step(100 * s, 120 * s));
        assert!(needs_step(120 * s, 100 * s));
    }
}
