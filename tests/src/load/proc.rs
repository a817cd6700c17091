//! The daemon's figures the load generator samples: resident memory, open
//! descriptors and CPU time of its processes, from `/proc`.

/// The daemon's resident memory, open descriptors and CPU time at one
/// moment, summed over the measured processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `RssAnon`, KiB: the anonymous part of `VmRSS` (heap, stacks), where
    /// a leak shows; the rest is mostly the binary's pages, which stay
    /// once a kind of request has run.
    pub anon_kib: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: u64,
    /// utime + stime + cutime + cstime, clock ticks.
    pub cpu_ticks: u64,
}

/// Samples `pids` now (a vanished process counts zero).
pub fn sample(pids: &[u32]) -> ProcSample {
    let mut s = ProcSample::default();
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        s.rss_kib += kib("VmRSS:");
        s.anon_kib += kib("RssAnon:");
        s.fds += std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: state is the
        // first (field 3), utime..cstime are fields 14–17.
        if let Some((_, rest)) = stat.rsplit_once(") ") {
            s.cpu_ticks += rest
                .split_whitespace()
                .skip(11)
                .take(4)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    s
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub(super) fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = sample(&[std::process::id()]);
        assert!(s.rss_kib > 0 && s.fds > 0, "{s:?}");
        assert!(s.anon_kib > 0 && s.anon_kib < s.rss_kib, "{s:?}");
    }
}
