//! The network service: everything `docker network …` does with the
//! `bridge`, `host` and `null` drivers, and what containers need of
//! networks (endpoints on start, published ports, their release on exit).
//! It knows nothing of HTTP; its kernel work goes through [`kernel::Kernel`].
//!
//! One operation group per file: [`create`], [`remove`] (remove, prune),
//! [`list`] (list filters, inspect views), [`connect`] (a container's
//! attachments: at create, `network connect`/`disconnect`, at removal),
//! [`endpoint`] (a container's interfaces while it runs: join on start,
//! leave on exit, reconcile after a restart), [`ports`] (published ports:
//! parsing docker's bindings, the allocator, proxies, the firewall).
//!
//! State: one record, `<data-root>/network/state.json` ([`record::NetState`]:
//! networks, the IPAM, per container its attachments and, while it runs,
//! its endpoints and ports), written atomically after every change, before
//! the change is published as an event. Addresses and ports therefore
//! survive a restart; [`NetworkService::open`] creates the predefined
//! networks (`bridge` on the first default pool that overlaps no route of
//! the daemon's namespace, `host`, `none`) when missing.
//!
//! Contracts:
//! - an address or host port is handed out at most once while in use;
//! - a user-defined network's bridge device exists only while a container
//!   is connected to it (it is created at the first join and removed at the
//!   last leave); the default bridge's device, made at its first join,
//!   stays while skiffd runs (a `docker run --rm` then neither makes nor
//!   deletes a bridge) and goes at [`NetworkService::shutdown`] if idle, so
//!   a daemon stopped with no running container leaves no link behind;
//! - skiff's nftables table (named per daemon, [`NetworkService::table`])
//!   is replaced whole after every change of the running endpoints and
//!   ports, so it always matches them (it is made at the first join);
//! - one state lock serialises changes of the state and their durable
//!   save (concurrent saves share one atomic write, `persist.rs`); the
//!   kernel work of a join or leave runs outside it, under a lock of its
//!   container, with the endpoint recorded first and its addresses released
//!   only after its link is gone. Operations are blocking (kernel calls),
//!   so async callers use `spawn_blocking`. Reads (`get`, `list`,
//!   `inspect`, `settings`, `ports_of`) see the state as last saved and
//!   never wait for an operation, so they are fine on a runtime thread.

pub mod connect;
pub mod create;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod kernel;
pub mod list;
mod persist;
pub mod ports;
pub mod record;
pub mod remove;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use skiff_net::netns::NetNs;
use skiff_net::nft::{BridgeRules, Firewall, PublishedPort};
use skiff_net::ports::PortAllocator;
use skiff_net::proxy::ProxyHandle;

pub use create::CreateRequest;
pub use error::NetworkError;
pub use kernel::{Kernel, LinkKernel};
pub use list::{ListFilter, NetworkView};
pub use record::{Driver, NetworkRecord};

use crate::events::{EventType, Events};

/// The default bridge network's name.
pub const BRIDGE: &str = "bridge";
/// The host network's name.
pub const HOST: &str = "host";
/// The none network's name.
pub const NONE: &str = "none";
/// skiff's nftables table (family `ip`). One daemon per network namespace:
/// tests run each daemon in a namespace of its own.
pub const TABLE: &str = "skiff";
/// The default bridge's device (dockerd's is `docker0`).
pub const DEFAULT_BRIDGE_DEVICE: &str = "skiff0";

/// What the service holds in memory besides the persisted state.
#[derive(Default)]
struct Live {
    /// Running proxies, per container.
    proxies: HashMap<String, Vec<ProxyHandle>>,
    /// Namespaces made for containers whose process has not taken them
    /// over yet (kept until the container leaves).
    netns: HashMap<String, NetNs>,
    /// Host ports in use.
    ports: Option<PortAllocator>,
    /// Running embedded DNS servers, per container.
    dns: HashMap<String, skiff_net::dns::DnsHandle>,
}

/// The network service.
pub struct NetworkService {
    path: PathBuf,
    /// Where running containers' namespaces are pinned (`<id>`): their
    /// `SandboxKey`.
    netns_dir: PathBuf,
    table: String,
    kernel: Arc<dyn Kernel>,
    events: Events,
    state: Mutex<record::NetState>,
    /// A copy of `state` as last saved, for readers: `state` is held
    /// across kernel calls, and an async caller (inspect, ps) must never
    /// wait for those.
    view: Mutex<Arc<record::NetState>>,
    live: Mutex<Live>,
    /// Writes the state ([`persist`]).
    persister: persist::Persister,
    /// One lock per container, held through its join or leave: their
    /// kernel work runs without the state lock, so different containers
    /// start and stop at once while one container's steps stay in order.
    ops: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// What the embedded DNS servers answer ([`dns`]).
    names: Arc<dns::LiveNames>,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkService")
            .field("path", &self.path)
            .field("table", &self.table)
            .finish()
    }
}

impl NetworkService {
    /// Opens the state under `data_root` (creating the predefined networks
    /// when missing), with `kernel` as the OS seam and `table` as the name
    /// of skiff's nftables table.
    pub fn open(
        data_root: &Path,
        events: Events,
        kernel: Arc<dyn Kernel>,
        table: impl Into<String>,
    ) -> Result<Self, NetworkError> {
        let dir = data_root.join("network");
        std::fs::create_dir_all(&dir)
            .map_err(|e| NetworkError::store(format!("creating {}", dir.display()), e))?;
        let path = dir.join("state.json");
        let state: record::NetState = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                NetworkError::store(format!("reading {}", path.display()), e.into())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => record::NetState::default(),
            Err(e) => {
                return Err(NetworkError::store(
                    format!("reading {}", path.display()),
                    e,
                ));
            }
        };
        let svc = NetworkService {
            path: path.clone(),
            netns_dir: dir.join("netns"),
            table: table.into(),
            kernel,
            events,
            view: Mutex::new(Arc::new(state.clone())),
            state: Mutex::new(state),
            live: Mutex::new(Live::default()),
            persister: persist::Persister::new(path.clone()),
            ops: Mutex::new(HashMap::new()),
            names: Arc::new(dns::LiveNames::default()),
        };
        {
            let mut st = svc.lock();
            svc.ensure_predefined(&mut st)?;
            svc.save(&st)?;
        }
        Ok(svc)
    }

    /// Where container `id`'s namespace is pinned while it runs (docker's
    /// `SandboxKey`).
    pub fn sandbox_key(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// The name of skiff's nftables table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn lock(&self) -> MutexGuard<'_, record::NetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Container `id`'s operation lock (see `ops`).
    fn container_op(&self, id: &str) -> Arc<Mutex<()>> {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets container `id`'s operation lock (at its removal).
    fn forget_container_op(&self, id: &str) {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state as last saved (never waits for a kernel call).
    fn view(&self) -> Arc<record::NetState> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the state atomically, and publishes it to readers.
    fn save(&self, st: &record::NetState) -> Result<(), NetworkError> {
        let staged = self.stage(st)?;
        self.commit(staged)
    }

    /// The first half of [`Self::save`], under the state lock: publishes
    /// the state to readers and stages it for writing ([`persist`]).
    fn stage(&self, st: &record::NetState) -> Result<persist::Staged, NetworkError> {
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(st.clone());
        self.refresh_names(st);
        self.persister
            .stage(st)
            .map_err(|e| NetworkError::store(format!("writing {}", self.path.display()), e))
    }

    /// The second half of [`Self::save`], after the state lock is dropped:
    /// returns once the staged state (or a newer one) is on disk.
    fn commit(&self, staged: persist::Staged) -> Result<(), NetworkError> {
        self.persister
            .commit(staged)
            .map_err(|e| NetworkError::store(format!("writing {}", self.path.display()), e))
    }

    /// Finds a network by exact id, exact name, or unique id prefix (as
    /// dockerd: id first, then name, then prefix).
    fn find<'a>(st: &'a record::NetState, what: &str) -> Result<&'a NetworkRecord, NetworkError> {
        if let Some(n) = st.networks.get(what) {
            return Ok(n);
        }
        if let Some(n) = st.networks.values().find(|n| n.name == what) {
            return Ok(n);
        }
        let mut prefixed = st.networks.values().filter(|n| n.id.starts_with(what));
        match (prefixed.next(), prefixed.next()) {
            (Some(n), None) if !what.is_empty() => Ok(n),
            _ => Err(NetworkError::NotFound(what.to_owned())),
        }
    }

    /// The network `what` names (id, name or id prefix).
    pub fn get(&self, what: &str) -> Result<NetworkRecord, NetworkError> {
        Self::find(&self.view(), what).cloned()
    }

    /// Publishes a network event.
    fn event(&self, action: &str, net: &NetworkRecord, extra: &[(&str, &str)]) {
        let mut attrs = vec![("name", net.name.as_str()), ("type", net.driver.as_str())];
        attrs.extend_from_slice(extra);
        self.events
            .publish(EventType::Network, action, &net.id, &attrs);
    }

    /// The firewall the state calls for: every bridge network (while it
    /// exists, as dockerd keeps a network's rules; its rules match the
    /// bridge by name, so they are inert while the device is down), every
    /// published port. A container without ports joining or leaving thus
    /// changes no rule, and no `nft` runs ([`Kernel::apply_firewall`]).
    fn firewall(&self, st: &record::NetState) -> Firewall {
        let mut fw = Firewall::new(self.table.clone());
        for net in st.networks.values() {
            let (Some(bridge), Some(subnet)) = (&net.bridge, net.subnet) else {
                continue;
            };
            fw.bridges.push(BridgeRules {
                bridge: bridge.clone(),
                subnet,
                internal: net.internal,
                masquerade: net.masquerade(),
            });
        }
        for c in st.containers.values() {
            let Some((net_id, ep)) = c
                .endpoints
                .iter()
                .find(|(id, _)| st.networks.get(*id).is_some_and(|n| !n.internal))
            else {
                continue;
            };
            let Some(bridge) = st.networks.get(net_id).and_then(|n| n.bridge.clone()) else {
                continue;
            };
            for p in &c.ports {
                fw.ports.push(PublishedPort {
                    protocol: p.protocol,
                    host_ip: Some(p.host_ip),
                    host_port: p.host_port,
                    container_ip: ep.ip,
                    container_port: p.container_port,
                    bridge: bridge.clone(),
                });
            }
        }
        fw
    }

    /// Applies [`Self::firewall`].
    fn sync_firewall(&self, st: &record::NetState) -> Result<(), NetworkError> {
        let fw = self.firewall(st);
        self.kernel.apply_firewall(&fw)
    }
}

/// 64 random hex digits (network and endpoint ids).
fn new_id() -> String {
    let raw: [u8; 32] = rand::random();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
