//! Name resolution between containers on user-defined networks: one
//! [`NameTable`] of every running endpoint (rebuilt from the state at every
//! save, so it follows `join`, `leave`, `connect`, `disconnect`, rename and
//! removal), and one embedded DNS server per running container attached to
//! a user-defined network, answering from that table inside the
//! container's namespace (`127.0.0.11:53`, see [`skiff_net::dns`]).
//!
//! Contracts:
//! - the default `bridge` network (predefined) contributes no name: as with
//!   dockerd, containers there do not resolve each other;
//! - a server runs from [`NetworkService::start_dns`] (at the container's
//!   start, after its join) until its endpoints are released (exit, stop,
//!   removal, failed start); after a skiffd restart
//!   [`NetworkService::restore`] starts it again for running containers
//!   from what was persisted ([`DnsSetup`]).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use skiff_net::dns::{DnsConfig, Endpoint, NameTable, Names, Upstream};

use super::record::{Driver, NetState};
use super::{NetworkError, NetworkService};

/// What a container's embedded server was started with, persisted so a
/// restarted daemon starts the same server again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSetup {
    /// Upstreams in order: address, and whether reached from the host's
    /// namespace ([`Upstream::from_host`]).
    pub upstreams: Vec<(SocketAddr, bool)>,
    /// The container's resolv.conf sets `ndots` itself.
    pub ndots_set: bool,
}

impl DnsSetup {
    fn upstreams(&self) -> Vec<Upstream> {
        self.upstreams
            .iter()
            .map(|&(addr, from_host)| Upstream { addr, from_host })
            .collect()
    }
}

/// The names of every network, swapped whole at each save: what every
/// embedded server asks.
#[derive(Debug, Default)]
pub struct LiveNames(RwLock<Arc<NameTable>>);

impl LiveNames {
    fn current(&self) -> Arc<NameTable> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the table with the running endpoints of `st`.
    fn rebuild(&self, st: &NetState) {
        let table = NameTable::new();
        for (id, c) in &st.containers {
            for (net_id, ep) in &c.endpoints {
                let Some(net) = st.networks.get(net_id) else {
                    continue;
                };
                if net.predefined || net.driver != Driver::Bridge {
                    continue;
                }
                let att = c.attachments.get(net_id);
                let aliases = att.map(|a| a.aliases.clone()).unwrap_or_default();
                let links = att.map(|a| link_pairs(&a.links)).unwrap_or_default();
                let name = c.name.trim_start_matches('/').to_owned();
                table.set(Endpoint {
                    network: net.name.clone(),
                    container: id.clone(),
                    names: Endpoint::dns_names(&name, &aliases, id),
                    name,
                    links,
                    addresses: vec![IpAddr::V4(ep.ip)],
                });
            }
        }
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }
}

impl Names for LiveNames {
    fn lookup(&self, container: &str, name: &str) -> Option<Vec<IpAddr>> {
        self.current().lookup(container, name)
    }

    fn reverse(&self, container: &str, ip: IpAddr) -> Option<String> {
        self.current().reverse(container, ip)
    }
}

/// `--link TARGET[:ALIAS]`s as `(alias, target)` pairs (dockerd's
/// `ParseLink`; a malformed one, refused at create, is skipped).
fn link_pairs(links: &[String]) -> Vec<(String, String)> {
    links
        .iter()
        .filter_map(|l| crate::containers::links::parse_link(l).ok())
        .map(|(target, alias)| (alias, target))
        .collect()
}

/// Whether container `id` has a running endpoint on a user-defined bridge
/// network (and so gets the embedded DNS server).
pub(super) fn on_user_network(st: &NetState, id: &str) -> bool {
    st.containers.get(id).is_some_and(|c| {
        c.endpoints.keys().any(|n| {
            st.networks
                .get(n)
                .is_some_and(|net| !net.predefined && net.driver == Driver::Bridge)
        })
    })
}

impl NetworkService {
    /// The names the embedded servers answer (what the state holds now).
    pub fn names(&self) -> Arc<dyn Names> {
        self.names.clone()
    }

    /// Called by every save: the table follows the state.
    pub(super) fn refresh_names(&self, st: &NetState) {
        self.names.rebuild(st);
    }

    /// Blocking: starts container `id`'s embedded DNS server in its
    /// namespace (`netns`, as [`super::endpoint::Joined::netns`]) with
    /// `setup`, when it runs on a user-defined network (`Ok(false)`
    /// otherwise: nothing started). The server runs until the container's
    /// endpoints are released; `setup` is persisted for a restart.
    pub fn start_dns(&self, id: &str, netns: &Path, setup: DnsSetup) -> Result<bool, NetworkError> {
        let mut st = self.lock();
        if !on_user_network(&st, id) {
            return Ok(false);
        }
        self.spawn_dns(id, netns, &setup)?;
        if let Some(c) = st.containers.get_mut(id) {
            c.dns = Some(setup);
        }
        self.save(&st)?;
        Ok(true)
    }

    /// Starts the server (replacing one running for `id`).
    pub(super) fn spawn_dns(
        &self,
        id: &str,
        netns: &Path,
        setup: &DnsSetup,
    ) -> Result<(), NetworkError> {
        let mut config = DnsConfig::new(id, self.names(), setup.upstreams());
        config.ndots_set = setup.ndots_set;
        let handle = self.kernel.start_dns(netns, config)?;
        let mut live = self.live();
        live.dns.remove(id);
        if let Some(h) = handle {
            live.dns.insert(id.to_owned(), h);
        }
        Ok(())
    }
}
