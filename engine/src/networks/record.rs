//! What the network service persists: networks, the IPAM, and per
//! container the networks it is attached to and, while it runs, its
//! endpoints (addresses, interfaces, published ports).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use skiff_net::Protocol;
use skiff_net::ipam::Ipam;
use skiff_net::link::MacAddr;

/// A network's driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge (`bridge` and user-defined networks).
    Bridge,
    /// The host's namespace (predefined `host`).
    Host,
    /// Loopback only (predefined `none`).
    Null,
}

impl Driver {
    /// docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One network, as `docker network inspect` shows it (its endpoints apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    /// The name.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The driver.
    pub driver: Driver,
    /// `--internal`: no outbound traffic, no published ports from outside.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `--label`s.
    pub labels: HashMap<String, String>,
    /// `--opt`s, as given (the default bridge's are dockerd's).
    pub options: HashMap<String, String>,
    /// Bridge networks: the subnet handed out by the IPAM.
    pub subnet: Option<Ipv4Net>,
    /// Bridge networks: `--ip-range`.
    pub ip_range: Option<Ipv4Net>,
    /// Bridge networks: the gateway (the bridge's address).
    pub gateway: Option<Ipv4Addr>,
    /// Bridge networks: the bridge device.
    pub bridge: Option<String>,
    /// `--subnet`/`--gateway` given (IPAM.Config then shows IPRange too).
    #[serde(default)]
    pub user_ipam: bool,
    /// `bridge`, `host`, `none`: made by the daemon, never removed.
    pub predefined: bool,
}

impl NetworkRecord {
    /// The MTU option, if any.
    pub fn mtu(&self) -> Option<u32> {
        self.options
            .get("com.docker.network.driver.mtu")
            .and_then(|m| m.parse().ok())
            .filter(|m| *m > 0)
    }

    /// Whether outbound traffic is masqueraded.
    pub fn masquerade(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .is_none_or(|v| v != "false")
    }
}

/// A container's wish to be on a network (from `--network`,
/// `NetworkingConfig` or `docker network connect`); kept while the
/// container exists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// `--network-alias`es.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    /// `--mac-address`.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// `--link TARGET[:ALIAS]` on a user-defined network, as given: `ALIAS`
    /// resolves (for this container only) to `TARGET` through the embedded
    /// DNS server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// A published port as set up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// tcp or udp.
    pub protocol: Protocol,
    /// The container port.
    pub container_port: u16,
    /// The host address (0.0.0.0 for all).
    pub host_ip: Ipv4Addr,
    /// The host port handed out.
    pub host_port: u16,
}

/// A running container's interface on a bridge network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 hex digits.
    pub id: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway.
    pub gateway: Ipv4Addr,
    /// The container end's MAC address.
    pub mac: MacAddr,
    /// The host end's name (`veth…`).
    pub host_ifname: String,
}

/// Everything the service knows of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerNet {
    /// The container's name (for inspect's `Containers`).
    pub name: String,
    /// The networks it is attached to, by network id.
    pub attachments: BTreeMap<String, Attachment>,
    /// While it runs: its endpoints, by network id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// While it runs: its published ports (on its first bridge network).
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// While it runs with an embedded DNS server: how it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<super::dns::DnsSetup>,
}

/// The whole persisted state (`<data-root>/network/state.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetState {
    /// Networks by id.
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Subnets and addresses.
    pub ipam: Ipam,
    /// Containers by id.
    pub containers: BTreeMap<String, ContainerNet>,
}

impl NetState {
    /// The containers with an endpoint on `network`.
    pub fn endpoints_on<'a>(
        &'a self,
        network: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a ContainerNet, &'a Endpoint)> + 'a {
        self.containers
            .iter()
            .filter_map(move |(id, c)| c.endpoints.get(network).map(|e| (id, c, e)))
    }
}
