//! `docker network create`, and the predefined networks made at open.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use skiff_net::ipam::PoolRequest;

use super::record::{Driver, NetState, NetworkRecord};
use super::{BRIDGE, DEFAULT_BRIDGE_DEVICE, HOST, NONE, NetworkError, NetworkService, new_id};
use crate::images::now_rfc3339;

/// The options skiffd honours (`--opt`); any other is refused, named.
const KNOWN_OPTIONS: &[&str] = &[
    "com.docker.network.bridge.name",
    "com.docker.network.driver.mtu",
    "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.host_binding_ipv4",
];

/// What `docker network create` asks for (`POST /networks/create`), after
/// the API refused what skiffd does not do (IPv6, other IPAM drivers,
/// ingress, config-only networks).
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The name.
    pub name: String,
    /// The driver (`bridge` when empty).
    pub driver: String,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `--label`s.
    pub labels: HashMap<String, String>,
    /// `--opt`s.
    pub options: HashMap<String, String>,
    /// `--subnet`.
    pub subnet: Option<Ipv4Net>,
    /// `--ip-range`.
    pub ip_range: Option<Ipv4Net>,
    /// `--gateway`.
    pub gateway: Option<Ipv4Addr>,
}

/// dockerd's network name rule (that of container names).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl NetworkService {
    /// Creates a network; returns its id. Refuses a taken name (409, also
    /// the predefined ones), other drivers, unknown options, and subnets
    /// that overlap another network's (dockerd's words).
    pub fn create(&self, req: CreateRequest) -> Result<String, NetworkError> {
        if req.name.is_empty() {
            return Err(NetworkError::Invalid("network name cannot be empty".into()));
        }
        if !valid_name(&req.name) {
            return Err(NetworkError::Invalid(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        match req.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" => {
                return Err(NetworkError::Invalid(format!(
                    "only one instance of \"{}\" network is allowed",
                    req.driver
                )));
            }
            other => return Err(NetworkError::UnknownDriver(other.to_owned())),
        }
        if let Some(bad) = req
            .options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(NetworkError::Invalid(format!(
                "network option {bad} is not supported by this engine"
            )));
        }
        let mut st = self.lock();
        if st.networks.values().any(|n| n.name == req.name) {
            return Err(NetworkError::Duplicate(req.name));
        }
        let id = new_id();
        let bridge = match req.options.get("com.docker.network.bridge.name") {
            Some(name) => {
                skiff_net::link::check_name(name)
                    .map_err(|e| NetworkError::Invalid(e.to_string()))?;
                if st
                    .networks
                    .values()
                    .any(|n| n.bridge.as_deref() == Some(name))
                {
                    return Err(NetworkError::Invalid(format!(
                        "bridge name {name} is used by another network"
                    )));
                }
                name.clone()
            }
            None => format!("br-{}", &id[..12]),
        };
        let user_ipam = req.subnet.is_some();
        let pool = PoolRequest {
            subnet: req.subnet,
            ip_range: req.ip_range,
            gateway: req.gateway,
        };
        let routes = if req.subnet.is_none() {
            self.kernel.routes()?
        } else {
            Vec::new()
        };
        let subnet = st.ipam.request_pool(&pool, &routes)?.clone();
        let record = NetworkRecord {
            id: id.clone(),
            name: req.name,
            created: now_rfc3339(),
            driver: Driver::Bridge,
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
            subnet: Some(subnet.subnet),
            ip_range: subnet.ip_range,
            gateway: Some(subnet.gateway),
            bridge: Some(bridge),
            user_ipam,
            predefined: false,
        };
        st.networks.insert(id.clone(), record.clone());
        if let Err(e) = self.save(&st) {
            st.networks.remove(&id);
            st.ipam.release_pool(subnet.subnet);
            return Err(e);
        }
        drop(st);
        self.event("create", &record, &[]);
        Ok(id)
    }

    /// Adds `bridge`, `host` and `none` when missing (at open).
    pub(super) fn ensure_predefined(&self, st: &mut NetState) -> Result<(), NetworkError> {
        let has = |st: &NetState, name: &str| {
            st.networks.values().any(|n| n.predefined && n.name == name)
        };
        if !has(st, BRIDGE) {
            let routes = self.kernel.routes()?;
            let subnet = st
                .ipam
                .request_pool(&PoolRequest::default(), &routes)?
                .clone();
            let options = [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                ("com.docker.network.bridge.name", DEFAULT_BRIDGE_DEVICE),
                ("com.docker.network.driver.mtu", "1500"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            let net = predefined(BRIDGE, Driver::Bridge, options);
            st.networks.insert(
                net.id.clone(),
                NetworkRecord {
                    subnet: Some(subnet.subnet),
                    gateway: Some(subnet.gateway),
                    bridge: Some(DEFAULT_BRIDGE_DEVICE.to_owned()),
                    ..net
                },
            );
        }
        for (name, driver) in [(HOST, Driver::Host), (NONE, Driver::Null)] {
            if !has(st, name) {
                let net = predefined(name, driver, HashMap::new());
                st.networks.insert(net.id.clone(), net);
            }
        }
        Ok(())
    }
}

impl NetworkService {
    /// The default bridge's subnet, elected anew when another interface
    /// now routes it. dockerd elects docker0's subnet when it starts; our
    /// bridge device exists only while containers use it, so meanwhile
    /// another engine beside skiffd (a user's dockerd and its `docker0`)
    /// may have taken the subnet. At the bridge's first join (no endpoint
    /// on it, no device of ours) such a subnet is given up for the first free pool, as dockerd
    /// would have chosen at its start; the record is updated in `st` (the
    /// caller persists it) and returned. `None`: `net` is kept as it is.
    pub(super) fn reelect_default_bridge(
        &self,
        st: &mut NetState,
        net: &NetworkRecord,
    ) -> Result<Option<NetworkRecord>, NetworkError> {
        let Some(subnet) = net.subnet else {
            return Ok(None);
        };
        if !net.predefined || net.name != BRIDGE || net.user_ipam {
            return Ok(None);
        }
        let in_use = st
            .ipam
            .subnet(subnet)
            .is_some_and(|s| s.endpoints().next().is_some());
        if in_use {
            return Ok(None);
        }
        // While our device is there, the routes of the subnet are ours (and
        // another engine starting meanwhile saw them and chose elsewhere).
        let device = net.bridge.as_deref().unwrap_or(DEFAULT_BRIDGE_DEVICE);
        if self.kernel.link_exists(device)? {
            return Ok(None);
        }
        let routes = self.kernel.routes()?;
        let taken = routes
            .iter()
            .filter(|r| r.prefix_len() > 0)
            .any(|r| skiff_net::ipam::pools::overlaps(r, &subnet));
        if !taken {
            return Ok(None);
        }
        st.ipam.release_pool(subnet);
        let fresh = st
            .ipam
            .request_pool(&PoolRequest::default(), &routes)?
            .clone();
        let Some(record) = st.networks.get_mut(&net.id) else {
            return Ok(None);
        };
        tracing::warn!(
            "the default bridge's subnet {subnet} is routed by another interface now; \
             the bridge moves to {}",
            fresh.subnet
        );
        record.subnet = Some(fresh.subnet);
        record.gateway = Some(fresh.gateway);
        Ok(Some(record.clone()))
    }
}

fn predefined(name: &str, driver: Driver, options: HashMap<String, String>) -> NetworkRecord {
    NetworkRecord {
        id: new_id(),
        name: name.to_owned(),
        created: now_rfc3339(),
        driver,
        internal: false,
        attachable: false,
        labels: HashMap::new(),
        options,
        subnet: None,
        ip_range: None,
        gateway: None,
        bridge: None,
        user_ipam: false,
        predefined: true,
    }
}
