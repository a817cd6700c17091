//! A container's interfaces while it runs: [`NetworkService::join`] before
//! its process starts, [`NetworkService::leave`] after it exits,
//! [`NetworkService::restore`] after a skiffd restart.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use skiff_net::link::{BridgeConfig, EndpointConfig, MacAddr};
use skiff_net::netns::NetNs;

use super::ports::PortSpec;
use super::record::{Attachment, Driver, Endpoint, NetState, NetworkRecord};
use super::{NetworkError, NetworkService, new_id};

/// What a container's start needs of its networking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joined {
    /// The namespace file to join (`None`: no bridge network, the runtime
    /// makes a namespace with `lo` only).
    pub netns: Option<PathBuf>,
    /// The container's addresses (for `/etc/hosts`), first network first.
    pub addresses: Vec<Ipv4Addr>,
    /// The first network's gateway (`--add-host NAME:host-gateway`).
    pub gateway: Option<Ipv4Addr>,
    /// On a user-defined network: resolv.conf points at the embedded DNS
    /// server ([`NetworkService::start_dns`]).
    pub embedded_dns: bool,
}

/// The container end's name inside the namespace, per network in order.
fn ifname(n: usize) -> String {
    format!("eth{n}")
}

impl NetworkService {
    /// Blocking: gives container `id` an interface on each bridge network
    /// it is attached to (a namespace of its own, a veth pair whose host
    /// end is on the network's bridge, an address, the default route via
    /// the first network's gateway) and publishes `ports` (on the first
    /// bridge network). Persisted before it returns; on failure whatever
    /// was set up is undone, and the error is dockerd's.
    pub fn join(&self, id: &str, ports: &[PortSpec]) -> Result<Joined, NetworkError> {
        let mut st = self.lock();
        let Some(c) = st.containers.get(id).cloned() else {
            return Ok(Joined::default());
        };
        let mut bridges = Vec::new();
        for (net_id, att) in &c.attachments {
            let net = st
                .networks
                .get(net_id)
                .cloned()
                .ok_or_else(|| NetworkError::NotFound(net_id.clone()))?;
            if net.driver == Driver::Bridge {
                let net = self.reelect_default_bridge(&mut st, &net)?.unwrap_or(net);
                bridges.push((net, att.clone()));
            }
        }
        if bridges.is_empty() {
            if !ports.is_empty() {
                self.publish(&mut st, id, &c.name, None, ports)?;
            }
            return Ok(Joined::default());
        }
        let ns = self.kernel.new_netns()?;
        let result = self.join_all(&mut st, id, &ns, &bridges, ports);
        match result {
            Ok(addresses) => {
                let pinned = self.sandbox_key(id);
                let path = match self.kernel.pin_netns(&ns, &pinned) {
                    Ok(()) if pinned.exists() => pinned,
                    Ok(()) => netns_path(&ns),
                    Err(e) => {
                        self.release(&mut st, id);
                        let _ = self.save(&st);
                        return Err(e);
                    }
                };
                self.save(&st)?;
                self.sync_firewall(&st)?;
                self.live().netns.insert(id.to_owned(), ns);
                for (net, _) in &bridges {
                    self.event("connect", net, &[("container", id)]);
                }
                Ok(Joined {
                    netns: Some(path),
                    addresses,
                    gateway: bridges.first().and_then(|(net, _)| net.gateway),
                    embedded_dns: super::dns::on_user_network(&st, id),
                })
            }
            Err(e) => {
                self.release(&mut st, id);
                let _ = self.save(&st);
                Err(e)
            }
        }
    }

    fn join_all(
        &self,
        st: &mut NetState,
        id: &str,
        ns: &NetNs,
        bridges: &[(NetworkRecord, Attachment)],
        ports: &[PortSpec],
    ) -> Result<Vec<Ipv4Addr>, NetworkError> {
        let mut addresses = Vec::new();
        for (n, (net, att)) in bridges.iter().enumerate() {
            let ep = self.plug(st, ns, net, att, n, n == 0)?;
            addresses.push(ep.ip);
            if let Some(c) = st.containers.get_mut(id) {
                c.endpoints.insert(net.id.clone(), ep);
            }
        }
        if !ports.is_empty() {
            let name = st
                .containers
                .get(id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let first = bridges.first().map(|(net, _)| net.id.clone());
            self.publish(st, id, &name, first.as_deref(), ports)?;
        }
        Ok(addresses)
    }

    /// One endpoint: an address, the bridge made sure of, the veth pair.
    pub(super) fn plug(
        &self,
        st: &mut NetState,
        ns: &NetNs,
        net: &NetworkRecord,
        att: &Attachment,
        index: usize,
        default_route: bool,
    ) -> Result<Endpoint, NetworkError> {
        let (Some(subnet), Some(gateway), Some(bridge)) = (net.subnet, net.gateway, &net.bridge)
        else {
            return Err(NetworkError::Invalid(format!(
                "network {} has no subnet",
                net.name
            )));
        };
        let ip = st.ipam.request_address(subnet, att.ipv4)?;
        let result = (|| {
            let address = Ipv4Net::new(gateway, subnet.prefix_len())
                .map_err(|e| NetworkError::Invalid(e.to_string()))?;
            self.kernel.ensure_bridge(&BridgeConfig {
                name: bridge.clone(),
                mtu: net.mtu(),
                address,
            })?;
            let ep_id = new_id();
            let host_ifname = format!("veth{}", &ep_id[..7]);
            let temp_ifname = format!("vt{}", &ep_id[..7]);
            let mac = att.mac.unwrap_or_else(|| MacAddr::from_ipv4(ip));
            let container_addr = Ipv4Net::new(ip, subnet.prefix_len())
                .map_err(|e| NetworkError::Invalid(e.to_string()))?;
            let eth = ifname(index);
            self.kernel.attach(&EndpointConfig {
                bridge,
                host_ifname: &host_ifname,
                temp_ifname: &temp_ifname,
                netns: ns,
                ifname: &eth,
                mac,
                address: container_addr,
                gateway: (default_route && !net.internal).then_some(gateway),
                mtu: net.mtu(),
                hairpin: false,
            })?;
            Ok(Endpoint {
                id: ep_id,
                ip,
                prefix: subnet.prefix_len(),
                gateway,
                mac,
                host_ifname,
            })
        })();
        if result.is_err() {
            let _ = st.ipam.release_address(subnet, ip);
        }
        result
    }

    /// Blocking: releases what [`Self::join`] gave container `id` (veths,
    /// addresses, ports, proxies, its namespace handle) and publishes
    /// `disconnect` per network. Idempotent; the container's attachments
    /// stay.
    pub fn leave(&self, id: &str) {
        let mut st = self.lock();
        let nets: Vec<NetworkRecord> = st
            .containers
            .get(id)
            .map(|c| {
                c.endpoints
                    .keys()
                    .filter_map(|n| st.networks.get(n).cloned())
                    .collect()
            })
            .unwrap_or_default();
        let had = self.release(&mut st, id);
        if had && let Err(e) = self.sync_firewall(&st) {
            tracing::warn!("container {id}: {e}");
        }
        if let Err(e) = self.save(&st) {
            tracing::warn!("container {id}: {e}");
        }
        drop(st);
        for net in nets {
            self.event("disconnect", &net, &[("container", id)]);
        }
    }

    /// Undoes a join in memory and in the kernel; returns whether there
    /// was anything. The caller saves.
    pub(super) fn release(&self, st: &mut NetState, id: &str) -> bool {
        let proxies = {
            let mut live = self.live();
            live.netns.remove(id);
            live.dns.remove(id);
            live.proxies.remove(id).unwrap_or_default()
        };
        drop(proxies);
        if let Err(e) = self.kernel.unpin_netns(&self.sandbox_key(id)) {
            tracing::warn!("container {id}: {e}");
        }
        let Some(c) = st.containers.get_mut(id) else {
            return false;
        };
        c.dns = None;
        let endpoints = std::mem::take(&mut c.endpoints);
        let ports = std::mem::take(&mut c.ports);
        let had = !endpoints.is_empty() || !ports.is_empty();
        for (net_id, ep) in endpoints {
            if let Err(e) = self.kernel.detach(&ep.host_ifname) {
                tracing::warn!("container {id}: {e}");
            }
            if let Some(subnet) = st.networks.get(&net_id).and_then(|n| n.subnet) {
                let _ = st.ipam.release_address(subnet, ep.ip);
            }
            self.remove_idle_bridge(st, &net_id);
        }
        self.release_ports(&ports);
        had
    }

    /// Removes network `net_id`'s bridge device when no endpoint is left on
    /// it (the module contract: a bridge exists only while a container is
    /// connected). The caller holds the state lock, so no join races it.
    pub(super) fn remove_idle_bridge(&self, st: &NetState, net_id: &str) {
        if st.endpoints_on(net_id).next().is_some() {
            return;
        }
        if let Some(bridge) = st.networks.get(net_id).and_then(|n| n.bridge.as_deref())
            && let Err(e) = self.kernel.remove_bridge(bridge)
        {
            tracing::warn!("removing bridge {bridge}: {e}");
        }
    }

    /// After a skiffd restart: `running(id)` says whether a container with
    /// endpoints still runs. Those that do get their proxies back and the
    /// firewall re-applied; those that do not are released (their veths
    /// died with their namespace, their addresses and ports go back).
    pub fn restore(&self, running: impl Fn(&str) -> bool) {
        let mut st = self.lock();
        let ids: Vec<String> = st
            .containers
            .iter()
            .filter(|(_, c)| !c.endpoints.is_empty() || !c.ports.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = false;
        for id in ids {
            if running(&id) {
                self.reserve_ports(&st, &id);
                let setup = st.containers.get(&id).and_then(|c| c.dns.clone());
                if let Some(setup) = setup
                    && let Err(e) = self.spawn_dns(&id, &self.sandbox_key(&id), &setup)
                {
                    tracing::warn!("container {id}: embedded DNS server: {e}");
                }
            } else {
                changed |= self.release(&mut st, &id);
            }
        }
        let _ = self.save(&st);
        let busy = st
            .containers
            .values()
            .any(|c| !c.endpoints.is_empty() || !c.ports.is_empty());
        // The table the dead daemon left may still DNAT to dead containers.
        if (busy || changed)
            && let Err(e) = self.sync_firewall(&st)
        {
            tracing::warn!("restoring the firewall: {e}");
        }
    }
}

/// A path other processes (the runtime) can open to join `ns` while this
/// daemon holds it.
fn netns_path(ns: &NetNs) -> PathBuf {
    use std::os::fd::{AsFd, AsRawFd};
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        ns.as_fd().as_raw_fd()
    ))
}
