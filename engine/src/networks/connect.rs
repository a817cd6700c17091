//! A container's attachments: which networks it is on. Set at create
//! ([`NetworkService::attach_container`]), changed by `docker network
//! connect`/`disconnect`, dropped at removal; read by container inspect
//! ([`NetworkService::settings`]).

use std::collections::BTreeMap;

use skiff_net::netns::NetNs;

use super::record::{Attachment, ContainerNet, Driver, Endpoint, NetworkRecord, PortMapping};
use super::{BRIDGE, NetworkError, NetworkService};

/// A container's network mode (`HostConfig.NetworkMode`), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// `default`, `bridge` or empty: the default bridge.
    Bridge,
    /// `host`.
    Host,
    /// `none`.
    None,
    /// `container:<id|name>`.
    Container(String),
    /// A user-defined network, by name or id.
    Network(String),
}

impl NetMode {
    /// Parses docker's `NetworkMode`.
    pub fn parse(mode: Option<&str>) -> Self {
        match mode.unwrap_or_default() {
            "" | "default" | "bridge" => NetMode::Bridge,
            "host" => NetMode::Host,
            "none" => NetMode::None,
            m => match m.strip_prefix("container:") {
                Some(c) => NetMode::Container(c.to_owned()),
                None => NetMode::Network(m.to_owned()),
            },
        }
    }
}

/// One network of a container as inspect shows it.
#[derive(Debug, Clone)]
pub struct NetworkSetting {
    /// The network.
    pub network: NetworkRecord,
    /// As asked.
    pub attachment: Attachment,
    /// While it runs, on bridge networks.
    pub endpoint: Option<Endpoint>,
}

/// What container inspect shows of a container's networking.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Per network name.
    pub networks: BTreeMap<String, NetworkSetting>,
    /// Published ports while it runs.
    pub ports: Vec<PortMapping>,
}

impl NetworkService {
    /// Records container `id` (named `name`) on the network its `mode`
    /// names and on the networks of `extra` (`NetworkingConfig`, by name
    /// or id), with their settings. Checks dockerd's rules (`--ip` only on
    /// user-defined networks with a `--subnet`). `container:` mode
    /// attaches nothing.
    pub fn attach_container(
        &self,
        id: &str,
        name: &str,
        mode: &NetMode,
        extra: Vec<(String, Attachment)>,
    ) -> Result<(), NetworkError> {
        let mut st = self.lock();
        let primary = match mode {
            NetMode::Container(_) => None,
            NetMode::Bridge => Some(BRIDGE.to_owned()),
            NetMode::Host => Some(super::HOST.to_owned()),
            NetMode::None => Some(super::NONE.to_owned()),
            NetMode::Network(n) => Some(n.clone()),
        };
        let mut c = ContainerNet {
            name: name.to_owned(),
            ..ContainerNet::default()
        };
        // The CLI names the default bridge `default` in EndpointsConfig.
        let extra: Vec<(String, Attachment)> = extra
            .into_iter()
            .map(|(n, a)| (if n == "default" { BRIDGE.to_owned() } else { n }, a))
            .collect();
        let mut wanted: Vec<(String, Attachment)> = Vec::new();
        if let Some(p) = primary {
            let att = extra
                .iter()
                .find(|(n, _)| {
                    *n == p || Self::find(&st, n).is_ok_and(|x| x.name == p || x.id == p)
                })
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
            wanted.push((p, att));
        }
        for (n, a) in extra {
            if !wanted.iter().any(|(w, _)| *w == n) {
                wanted.push((n, a));
            }
        }
        if wanted.len() > 1
            && wanted
                .iter()
                .any(|(n, _)| Self::find(&st, n).is_ok_and(|x| x.driver != Driver::Bridge))
        {
            return Err(NetworkError::Invalid(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        for (n, att) in wanted {
            let net = Self::find(&st, &n)?.clone();
            check_attachment(&net, &att)?;
            c.attachments.insert(net.id.clone(), att);
        }
        st.containers.insert(id.to_owned(), c);
        let staged = self.stage(&st)?;
        drop(st);
        self.commit(staged)
    }

    /// `docker network connect`: adds an attachment; when the container
    /// runs (its process `pid`), plugs it in at once.
    pub fn connect(
        &self,
        network: &str,
        id: &str,
        name: &str,
        att: Attachment,
        pid: Option<i32>,
    ) -> Result<(), NetworkError> {
        let mut st = self.lock();
        let net = Self::find(&st, network)?.clone();
        if net.driver != Driver::Bridge {
            return Err(NetworkError::Invalid(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        check_attachment(&net, &att)?;
        let shared = st.containers.get(id).is_some_and(|c| {
            c.attachments.keys().any(|n| {
                st.networks
                    .get(n)
                    .is_some_and(|x| x.driver != Driver::Bridge)
            })
        });
        let c = st.containers.entry(id.to_owned()).or_default();
        c.name = name.to_owned();
        if c.attachments.contains_key(&net.id) {
            return Err(NetworkError::AlreadyConnected {
                container: name.to_owned(),
                network: net.name,
            });
        }
        if shared {
            return Err(NetworkError::Invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let index = c.attachments.len();
        c.attachments.insert(net.id.clone(), att.clone());
        if let Some(pid) = pid {
            let ns = NetNs::open(format!("/proc/{pid}/ns/net"))?;
            let moved = self.reelect_default_bridge(&mut st, &net)?;
            let target = moved.as_ref().unwrap_or(&net);
            match self.plug(&mut st, &ns, target, &att, index, index == 0) {
                Ok(ep) => {
                    if let Some(c) = st.containers.get_mut(id) {
                        c.endpoints.insert(net.id.clone(), ep);
                    }
                }
                Err(e) => {
                    if let Some(c) = st.containers.get_mut(id) {
                        c.attachments.remove(&net.id);
                    }
                    return Err(e);
                }
            }
        }
        self.save(&st)?;
        if pid.is_some() {
            self.sync_firewall(&st)?;
        }
        drop(st);
        self.event("connect", &net, &[("container", id)]);
        Ok(())
    }

    /// `docker network disconnect`: drops the attachment and, when the
    /// container runs, its endpoint.
    pub fn disconnect(&self, network: &str, id: &str, name: &str) -> Result<(), NetworkError> {
        let mut st = self.lock();
        let net = Self::find(&st, network)?.clone();
        let not_connected = || NetworkError::NotConnected {
            container: name.to_owned(),
            network: net.name.clone(),
        };
        let c = st.containers.get_mut(id).ok_or_else(not_connected)?;
        if c.attachments.remove(&net.id).is_none() {
            return Err(not_connected());
        }
        let ep = c.endpoints.remove(&net.id);
        if let Some(ep) = &ep {
            if let Err(e) = self.kernel.detach(&ep.host_ifname) {
                tracing::warn!("container {id}: {e}");
            }
            if let Some(subnet) = net.subnet {
                let _ = st.ipam.release_address(subnet, ep.ip);
            }
            self.remove_idle_bridge(&st, &net.id);
        }
        self.save(&st)?;
        if ep.is_some() {
            self.sync_firewall(&st)?;
        }
        drop(st);
        self.event("disconnect", &net, &[("container", id)]);
        Ok(())
    }

    /// Forgets container `id` (at its removal), releasing what it holds.
    pub fn remove_container(&self, id: &str) {
        let op = self.container_op(id);
        let guard = op.lock().unwrap_or_else(|p| p.into_inner());
        let detached = self.detach_all(id);
        let mut st = self.lock();
        let had = self.release_with(&mut st, id, &detached);
        let staged = (st.containers.remove(id).is_some() || had).then(|| self.stage(&st));
        if had && let Err(e) = self.sync_firewall(&st) {
            tracing::warn!("container {id}: {e}");
        }
        drop(st);
        if let Some(Err(e)) = staged.map(|s| s.and_then(|s| self.commit(s))) {
            tracing::warn!("container {id}: {e}");
        }
        drop(guard);
        self.forget_container_op(id);
    }

    /// Forgets (as [`Self::remove_container`]) every container `keep`
    /// refuses: at start, the entries of containers removed while the
    /// network state could not be written.
    pub fn retain_containers(&self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .view()
            .containers
            .keys()
            .filter(|id| !keep(id))
            .cloned()
            .collect();
        for id in gone {
            tracing::info!("dropping the network entry of removed container {id}");
            self.remove_container(&id);
        }
    }

    /// Renames container `id` in its endpoint records.
    pub fn rename_container(&self, id: &str, name: &str) {
        let mut st = self.lock();
        if let Some(c) = st.containers.get_mut(id) {
            c.name = name.to_owned();
            let _ = self.save(&st);
        }
    }

    /// Container `id`'s networks, endpoints and ports.
    pub fn settings(&self, id: &str) -> Settings {
        let st = self.view();
        let Some(c) = st.containers.get(id) else {
            return Settings::default();
        };
        let mut out = Settings {
            ports: c.ports.clone(),
            ..Settings::default()
        };
        for (net_id, att) in &c.attachments {
            if let Some(net) = st.networks.get(net_id) {
                out.networks.insert(
                    net.name.clone(),
                    NetworkSetting {
                        network: net.clone(),
                        attachment: att.clone(),
                        endpoint: c.endpoints.get(net_id).cloned(),
                    },
                );
            }
        }
        out
    }
}

/// A running container's networking as its `/etc` files show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveFiles {
    /// Its endpoints' addresses, in the order a start lists them.
    pub addresses: Vec<std::net::Ipv4Addr>,
    /// The first endpoint's gateway (`host-gateway`).
    pub gateway: Option<std::net::Ipv4Addr>,
    /// It is on a user-defined network now.
    pub on_user_network: bool,
    /// Its embedded DNS server runs.
    pub dns_running: bool,
}

impl NetworkService {
    /// What container `id`'s `/etc/hosts` and resolv.conf need after a
    /// `connect`/`disconnect` while it runs (the state as last saved).
    pub fn live_files(&self, id: &str) -> LiveFiles {
        let st = self.view();
        let Some(c) = st.containers.get(id) else {
            return LiveFiles::default();
        };
        LiveFiles {
            addresses: c.endpoints.values().map(|e| e.ip).collect(),
            gateway: c.endpoints.values().next().map(|e| e.gateway),
            on_user_network: super::dns::on_user_network(&st, id),
            dns_running: c.dns.is_some(),
        }
    }
}

/// dockerd's checks of an endpoint's settings against its network.
fn check_attachment(net: &NetworkRecord, att: &Attachment) -> Result<(), NetworkError> {
    if net.driver != Driver::Bridge && (!att.aliases.is_empty() || att.ipv4.is_some()) {
        return Err(NetworkError::Invalid(
            "network-scoped aliases are only supported for user-defined networks".into(),
        ));
    }
    if att.ipv4.is_some() {
        if net.predefined {
            return Err(NetworkError::Invalid(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !net.user_ipam {
            return Err(NetworkError::Invalid(
                "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
            ));
        }
    }
    if !att.links.is_empty() && (net.predefined || net.driver != Driver::Bridge) {
        return Err(NetworkError::Invalid(
            "links are only supported for user-defined networks".into(),
        ));
    }
    if !att.aliases.is_empty() && net.predefined {
        return Err(NetworkError::Invalid(
            "network-scoped aliases are only supported for user-defined networks".into(),
        ));
    }
    Ok(())
}
