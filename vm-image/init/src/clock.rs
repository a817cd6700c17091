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
}
