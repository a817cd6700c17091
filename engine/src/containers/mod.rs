//! The container service: docker's container lifecycle over per-container
//! shims (crate `skiff-shim`). One operation per file: [`create`],
//! [`start`], [`monitor`] (exits, restart policies, auto-remove), [`stop`]
//! (stop and kill), [`restart`], [`wait`], [`list`] (`ps`, sizes),
//! [`remove`], [`attach`], [`logs`], plus [`rootfs`]
//! (the overlay mount), [`spec`] (record → OCI bundle), [`prepare`] (an
//! `--rm` container's start begun at create) and [`user`].
//!
//! The service's settings are a [`ContainerConfig`] given to
//! [`ContainerService::open`]; everything it asks of shims and of the host
//! goes through the [`runtime`] seam chosen then.
//!
//! Every state change is written to the record store first, then published
//! to the container's watch channel (what `wait` and `attach` listen to) and
//! as an event.

pub mod archive;
pub mod attach;
pub mod cgroups;
pub mod changes;
pub mod config;
pub mod create;
pub mod diff_export;
pub mod error;
pub mod etc_files;
pub mod exec;
pub mod export;
pub mod health;
pub mod init_layer;
#[cfg(test)]
mod lifecycle_tests;
pub mod links;
pub mod list;
pub mod logs;
pub mod monitor;
pub mod mounting;
#[cfg(test)]
mod mounting_tests;
pub mod names;
pub mod network;
pub mod network_live;
#[cfg(test)]
mod network_tests;
pub mod paths;
pub mod pause;
pub mod prepare;
pub mod prune;
pub mod record;
pub mod remove;
pub mod rename;
pub mod resize;
pub mod restart;
pub mod rootfs;
pub mod runtime;
pub mod spec;
pub mod start;
pub mod stats;
pub mod stop;
pub(crate) mod store;
pub mod top;
pub mod trash;
pub mod unsupported;
pub mod update;
pub mod user;
pub mod validate;
pub mod wait;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{oneshot, watch};

pub use config::ContainerConfig;
pub use error::ContainerError;
use record::ContainerRecord;
use runtime::{Runtime, ShimRef};
use store::ContainerStore;

use crate::events::Events;
use crate::images::ImageService;

/// A client waiting to attach to a container that has not started yet: it
/// gets the shim once it exists and must answer before the process starts.
type PendingAttach = oneshot::Sender<(ShimRef, oneshot::Sender<()>)>;

/// The container service.
#[derive(Debug)]
pub struct ContainerService {
    store: ContainerStore,
    images: Arc<ImageService>,
    events: Events,
    config: ContainerConfig,
    runtime: Runtime,
    /// Exec instances (dropped with their container).
    execs: exec::ExecTable,
    /// The health monitors of running healthchecked containers.
    health: health::Monitors,
    /// Latest record per container (`None` once removed), for waiters.
    watches: Mutex<HashMap<String, watch::Sender<Option<ContainerRecord>>>>,
    /// `--rm` containers being got ready between create and start.
    prepared: Mutex<HashMap<String, Arc<prepare::Prepared>>>,
    /// Attach requests made before start.
    pending_attach: Mutex<HashMap<String, Vec<PendingAttach>>>,
    /// Exit codes of the last removed containers, newest last: a waiter
    /// woken late may see the removal without the exit before it.
    removed_exits: Mutex<VecDeque<(String, i64)>>,
    /// The network service, once the daemon set it (without one,
    /// containers get a namespace with `lo` only and `-p` is refused).
    networks: std::sync::OnceLock<Arc<crate::networks::NetworkService>>,
    /// The volume service, once attached (see [`mounting`]).
    volumes: OnceLock<mounting::VolumeLink>,
}

/// How many removed containers' exit codes are kept.
const REMOVED_EXITS: usize = 256;

impl ContainerService {
    /// Open the container store under `data_root`, with `config`, running
    /// containers with `skiff-shim` (found next to skiffd or on `PATH`).
    pub fn open(
        data_root: &Path,
        images: Arc<ImageService>,
        events: Events,
        config: ContainerConfig,
    ) -> Result<Self, ContainerError> {
        Self::open_with(data_root, images, events, config, Runtime::real()?)
    }

    /// [`ContainerService::open`] with another runtime (a test double).
    pub fn open_with(
        data_root: &Path,
        images: Arc<ImageService>,
        events: Events,
        config: ContainerConfig,
        runtime: Runtime,
    ) -> Result<Self, ContainerError> {
        let store = ContainerStore::open(&data_root.join("containers"))?;
        Ok(Self {
            store,
            images,
            events,
            config,
            runtime,
            execs: exec::ExecTable::default(),
            health: health::Monitors::default(),
            watches: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            pending_attach: Mutex::new(HashMap::new()),
            removed_exits: Mutex::new(VecDeque::new()),
            networks: std::sync::OnceLock::new(),
            volumes: OnceLock::new(),
        })
    }

    /// The settings the service was opened with.
    pub fn config(&self) -> &ContainerConfig {
        &self.config
    }

    /// Container `id`'s cgroup (relative to each hierarchy's root): its
    /// record's, or under the daemon's parent once the record is gone.
    pub(crate) fn cgroup_of(&self, id: &str) -> String {
        match self.store.get(id) {
            Some(record) => record.cgroup(),
            None => cgroups::relative_path(&self.config.cgroup_parent, id),
        }
    }

    /// The containers created from image `id`: `(container id, running)`.
    pub fn users_of(&self, image: &skiff_oci::Digest) -> Vec<(String, bool)> {
        self.store
            .snapshot()
            .iter()
            .filter(|r| &r.image_id == image)
            .map(|r| (r.id.clone(), r.state.status.is_live()))
            .collect()
    }

    /// Resolve a name, id or id prefix.
    pub fn resolve(&self, what: &str) -> Result<ContainerRecord, ContainerError> {
        self.store.resolve(what)
    }

    /// The layers under a container's writable layer, top first (the
    /// overlay's lowerdir): its [init layer](init_layer) when it has one
    /// (containers made before it have none), then its image's layers; an
    /// error if the image record is gone.
    fn image_lower_dirs(&self, record: &ContainerRecord) -> Result<Vec<PathBuf>, ContainerError> {
        let init = init_layer::path(&self.store.dir(&record.id));
        let mut dirs: Vec<PathBuf> = Vec::new();
        if init.is_dir() {
            dirs.push(init);
        }
        let image = self
            .images
            .stores()
            .images
            .read(|ix| ix.images.get(&record.image_id).cloned())
            .ok_or_else(|| {
                ContainerError::Runtime(format!(
                    "image {} of container {} is gone",
                    record.image_id,
                    record.short_id()
                ))
            })?;
        dirs.extend(self.images.lower_dirs(&image));
        Ok(dirs)
    }

    /// The shim state directory of a container.
    pub fn shim_dir(&self, id: &str) -> PathBuf {
        self.store.dir(id).join("shim")
    }

    /// The shim of container `id` (not checked to answer).
    fn shim(&self, id: &str) -> ShimRef {
        ShimRef::new(self.runtime.shims.clone(), self.shim_dir(id))
    }

    /// The shim of container `id`, checked to answer.
    fn connect_shim(&self, id: &str) -> Result<ShimRef, skiff_shim::Error> {
        ShimRef::connect(self.runtime.shims.clone(), self.shim_dir(id))
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.store.dir(id).join(format!("{id}-json.log"))
    }

    /// A receiver of a container's record changes.
    pub fn watch(&self, id: &str) -> watch::Receiver<Option<ContainerRecord>> {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        watches
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(self.store.get(id)).0)
            .subscribe()
    }

    /// Persist a change and tell the waiters.
    fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let next = self.store.update(id, f)?;
        self.notify(id, Some(next.clone()));
        Ok(next)
    }

    /// Keep the exit code of a container being removed.
    fn remember_exit(&self, id: &str, code: i64) {
        let mut exits = self.removed_exits.lock().unwrap_or_else(|p| p.into_inner());
        if exits.len() >= REMOVED_EXITS {
            exits.pop_front();
        }
        exits.push_back((id.to_owned(), code));
    }

    /// The exit code of a container removed lately (for `wait`s that see
    /// the removal but missed the exit).
    pub fn removed_exit_code(&self, id: &str) -> Option<i64> {
        self.removed_exits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, code)| *code)
    }

    fn notify(&self, id: &str, record: Option<ContainerRecord>) {
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = watches.get(id) {
            tx.send_replace(record);
        }
    }

    /// Publish a container event (with the container's labels and name).
    fn event(&self, action: &str, id: &str, attrs: &[(&str, &str)]) {
        self.events
            .publish(crate::events::EventType::Container, action, id, attrs);
    }

    /// Publish a container event with the usual attributes of `record`.
    fn record_event(&self, action: &str, record: &ContainerRecord, extra: &[(&str, &str)]) {
        let mut attrs: Vec<(&str, &str)> = vec![
            ("image", record.image.as_str()),
            ("name", record.name.as_str()),
        ];
        if let Some(labels) = &record.config.labels {
            attrs.extend(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        attrs.extend_from_slice(extra);
        self.event(action, &record.id, &attrs);
    }
}
