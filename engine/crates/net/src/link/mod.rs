//! Links, addresses and routes: the OS seam and what the service builds on it.
//!
//! [`Netlink`] is the seam (youki's `Syscall` style): every kernel call the
//! bridge driver makes, on one network namespace. [`Rtnl`] implements it over
//! rtnetlink; [`fake::FakeNetlink`] records calls and keeps a small model of
//! links, for the service's tests. [`ensure_bridge`], [`attach`] and
//! [`detach`] compose the calls into what the service needs, generic over the
//! seam.
//!
//! Interfaces are named by name (at most 15 bytes, as the kernel's
//! IFNAMSIZ); a name that does not exist gives [`LinkError::NotFound`], one
//! that does when creating gives [`LinkError::Exists`], so callers can
//! treat "already gone" and "already there" as they see fit.

pub mod fake;
mod ops;
mod rtnl;

use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::netns::{NetNs, NetNsError};

pub use ops::{BridgeConfig, EndpointConfig, attach, detach, ensure_bridge, remove_bridge};
pub use rtnl::Rtnl;

/// The kernel's limit on interface names, without the NUL.
pub const IFNAME_MAX: usize = 15;

/// A link operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No interface of that name.
    #[error("no such network interface {name:?}")]
    NotFound {
        /// The name.
        name: String,
    },
    /// An interface of that name exists already.
    #[error("network interface {name:?} exists already")]
    Exists {
        /// The name.
        name: String,
    },
    /// An empty name, or one longer than [`IFNAME_MAX`] or with `/`, blanks.
    #[error("invalid network interface name {name:?}")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// The kernel refused a request.
    #[error("{op} {name:?}: {source}")]
    Netlink {
        /// What was asked (`add bridge`, `set up`).
        op: &'static str,
        /// The interface (or route) it was about.
        name: String,
        /// rtnetlink's error.
        #[source]
        source: rtnetlink::Error,
    },
    /// Opening a netlink socket.
    #[error("cannot open a netlink socket")]
    Socket(#[source] std::io::Error),
    /// Entering the namespace to open a socket there.
    #[error(transparent)]
    Netns(#[from] NetNsError),
}

/// What kind of link it is (from `IFLA_INFO_KIND`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    /// A bridge.
    Bridge,
    /// One end of a veth pair.
    Veth,
    /// Loopback and physical devices have no kind.
    Other(String),
}

/// One interface as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: LinkKind,
    /// The bridge it is a port of, by index.
    pub controller: Option<u32>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Hardware address.
    pub mac: Option<MacAddr>,
}

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// dockerd's address for a container IP (before v26): `02:42` followed
    /// by the four bytes of the IPv4 address.
    pub fn from_ipv4(ip: Ipv4Addr) -> Self {
        let [a, b, c, d] = ip.octets();
        MacAddr([0x02, 0x42, a, b, c, d])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Text that is not `xx:xx:xx:xx:xx:xx`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid MAC address {0:?}")]
pub struct InvalidMac(pub String);

impl FromStr for MacAddr {
    type Err = InvalidMac;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidMac(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks an interface name against the kernel's rules.
pub fn check_name(name: &str) -> Result<(), LinkError> {
    let ok = !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(LinkError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// The kernel calls of the bridge driver, on one network namespace.
///
/// Every method acts on the namespace this value was made for; [`enter`]
/// gives a value for another namespace. Futures are `Send` so the service can
/// await them on any tokio worker.
///
/// [`enter`]: Netlink::enter
pub trait Netlink: Send + Sync + Sized {
    /// The same operations inside `ns`.
    fn enter(&self, ns: &NetNs) -> impl Future<Output = Result<Self, LinkError>> + Send;
    /// `ip link add NAME type bridge [mtu MTU]` (left down).
    fn add_bridge(
        &self,
        name: &str,
        mtu: Option<u32>,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link add NAME type veth peer name PEER`, both ends with `mtu`
    /// (left down).
    fn add_veth(
        &self,
        name: &str,
        peer: &str,
        mtu: Option<u32>,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME master BRIDGE`.
    fn set_controller(
        &self,
        name: &str,
        bridge: &str,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME type bridge_slave hairpin on|off`: whether the
    /// bridge may send a frame back out of the port it came in on. Needed
    /// for kernel hairpin NAT (a container reaching its own published port)
    /// when br_netfilter DNATs at the bridge, as dockerd sets it without
    /// the userland proxy.
    fn set_hairpin(
        &self,
        name: &str,
        on: bool,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME netns NS`.
    fn move_to_netns(
        &self,
        name: &str,
        ns: &NetNs,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME name NEW` (the link must be down).
    fn rename(
        &self,
        name: &str,
        new_name: &str,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME address MAC`.
    fn set_mac(
        &self,
        name: &str,
        mac: MacAddr,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME mtu MTU`.
    fn set_mtu(&self, name: &str, mtu: u32) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link set NAME up`.
    fn set_up(&self, name: &str) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip addr add ADDR/LEN dev NAME` ([`LinkError::Exists`] if it is there).
    fn add_address(
        &self,
        name: &str,
        addr: Ipv4Net,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip route add default via GATEWAY`.
    fn add_default_route(
        &self,
        gateway: Ipv4Addr,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link del NAME` (a veth takes its peer along, wherever it is).
    fn delete_link(&self, name: &str) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// `ip link show`.
    fn list_links(&self) -> impl Future<Output = Result<Vec<Link>, LinkError>> + Send;
    /// The IPv4 routes of the main table, as prefixes (the default route is
    /// `0.0.0.0/0`): what [`crate::ipam::Ipam::request_pool`] avoids.
    fn list_routes(&self) -> impl Future<Output = Result<Vec<Ipv4Net>, LinkError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse_print_and_follow_docker() {
        let mac = MacAddr::from_ipv4(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(mac.to_string(), "02:42:ac:11:00:02");
        assert_eq!("02:42:ac:11:00:02".parse::<MacAddr>(), Ok(mac));
        assert_eq!(
            serde_json::to_string(&mac).expect("json"),
            "\"02:42:ac:11:00:02\""
        );
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "0g:42:ac:11:00:02",
            "2:42:ac:11:00:002",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_names_follow_the_kernels_rules() {
        for ok in ["eth0", "skiff0", "br-0123456789a", "veth1234567"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "br-0123456789abc", "a/b", "a b", "..", "a:b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
