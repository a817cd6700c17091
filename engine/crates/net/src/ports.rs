//! Host ports handed out to published ports, as dockerd's port allocator.
//!
//! Pure bookkeeping, in memory (the service rebuilds it from its container
//! records at start). Contract:
//! - a (host ip, protocol, port) is handed out at most once until released;
//!   a second request fails with dockerd's "Bind for IP:PORT failed: port is
//!   already allocated";
//! - different host addresses are different keys (`0.0.0.0:80` and
//!   `127.0.0.1:80` do not conflict here; the kernel's bind does, which the
//!   proxy reports);
//! - `-p CONTAINER` and `-p LOW-HIGH:CONTAINER` take a port from the
//!   ephemeral range (or the given range), starting after the last one
//!   handed out for that range and wrapping, as dockerd does.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::Protocol;

/// dockerd's fallback ephemeral range when the kernel's cannot be read.
pub const DEFAULT_RANGE: RangeInclusive<u16> = 49153..=65535;

/// Why a port could not be handed out. Texts are dockerd's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    /// The exact port is taken.
    #[error("Bind for {}:{port} failed: port is already allocated", fmt_ip(*ip))]
    AlreadyAllocated {
        /// The host address.
        ip: IpAddr,
        /// The port.
        port: u16,
    },
    /// Every port of the range is taken.
    #[error("all ports are allocated")]
    AllAllocated,
    /// A range with start after end, or a 0 bound.
    #[error("invalid port range: {start}-{end}")]
    InvalidRange {
        /// First port.
        start: u16,
        /// Last port.
        end: u16,
    },
}

fn fmt_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// What to allocate: one exact port, or any port of a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRequest {
    /// `-p 8080:80`.
    Exact(u16),
    /// `-p 8000-8010:80`.
    Range(RangeInclusive<u16>),
    /// `-p 80`: any port of the ephemeral range.
    Any,
}

/// The ports handed out, per host address and protocol.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    ephemeral: RangeInclusive<u16>,
    used: HashMap<(IpAddr, Protocol), BTreeSet<u16>>,
    /// Last port handed out per (ip, protocol, range), for serial allocation.
    last: HashMap<(IpAddr, Protocol, u16, u16), u16>,
}

impl PortAllocator {
    /// An allocator whose `Any` requests come from `ephemeral`.
    pub fn new(ephemeral: RangeInclusive<u16>) -> Self {
        PortAllocator {
            ephemeral,
            used: HashMap::new(),
            last: HashMap::new(),
        }
    }

    /// An allocator over the kernel's `net.ipv4.ip_local_port_range`, or
    /// [`DEFAULT_RANGE`] when it cannot be read.
    pub fn from_system() -> Self {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| parse_range(&s))
            .unwrap_or(DEFAULT_RANGE);
        PortAllocator::new(range)
    }

    /// Hands out a port of `ip`/`protocol`.
    pub fn request(
        &mut self,
        ip: IpAddr,
        protocol: Protocol,
        req: PortRequest,
    ) -> Result<u16, PortError> {
        let range = match req {
            PortRequest::Exact(port) => {
                let used = self.used.entry((ip, protocol)).or_default();
                if !used.insert(port) {
                    return Err(PortError::AlreadyAllocated { ip, port });
                }
                return Ok(port);
            }
            PortRequest::Range(range) => {
                if *range.start() == 0 || range.start() > range.end() {
                    return Err(PortError::InvalidRange {
                        start: *range.start(),
                        end: *range.end(),
                    });
                }
                range
            }
            PortRequest::Any => self.ephemeral.clone(),
        };
        let (start, end) = (*range.start(), *range.end());
        let used = self.used.entry((ip, protocol)).or_default();
        let last = self.last.entry((ip, protocol, start, end)).or_insert(end);
        let size = u32::from(end - start) + 1;
        for step in 1..=size {
            let offset = (u32::from(*last - start) + step) % size;
            // offset < size, so start + offset <= end.
            let port = start + offset as u16;
            if used.insert(port) {
                *last = port;
                return Ok(port);
            }
        }
        Err(PortError::AllAllocated)
    }

    /// Gives a port back. Returns whether it was handed out.
    pub fn release(&mut self, ip: IpAddr, protocol: Protocol, port: u16) -> bool {
        self.used
            .get_mut(&(ip, protocol))
            .is_some_and(|used| used.remove(&port))
    }
}

/// `"32768\t60999\n"` → `32768..=60999`.
fn parse_range(s: &str) -> Option<RangeInclusive<u16>> {
    let mut it = s.split_whitespace().map(str::parse::<u16>);
    let (start, end) = (it.next()?.ok()?, it.next()?.ok()?);
    (start > 0 && start <= end).then_some(start..=end)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn exact_port_twice_is_dockers_error() {
        let mut ports = PortAllocator::new(DEFAULT_RANGE);
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Exact(8080)),
            Ok(8080)
        );
        let err = ports
            .request(ANY, Protocol::Tcp, PortRequest::Exact(8080))
            .expect_err("taken");
        assert_eq!(
            err.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        // Other protocol and other address are other keys.
        assert_eq!(
            ports.request(ANY, Protocol::Udp, PortRequest::Exact(8080)),
            Ok(8080)
        );
        assert_eq!(
            ports.request(LO, Protocol::Tcp, PortRequest::Exact(8080)),
            Ok(8080)
        );
        assert!(ports.release(ANY, Protocol::Tcp, 8080));
        assert!(!ports.release(ANY, Protocol::Tcp, 8080));
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Exact(8080)),
            Ok(8080)
        );
    }

    #[test]
    fn ipv6_addresses_are_bracketed_in_the_error() {
        let mut ports = PortAllocator::new(DEFAULT_RANGE);
        let v6: IpAddr = "::".parse().expect("v6");
        ports
            .request(v6, Protocol::Tcp, PortRequest::Exact(80))
            .expect("first");
        let err = ports
            .request(v6, Protocol::Tcp, PortRequest::Exact(80))
            .expect_err("taken");
        assert_eq!(
            err.to_string(),
            "Bind for [::]:80 failed: port is already allocated"
        );
    }

    #[test]
    fn any_is_serial_over_the_ephemeral_range_and_wraps() {
        let mut ports = PortAllocator::new(40000..=40002);
        ports
            .request(ANY, Protocol::Tcp, PortRequest::Exact(40001))
            .expect("exact");
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Any),
            Ok(40000)
        );
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Any),
            Ok(40002)
        );
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Any),
            Err(PortError::AllAllocated)
        );
        ports.release(ANY, Protocol::Tcp, 40000);
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Any),
            Ok(40000)
        );
    }

    #[test]
    fn ranges_are_checked_and_used() {
        let mut ports = PortAllocator::new(DEFAULT_RANGE);
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Range(8000..=8001)),
            Ok(8000)
        );
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Range(8000..=8001)),
            Ok(8001)
        );
        assert_eq!(
            ports.request(ANY, Protocol::Tcp, PortRequest::Range(8000..=8001)),
            Err(PortError::AllAllocated)
        );
        // A backwards range, as a parsed `-p 9000-8000:80` would give.
        let (start, end) = (9000, 8000);
        let err = ports
            .request(ANY, Protocol::Tcp, PortRequest::Range(start..=end))
            .expect_err("backwards");
        assert_eq!(err.to_string(), "invalid port range: 9000-8000");
    }

    #[test]
    fn kernel_range_is_parsed() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_range("garbage"), None);
        assert_eq!(parse_range("0 10"), None);
    }
}
