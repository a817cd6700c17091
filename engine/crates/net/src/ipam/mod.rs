//! IPv4 address management for bridge networks, as dockerd's default IPAM.
//!
//! Pure bookkeeping: no kernel calls. The caller (the networks service)
//! passes in the host's routes when it asks for a subnet, and persists the
//! whole [`Ipam`] (it is `Serialize`/`Deserialize`) atomically after each
//! change, so addresses survive a restart.
//!
//! Contract:
//! - [`Ipam::request_pool`] without a subnet hands out the first of dockerd's
//!   default pools ([`pools::default_pools`]) that overlaps neither a subnet
//!   already handed out nor one of the host's routes;
//! - a requested subnet must not overlap one already handed out (dockerd's
//!   "Pool overlaps with other one on this address space"); it is not checked
//!   against the host's routes, as dockerd does not;
//! - addresses: see [`Subnet`]; a requested address (`--ip`) is honoured or
//!   refused with dockerd's wording ([`IpamError`]).

pub mod pools;
mod subnet;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use subnet::Subnet;

/// Why an IPAM request failed. The `Display` texts are dockerd's, so the API
/// layer can pass them through.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    /// Every default pool overlaps a network or a host route.
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoMoreSubnets,
    /// The requested subnet overlaps one already handed out.
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    PoolOverlap {
        /// The subnet asked for.
        subnet: Ipv4Net,
    },
    /// A subnet with host bits set (`172.20.0.5/16`).
    #[error("invalid subnet {given}: it should be {expected}")]
    SubnetNotCanonical {
        /// As given.
        given: Ipv4Net,
        /// With the host bits cleared.
        expected: Ipv4Net,
    },
    /// An ip-range that is not a canonical prefix inside the subnet.
    #[error("invalid ip-range {range}: {reason}")]
    InvalidIpRange {
        /// As given.
        range: Ipv4Net,
        /// dockerd's explanation.
        reason: String,
    },
    /// A gateway outside the subnet.
    #[error("invalid gateway {gateway}: parent subnet {subnet} doesn't contain this address")]
    GatewayNotInSubnet {
        /// As given.
        gateway: Ipv4Addr,
        /// The network's subnet.
        subnet: Ipv4Net,
    },
    /// A requested address (`--ip`) outside every subnet of the network.
    #[error("Invalid address {ip}: It does not belong to any of this network's subnets")]
    AddressNotInSubnet {
        /// As requested.
        ip: Ipv4Addr,
    },
    /// A requested address that is taken (or is the network/broadcast address).
    #[error("Address already in use")]
    AddressInUse {
        /// As requested.
        ip: Ipv4Addr,
    },
    /// The range has no free address left.
    #[error("no available addresses on this pool")]
    NoAvailableAddresses {
        /// The subnet that is full.
        subnet: Ipv4Net,
    },
    /// `--ip-range` or `--gateway` without `--subnet`.
    #[error("every ip-range or gateway must have a corresponding subnet")]
    MissingSubnet,
    /// No subnet handed out under that prefix.
    #[error("cannot find address pool for {subnet}")]
    UnknownSubnet {
        /// As given.
        subnet: Ipv4Net,
    },
}

/// What `docker network create` asked for (`--subnet`, `--ip-range`,
/// `--gateway`); all `None` means "any default pool".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolRequest {
    /// `--subnet`.
    pub subnet: Option<Ipv4Net>,
    /// `--ip-range`; only with a subnet.
    pub ip_range: Option<Ipv4Net>,
    /// `--gateway`; only with a subnet.
    pub gateway: Option<Ipv4Addr>,
}

/// The subnets of all bridge networks and their addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    /// The pools dynamic subnets come from, in order.
    pools: Vec<Ipv4Net>,
    /// Subnets handed out, ordered by prefix.
    subnets: Vec<Subnet>,
}

impl Default for Ipam {
    fn default() -> Self {
        Ipam::with_pools(pools::default_pools())
    }
}

impl Ipam {
    /// An IPAM over dockerd's default pools.
    pub fn new() -> Self {
        Ipam::default()
    }

    /// An IPAM over other pools (dockerd's `default-address-pools`).
    pub fn with_pools(pools: Vec<Ipv4Net>) -> Self {
        Ipam {
            pools,
            subnets: Vec::new(),
        }
    }

    /// Hands out a subnet for a new network.
    ///
    /// `host_routes` are the host's IPv4 routes (on-link ones are what
    /// matters; default routes are ignored). They are only consulted when no
    /// subnet is requested. A requested subnet and its range/gateway are
    /// validated with dockerd's messages first.
    pub fn request_pool(
        &mut self,
        req: &PoolRequest,
        host_routes: &[Ipv4Net],
    ) -> Result<&Subnet, IpamError> {
        let subnet = match req.subnet {
            Some(subnet) => {
                validate(subnet, req)?;
                if self
                    .subnets
                    .iter()
                    .any(|s| pools::overlaps(&s.subnet, &subnet))
                {
                    return Err(IpamError::PoolOverlap { subnet });
                }
                subnet
            }
            None if req.ip_range.is_some() || req.gateway.is_some() => {
                return Err(IpamError::MissingSubnet);
            }
            None => {
                let allocated: Vec<Ipv4Net> = self.subnets.iter().map(|s| s.subnet).collect();
                pools::first_free(&self.pools, &allocated, host_routes)
                    .ok_or(IpamError::NoMoreSubnets)?
            }
        };
        let entry = Subnet::new(subnet, req.ip_range, req.gateway)?;
        let at = self.subnets.partition_point(|s| s.subnet < subnet);
        self.subnets.insert(at, entry);
        Ok(&self.subnets[at])
    }

    /// Forgets a network's subnet and all its addresses. Returns whether it
    /// was handed out.
    pub fn release_pool(&mut self, subnet: Ipv4Net) -> bool {
        let before = self.subnets.len();
        self.subnets.retain(|s| s.subnet != subnet);
        self.subnets.len() != before
    }

    /// The subnet handed out under `subnet`, if any.
    pub fn subnet(&self, subnet: Ipv4Net) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.subnet == subnet)
    }

    /// All subnets handed out, ordered by prefix.
    pub fn subnets(&self) -> &[Subnet] {
        &self.subnets
    }

    /// Hands out an address of `subnet` to an endpoint: `preferred` (`--ip`)
    /// exactly, or else the next free one of the range.
    pub fn request_address(
        &mut self,
        subnet: Ipv4Net,
        preferred: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, IpamError> {
        let entry = self.subnet_mut(subnet)?;
        match preferred {
            Some(ip) => entry.reserve(ip),
            None => entry.next_free(),
        }
    }

    /// Gives an endpoint's address back. Returns whether it was handed out
    /// (releasing twice, or releasing the gateway, is a no-op).
    pub fn release_address(&mut self, subnet: Ipv4Net, ip: Ipv4Addr) -> Result<bool, IpamError> {
        Ok(self.subnet_mut(subnet)?.release(ip))
    }

    fn subnet_mut(&mut self, subnet: Ipv4Net) -> Result<&mut Subnet, IpamError> {
        self.subnets
            .iter_mut()
            .find(|s| s.subnet == subnet)
            .ok_or(IpamError::UnknownSubnet { subnet })
    }
}

/// dockerd's checks of `--subnet`, `--ip-range` and `--gateway`.
fn validate(subnet: Ipv4Net, req: &PoolRequest) -> Result<(), IpamError> {
    if subnet.trunc() != subnet {
        return Err(IpamError::SubnetNotCanonical {
            given: subnet,
            expected: subnet.trunc(),
        });
    }
    if let Some(range) = req.ip_range {
        let reason = if range.prefix_len() < subnet.prefix_len() {
            Some(format!(
                "CIDR block is bigger than its parent subnet {subnet}"
            ))
        } else if range.trunc() != range {
            Some(format!("it should be {}", range.trunc()))
        } else if !pools::overlaps(&subnet, &range) {
            Some(format!("parent subnet {subnet} doesn't contain ip-range"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(IpamError::InvalidIpRange { range, reason });
        }
    }
    if let Some(gateway) = req.gateway
        && !subnet.contains(&gateway)
    {
        return Err(IpamError::GatewayNotInSubnet { gateway, subnet });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
