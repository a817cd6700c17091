//! What the networks service does with links: bridges and container endpoints.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{LinkError, LinkKind, MacAddr, Netlink};
use crate::netns::NetNs;

/// A bridge network's device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Device name (`skiff0`, `br-<12 hex of the network id>`).
    pub name: String,
    /// MTU (`com.docker.network.driver.mtu`); `None` is the kernel's 1500.
    pub mtu: Option<u32>,
    /// The gateway address with the subnet's prefix length (`172.18.0.1/16`).
    pub address: Ipv4Net,
}

/// A container's interface on a bridge network.
#[derive(Debug)]
pub struct EndpointConfig<'a> {
    /// The bridge to plug the host end into.
    pub bridge: &'a str,
    /// The host end's name (`veth` + 7 hex, as dockerd).
    pub host_ifname: &'a str,
    /// The container end's name while it is still on the host; must be
    /// unique on the host, like `host_ifname`.
    pub temp_ifname: &'a str,
    /// The container's network namespace.
    pub netns: &'a NetNs,
    /// The name inside the container (`eth0`).
    pub ifname: &'a str,
    /// The container end's MAC address.
    pub mac: MacAddr,
    /// The container's address with the subnet's prefix length.
    pub address: Ipv4Net,
    /// The default route's gateway; `None` for `--internal` networks
    /// without one, or a second network of the container.
    pub gateway: Option<Ipv4Addr>,
    /// MTU of both ends (the bridge's).
    pub mtu: Option<u32>,
    /// Hairpin mode on the host end's bridge port: on when published ports
    /// use the kernel's hairpin NAT ([`crate::nft::Firewall::hairpin`]).
    pub hairpin: bool,
}

/// Makes sure the bridge exists, has its address and is up. Idempotent: an
/// existing bridge of that name (as after a skiffd restart) is kept and
/// completed; an existing non-bridge of that name is [`LinkError::Exists`].
pub async fn ensure_bridge<N: Netlink>(nl: &N, cfg: &BridgeConfig) -> Result<(), LinkError> {
    let existing = nl
        .list_links()
        .await?
        .into_iter()
        .find(|l| l.name == cfg.name);
    match existing {
        Some(link) if link.kind != LinkKind::Bridge => {
            return Err(LinkError::Exists {
                name: cfg.name.clone(),
            });
        }
        Some(_) => {}
        None => nl.add_bridge(&cfg.name, cfg.mtu).await?,
    }
    match nl.add_address(&cfg.name, cfg.address).await {
        Ok(()) | Err(LinkError::Exists { .. }) => {}
        Err(e) => return Err(e),
    }
    nl.set_up(&cfg.name).await
}

/// Deletes the bridge; one that is already gone is fine.
pub async fn remove_bridge<N: Netlink>(nl: &N, name: &str) -> Result<(), LinkError> {
    match nl.delete_link(name).await {
        Ok(()) | Err(LinkError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Plugs a container into a bridge: a veth pair, the host end on the bridge
/// (in hairpin mode if asked) and up, the other end moved into the container's namespace, renamed,
/// given its MAC, MTU and address, up, `lo` up, and the default route.
///
/// On any failure the pair is deleted again (deleting the host end takes
/// the other along, wherever it is), so nothing is left half-made.
pub async fn attach<N: Netlink>(nl: &N, ep: &EndpointConfig<'_>) -> Result<(), LinkError> {
    nl.add_veth(ep.host_ifname, ep.temp_ifname, ep.mtu).await?;
    let result = plug(nl, ep).await;
    if result.is_err() {
        let _ = nl.delete_link(ep.host_ifname).await;
    }
    result
}

async fn plug<N: Netlink>(nl: &N, ep: &EndpointConfig<'_>) -> Result<(), LinkError> {
    nl.set_controller(ep.host_ifname, ep.bridge).await?;
    if ep.hairpin {
        nl.set_hairpin(ep.host_ifname, true).await?;
    }
    nl.set_up(ep.host_ifname).await?;
    nl.move_to_netns(ep.temp_ifname, ep.netns).await?;
    let inside = nl.enter(ep.netns).await?;
    inside.rename(ep.temp_ifname, ep.ifname).await?;
    inside.set_mac(ep.ifname, ep.mac).await?;
    inside.add_address(ep.ifname, ep.address).await?;
    inside.set_up(ep.ifname).await?;
    inside.set_up("lo").await?;
    if let Some(gateway) = ep.gateway {
        inside.add_default_route(gateway).await?;
    }
    Ok(())
}

/// Unplugs a container: deletes the host end (and so the pair). One that
/// is already gone (the namespace died with the container) is fine.
pub async fn detach<N: Netlink>(nl: &N, host_ifname: &str) -> Result<(), LinkError> {
    match nl.delete_link(host_ifname).await {
        Ok(()) | Err(LinkError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
