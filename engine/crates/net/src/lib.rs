//! skiff-net: the kernel half of skiffd's container networking.
//!
//! What dockerd's libnetwork bridge driver does below its API, as a library
//! the networks service drives. Each module states its own contract:
//!
//! - [`ipam`]: IPv4 subnets and addresses for bridge networks, with dockerd's
//!   default pools (`172.17.0.0/16`, then `172.18`–`172.31.0.0/16`, then
//!   `192.168.0.0/16` in /20s), skipping pools that overlap a host route;
//!   serialisable, so the service persists it. Pure, no kernel calls.
//! - [`netns`]: network namespace handles (by path or fd), running code
//!   inside one on a throw-away thread, creating and pinning namespaces.
//! - [`link`]: bridges, veth pairs, addresses, routes over rtnetlink behind
//!   the [`link::Netlink`] trait (the OS seam, youki's `Syscall` style, with a
//!   recording fake for the service's tests), and the two compositions the
//!   service needs: [`link::ensure_bridge`] and [`link::attach`]/[`link::detach`].
//! - [`nft`]: skiff's NAT and filter rules (masquerade, published-port DNAT,
//!   hairpin, isolation between bridges, internal networks) generated as
//!   typed `nft -j` data, applied as one table of skiff's own, replaced
//!   atomically; nothing else in the ruleset is ever flushed or touched.
//! - [`proxy`]: the userland proxy of one published port (what
//!   `docker-proxy` does), TCP with half-close and UDP with per-client flows.
//! - [`ports`]: host port bookkeeping with dockerd's "port is already
//!   allocated" error and ephemeral ports for `-p CONTAINER`.
//!
//! - [`dns`]: the embedded DNS server of a container on user-defined
//!   networks (`127.0.0.11`): container names from the networks service
//!   through the [`dns::Names`] seam, forwarding the rest upstream.
//! - [`resolvconf`], [`hosts`]: the container's `/etc/resolv.conf`,
//!   `/etc/hosts` and `/etc/hostname`, rendered as dockerd writes them. Pure.
//!
//! Not here yet: IPv6, and the wiring into skiffd's services and API (the
//! networks service, endpoints on container start/stop, restart
//! reconciliation). Those build on this crate.
//!
//! Dependencies: `rtnetlink` 0.22, the newest release on the
//! netlink-packet-core/netlink-sys 0.8 and nix 0.30 that youki's
//! libcontainer already uses (no release shares its netlink-packet-route
//! 0.31: 0.21 has 0.30, 0.22 has 0.32, so that one parsing crate is built
//! twice); `nftables` for the typed `nft -j` schema (skiff runs `nft`
//! itself to capture its stderr, see [`nft`]); `ipnet` for prefixes;
//! `hickory-proto` for the DNS wire format (forwarding is a plain exchange
//! on it, see [`dns::forward`]; the tests use `hickory-net`'s client).
//!
//! Tests: the unit tests need nothing; `tests/links.rs` and `tests/nft.rs`
//! need root and `nft`, and run each test in a network namespace of its own
//! (nothing reaches the host's), as does `tests/dns.rs` (skipped without
//! root); `tests/proxy.rs` uses 127.0.0.1 only.
//!
//! Coexistence with dockerd on one host: skiff's rules live in their own
//! nftables table. When dockerd's iptables(-nft) `FORWARD` chain has policy
//! `DROP`, forwarded traffic of skiff's bridges is dropped there too; an
//! accept in skiff's table cannot override another table's drop. The service
//! must detect that (as dockerd's `DOCKER-USER` documentation describes) —
//! this crate does not edit other tables.

#![warn(missing_docs)]

pub mod dns;
pub mod hosts;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod proxy;
pub mod resolvconf;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `/tcp`, the default.
    Tcp,
    /// `/udp`.
    Udp,
}

impl Protocol {
    /// `"tcp"` or `"udp"`, as docker prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name other than tcp/udp.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown protocol {0:?}")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(UnknownProtocol(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_round_trips() {
        for p in [Protocol::Tcp, Protocol::Udp] {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).expect("json"), format!("\"{p}\""));
        }
        assert_eq!(
            "sctp".parse::<Protocol>(),
            Err(UnknownProtocol("sctp".into()))
        );
    }
}
