//! Daemon-level registry settings (`registry-mirrors`,
//! `insecure-registries`) and the matching of hosts against them.

use std::net::IpAddr;

use crate::error::RegistryError;

/// Registry settings of the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Docker Hub mirrors, tried in order before Docker Hub itself:
    /// absolute `http(s)://host[:port][/path]` URLs. Used for `docker.io`
    /// references only.
    pub mirrors: Vec<String>,
    /// Registries allowed over plain HTTP or with unverifiable TLS:
    /// `host[:port]` entries (matched exactly, case-insensitively) or CIDR
    /// ranges (`10.0.0.0/8`, matched against IP-literal hosts only; no DNS
    /// lookup is made). Loopback (`localhost`, `127.0.0.0/8`, `::1`) is
    /// always insecure, as in docker.
    pub insecure: Vec<String>,
    /// Longest silence tolerated while waiting for or reading a response
    /// (a hung registry fails the operation with `operation timed out`
    /// after it); `None`: 120 s. A slow registry that keeps sending is
    /// never cut off.
    pub read_timeout: Option<std::time::Duration>,
}

/// The parsed `insecure` list.
#[derive(Debug, Clone, Default)]
pub(crate) struct InsecureList {
    hosts: Vec<String>,
    ranges: Vec<Cidr>,
}

impl InsecureList {
    /// Parse the configured entries. A leading `http://` / `https://` and a
    /// trailing `/` are tolerated.
    pub(crate) fn parse(entries: &[String]) -> Result<Self, RegistryError> {
        let mut list = Self::default();
        for entry in entries {
            let trimmed = entry.trim();
            let bare = strip_scheme(trimmed).trim_end_matches('/');
            if bare.is_empty() {
                return Err(invalid(entry, "empty insecure registry entry"));
            }
            if bare.contains('/') {
                list.ranges
                    .push(Cidr::parse(bare).ok_or_else(|| invalid(entry, "invalid CIDR"))?);
            } else {
                list.hosts.push(bare.to_ascii_lowercase());
            }
        }
        Ok(list)
    }

    /// True when `host` (`host[:port]`, IPv6 in brackets) is insecure:
    /// loopback, listed, or an IP inside a listed range.
    pub(crate) fn contains(&self, host: &str) -> bool {
        if is_loopback(host) || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return true;
        }
        host_ip(host).is_some_and(|ip| self.ranges.iter().any(|r| r.contains(ip)))
    }
}

/// `s` without a leading `http://` or `https://` (any case).
pub(crate) fn strip_scheme(s: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if s.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            return &s[scheme.len()..];
        }
    }
    s
}

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The IP of an IP-literal `host[:port]`.
fn host_ip(host: &str) -> Option<IpAddr> {
    host_name(host).parse().ok()
}

/// `host[:port]` → host (brackets of IPv6 removed). A bare IPv6 address
/// without brackets is returned whole.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(inner, _)| inner);
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

fn invalid(entry: &str, reason: &str) -> RegistryError {
    RegistryError::InvalidAddress {
        address: entry.to_owned(),
        reason: reason.to_owned(),
    }
}

/// An IP range `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u32 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> InsecureList {
        InsecureList::parse(&entries.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("valid list")
    }

    #[test]
    fn loopback_is_always_insecure() {
        let l = list(&[]);
        for host in [
            "localhost",
            "LOCALHOST:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.9.9.9:1",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(l.contains(host), "{host}");
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[fe80::1]:5000",
        ] {
            assert!(!l.contains(host), "{host}");
        }
    }

    #[test]
    fn hosts_match_exactly_and_ranges_by_ip() {
        let l = list(&[
            "myreg:5000",
            "HTTP://Other.Example/",
            "10.0.0.0/8",
            "fd00::/8",
            "192.168.1.7/32",
        ]);
        assert!(l.contains("myreg:5000"));
        assert!(l.contains("MyReg:5000"));
        assert!(!l.contains("myreg"), "port is part of the name");
        assert!(!l.contains("myreg:5001"));
        assert!(l.contains("other.example"));
        assert!(l.contains("10.1.2.3:5000"));
        assert!(l.contains("10.255.255.255"));
        assert!(!l.contains("11.0.0.1"));
        assert!(l.contains("[fd12::1]:443"));
        assert!(!l.contains("[fe80::1]"));
        assert!(l.contains("192.168.1.7:80"));
        assert!(!l.contains("192.168.1.8:80"));
    }

    #[test]
    fn zero_prefix_matches_everything_of_its_family() {
        let l = list(&["0.0.0.0/0"]);
        assert!(l.contains("8.8.8.8"));
        assert!(!l.contains("[2001:db8::1]"));
    }

    #[test]
    fn rejects_bad_entries() {
        for bad in ["", "10.0.0.0/33", "nonsense/8", "10.0.0.0/x"] {
            assert!(InsecureList::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
