//! A container's interfaces while it runs: [`NetworkService::join`] before
//! its process starts, [`NetworkService::leave`] after it exits,
//! [`NetworkService::restore`] after a skiffd restart.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use skiff_net::link::{BridgeConfig, EndpointConfig, LinkError, MacAddr};
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

/// An endpoint recorded, before its kernel half is made.
struct Plan {
    net: NetworkRecord,
    /// Its place among the container's networks (`eth<index>`).
    index: usize,
    /// Whether it carries the default route.
    default_route: bool,
    endpoint: Endpoint,
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
    ///
    /// The kernel work (namespace, bridge, veth: tens of ms under load)
    /// runs without the state lock, under the container's own lock: the
    /// endpoints are recorded in memory first, so their addresses are
    /// taken and their networks cannot be removed meanwhile.
    pub fn join(&self, id: &str, ports: &[PortSpec]) -> Result<Joined, NetworkError> {
        let op = self.container_op(id);
        let _op = op.lock().unwrap_or_else(|p| p.into_inner());
        let plans = {
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
            let mut plans = Vec::new();
            for (n, (net, att)) in bridges.into_iter().enumerate() {
                match self.reserve(&mut st, &net, &att, n, n == 0) {
                    Ok(plan) => {
                        if let Some(c) = st.containers.get_mut(id) {
                            c.endpoints.insert(net.id.clone(), plan.endpoint.clone());
                        }
                        plans.push(plan);
                    }
                    Err(e) => {
                        self.release_with(&mut st, id, &[]);
                        return Err(e);
                    }
                }
            }
            plans
        };
        let wired = self.wire_all(&plans);
        let mut st = self.lock();
        let ns = match wired {
            Ok(ns) => ns,
            Err(e) => {
                // Nothing of the plans is left in the kernel.
                let gone: Vec<String> = plans
                    .iter()
                    .map(|p| p.endpoint.host_ifname.clone())
                    .collect();
                self.release_with(&mut st, id, &gone);
                let _ = self.save(&st);
                return Err(e);
            }
        };
        if !ports.is_empty() {
            let name = st
                .containers
                .get(id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let first = plans.first().map(|p| p.net.id.clone());
            if let Err(e) = self.publish(&mut st, id, &name, first.as_deref(), ports) {
                self.release(&mut st, id);
                let _ = self.save(&st);
                return Err(e);
            }
        }
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
        let staged = self.stage(&st)?;
        self.sync_firewall(&st)?;
        self.live().netns.insert(id.to_owned(), ns);
        let embedded_dns = super::dns::on_user_network(&st, id);
        drop(st);
        self.commit(staged)?;
        for plan in &plans {
            self.event("connect", &plan.net, &[("container", id)]);
        }
        Ok(Joined {
            netns: Some(path),
            addresses: plans.iter().map(|p| p.endpoint.ip).collect(),
            gateway: plans.first().and_then(|p| p.net.gateway),
            embedded_dns,
        })
    }

    /// The kernel half of a join, without the state lock: a namespace, and
    /// each plan's bridge and veth in it. On failure the veths made are
    /// deleted again.
    fn wire_all(&self, plans: &[Plan]) -> Result<NetNs, NetworkError> {
        let ns = self.kernel.new_netns()?;
        for (n, plan) in plans.iter().enumerate() {
            if let Err(e) = self.wire(&ns, plan) {
                for done in &plans[..n] {
                    if let Err(e) = self.kernel.detach(&done.endpoint.host_ifname) {
                        tracing::warn!("{e}");
                    }
                }
                return Err(e);
            }
        }
        Ok(ns)
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
        let plan = self.reserve(st, net, att, index, default_route)?;
        match self.wire(ns, &plan) {
            Ok(()) => Ok(plan.endpoint),
            Err(e) => {
                if let Some(subnet) = net.subnet {
                    let _ = st.ipam.release_address(subnet, plan.endpoint.ip);
                }
                Err(e)
            }
        }
    }

    /// The state half of an endpoint: its address (taken from the IPAM),
    /// names and MAC.
    fn reserve(
        &self,
        st: &mut NetState,
        net: &NetworkRecord,
        att: &Attachment,
        index: usize,
        default_route: bool,
    ) -> Result<Plan, NetworkError> {
        let (Some(subnet), Some(gateway), Some(_)) = (net.subnet, net.gateway, &net.bridge) else {
            return Err(NetworkError::Invalid(format!(
                "network {} has no subnet",
                net.name
            )));
        };
        let ip = st.ipam.request_address(subnet, att.ipv4)?;
        let id = new_id();
        let host_ifname = format!("veth{}", &id[..7]);
        Ok(Plan {
            net: net.clone(),
            index,
            default_route,
            endpoint: Endpoint {
                id,
                ip,
                prefix: subnet.prefix_len(),
                gateway,
                mac: att.mac.unwrap_or_else(|| MacAddr::from_ipv4(ip)),
                host_ifname,
            },
        })
    }

    /// The kernel half of an endpoint: the bridge made sure of, the veth
    /// pair plugged into it and into `ns`.
    fn wire(&self, ns: &NetNs, plan: &Plan) -> Result<(), NetworkError> {
        let (net, ep) = (&plan.net, &plan.endpoint);
        let Some(bridge) = &net.bridge else {
            return Err(NetworkError::Invalid(format!(
                "network {} has no subnet",
                net.name
            )));
        };
        let address = Ipv4Net::new(ep.gateway, ep.prefix)
            .map_err(|e| NetworkError::Invalid(e.to_string()))?;
        let bridge_cfg = BridgeConfig {
            name: bridge.clone(),
            mtu: net.mtu(),
            address,
        };
        self.kernel.ensure_bridge(&bridge_cfg)?;
        let temp_ifname = format!("vt{}", &ep.id[..7]);
        let container_addr =
            Ipv4Net::new(ep.ip, ep.prefix).map_err(|e| NetworkError::Invalid(e.to_string()))?;
        let eth = ifname(plan.index);
        let cfg = EndpointConfig {
            bridge,
            host_ifname: &ep.host_ifname,
            temp_ifname: &temp_ifname,
            netns: ns,
            ifname: &eth,
            mac: ep.mac,
            address: container_addr,
            gateway: (plan.default_route && !net.internal).then_some(ep.gateway),
            mtu: net.mtu(),
            hairpin: false,
        };
        match self.kernel.attach(&cfg) {
            // The bridge went behind our back (the kernel forgot it): make
            // it again, once.
            Err(NetworkError::Link(LinkError::NotFound { name })) if name == *bridge => {
                self.kernel.ensure_bridge(&bridge_cfg)?;
                self.kernel.attach(&cfg)
            }
            other => other,
        }
    }

    /// Blocking: releases what [`Self::join`] gave container `id` (veths,
    /// addresses, ports, proxies, its namespace handle) and publishes
    /// `disconnect` per network. Idempotent; the container's attachments
    /// stay.
    pub fn leave(&self, id: &str) {
        let op = self.container_op(id);
        let _op = op.lock().unwrap_or_else(|p| p.into_inner());
        let detached = self.detach_all(id);
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
        let had = self.release_with(&mut st, id, &detached);
        if had && let Err(e) = self.sync_firewall(&st) {
            tracing::warn!("container {id}: {e}");
        }
        let staged = self.stage(&st);
        drop(st);
        if let Err(e) = staged.and_then(|s| self.commit(s)) {
            tracing::warn!("container {id}: {e}");
        }
        for net in nets {
            self.event("disconnect", &net, &[("container", id)]);
        }
    }

    /// Deletes container `id`'s veths, without the state lock (each
    /// deletion waits for the kernel's RCU grace periods); its endpoints
    /// keep their addresses until [`Self::release_with`] (so no other
    /// container gets an address, and MAC, still on the bridge). The
    /// caller holds the container's lock. Returns the host ends deleted.
    pub(super) fn detach_all(&self, id: &str) -> Vec<String> {
        let names: Vec<String> = self
            .lock()
            .containers
            .get(id)
            .map(|c| {
                c.endpoints
                    .values()
                    .map(|e| e.host_ifname.clone())
                    .collect()
            })
            .unwrap_or_default();
        names
            .into_iter()
            .filter(|name| match self.kernel.detach(name) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("container {id}: {e}");
                    false
                }
            })
            .collect()
    }

    /// Undoes a join in memory and in the kernel; returns whether there
    /// was anything. The caller saves.
    pub(super) fn release(&self, st: &mut NetState, id: &str) -> bool {
        self.release_with(st, id, &[])
    }

    /// [`Self::release`], but the veths named in `detached` are gone
    /// already (not deleted again).
    pub(super) fn release_with(&self, st: &mut NetState, id: &str, detached: &[String]) -> bool {
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
            if !detached.contains(&ep.host_ifname)
                && let Err(e) = self.kernel.detach(&ep.host_ifname)
            {
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
    /// it (the module contract: a user-defined network's bridge exists only
    /// while a container is connected). The default bridge's device stays
    /// until [`Self::shutdown`]: making and deleting it for every
    /// `docker run --rm` cost more than the rest of the container's
    /// networking. The caller holds the state lock, so no join races it.
    pub(super) fn remove_idle_bridge(&self, st: &NetState, net_id: &str) {
        if st.endpoints_on(net_id).next().is_some() {
            return;
        }
        let Some(net) = st.networks.get(net_id) else {
            return;
        };
        if is_default_bridge(net) {
            return;
        }
        if let Some(bridge) = net.bridge.as_deref()
            && let Err(e) = self.kernel.remove_bridge(bridge)
        {
            tracing::warn!("removing bridge {bridge}: {e}");
        }
    }

    /// Blocking, when skiffd stops: removes the bridge devices no endpoint
    /// uses (the default bridge's, kept while skiffd ran), so a daemon
    /// stopped with no running container leaves no link behind and another
    /// engine started later may take the subnet. Bridges of running
    /// containers stay (the containers outlive skiffd).
    pub fn shutdown(&self) {
        let st = self.lock();
        for net in st.networks.values() {
            if st.endpoints_on(&net.id).next().is_some() {
                continue;
            }
            if let Some(bridge) = net.bridge.as_deref()
                && net.driver == Driver::Bridge
                && let Err(e) = self.kernel.remove_bridge(bridge)
            {
                tracing::warn!("removing bridge {bridge}: {e}");
            }
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

/// The predefined `bridge` network, whose device outlives its endpoints.
fn is_default_bridge(net: &NetworkRecord) -> bool {
    net.predefined && net.name == super::BRIDGE
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
