//! The addresses of one subnet: which are handed out, and the next to hand out.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::IpamError;

/// One allocated subnet (a network's `IPAM.Config` entry) and its addresses.
///
/// Contract:
/// - the network address and the broadcast address of `subnet` are never
///   handed out (except in a /31 or /32, which have neither);
/// - the gateway is reserved for as long as the subnet exists;
/// - an address is handed out at most once until it is released;
/// - dynamic addresses come from `ip_range` (or the whole subnet), in order,
///   starting after the last one handed out and wrapping around, as dockerd's
///   serial allocation does, so a released address is not reused at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The subnet, canonical (host bits zero).
    pub subnet: Ipv4Net,
    /// Where dynamic addresses come from, inside `subnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// The gateway (the bridge's address), reserved.
    pub gateway: Ipv4Addr,
    /// Addresses handed out, the gateway included.
    allocated: BTreeSet<Ipv4Addr>,
    /// The last address handed out dynamically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<Ipv4Addr>,
}

impl Subnet {
    /// A subnet with nothing handed out but its gateway. `gateway` `None`
    /// takes the first free address of the range, as dockerd does.
    pub(super) fn new(
        subnet: Ipv4Net,
        ip_range: Option<Ipv4Net>,
        gateway: Option<Ipv4Addr>,
    ) -> Result<Self, IpamError> {
        let mut s = Subnet {
            subnet,
            ip_range,
            gateway: Ipv4Addr::UNSPECIFIED,
            allocated: BTreeSet::new(),
            last: None,
        };
        s.gateway = match gateway {
            Some(gw) => s.reserve(gw)?,
            None => s.next_free()?,
        };
        // The gateway does not move the serial cursor.
        s.last = None;
        Ok(s)
    }

    /// Whether `ip` is handed out (the gateway included).
    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.allocated.contains(&ip)
    }

    /// The addresses handed out to endpoints (the gateway excluded), in order.
    pub fn endpoints(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.allocated
            .iter()
            .copied()
            .filter(move |ip| *ip != self.gateway)
    }

    /// Whether `ip` can never be handed out: the subnet's network or
    /// broadcast address.
    fn is_special(&self, ip: Ipv4Addr) -> bool {
        self.subnet.prefix_len() < 31
            && (ip == self.subnet.network() || ip == self.subnet.broadcast())
    }

    /// Hands out `ip` exactly, or says why not (docker's wording).
    pub(super) fn reserve(&mut self, ip: Ipv4Addr) -> Result<Ipv4Addr, IpamError> {
        if !self.subnet.contains(&ip) {
            return Err(IpamError::AddressNotInSubnet { ip });
        }
        if self.is_special(ip) || self.allocated.contains(&ip) {
            return Err(IpamError::AddressInUse { ip });
        }
        self.allocated.insert(ip);
        Ok(ip)
    }

    /// Hands out the next free address of the range after the last one.
    pub(super) fn next_free(&mut self) -> Result<Ipv4Addr, IpamError> {
        let range = self.ip_range.unwrap_or(self.subnet);
        let first = u32::from(range.network());
        let last = u32::from(range.broadcast());
        let size = u64::from(last - first) + 1;
        // Offset (from `first`) of the address after the last one handed out.
        let start = match self.last {
            Some(prev) if range.contains(&prev) => u64::from(u32::from(prev) - first) + 1,
            _ => 0,
        };
        for step in 0..size {
            let offset = (start + step) % size;
            // offset < size <= 2^32, so it fits in u32 and first + offset <= last.
            let ip = Ipv4Addr::from(first + offset as u32);
            if !self.is_special(ip) && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(IpamError::NoAvailableAddresses {
            subnet: self.subnet,
        })
    }

    /// Gives `ip` back. Returns whether it was handed out; the gateway is
    /// never released this way.
    pub(super) fn release(&mut self, ip: Ipv4Addr) -> bool {
        ip != self.gateway && self.allocated.remove(&ip)
    }
}
