//! The image service: everything `docker image …` does, over the stores.
//!
//! One operation group per file: [`pull`], [`push`], [`layer`] (the streaming layer
//! pipeline), [`inspect`] (list, inspect, history), [`remove`] (tag, rmi,
//! prune, garbage collection), [`archive`] (load, save), [`import`].
//! It knows nothing of HTTP: callers pass typed requests and get typed
//! results, errors carry an [`ErrorKind`](crate::errdefs::ErrorKind).

pub mod archive;
pub mod compose;
pub mod distribution;
pub mod error;
pub mod import;
pub mod inspect;
pub mod layer;
pub mod progress;
pub mod pull;
pub mod push;
mod push_plan;
pub mod remove;
pub mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_oci::Digest;
use skiff_oci::documents::ImageConfig;
use skiff_registry::{RegistryClient, RegistryConfig};
use skiff_store::content::ContentStore;
use skiff_store::images::{ImageRecord, ImageStore};
use skiff_store::snapshots::Snapshots;

pub use error::ImageError;

use crate::events::Events;

/// The stores an image service works on.
#[derive(Debug)]
pub struct Stores {
    /// Blobs.
    pub content: ContentStore,
    /// Unpacked layers.
    pub snapshots: Snapshots,
    /// Image records and names.
    pub images: ImageStore,
    /// Scratch space (archives being loaded), emptied at start.
    pub scratch: PathBuf,
}

impl Stores {
    /// Open every store under `data_root`.
    pub fn open(data_root: &Path) -> Result<Self, ImageError> {
        let scratch = data_root.join("tmp");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .map_err(|e| ImageError::Store(format!("clearing {}: {e}", scratch.display())))?;
        }
        std::fs::create_dir_all(&scratch)
            .map_err(|e| ImageError::Store(format!("creating {}: {e}", scratch.display())))?;
        Ok(Self {
            content: ContentStore::open(&data_root.join("content"))?,
            snapshots: Snapshots::open(&data_root.join("snapshots"))?,
            images: ImageStore::open(&data_root.join("images"))?,
            scratch,
        })
    }
}

/// The image service.
#[derive(Debug)]
pub struct ImageService {
    stores: Arc<Stores>,
    registry: RegistryClient,
    /// Held shared by every operation that writes content it has not yet
    /// recorded (pull, load, import); held exclusively by garbage collection,
    /// so it never collects content an operation is about to record.
    gc_lock: tokio::sync::RwLock<()>,
    /// Where image events go.
    events: Events,
    /// Who uses an image (containers), set once by the daemon.
    users: std::sync::OnceLock<UsersHook>,
}

/// [`ImageUsers`] behind a `Debug` the service's derive can use.
struct UsersHook(ImageUsers);

impl std::fmt::Debug for UsersHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImageUsers")
    }
}

/// The containers using an image: `(container id, running)` pairs. Set by the
/// daemon so the image service never depends on the container service.
pub type ImageUsers = Arc<dyn Fn(&Digest) -> Vec<(String, bool)> + Send + Sync>;

impl ImageService {
    /// Open the service over the stores in `data_root`, collecting garbage
    /// left by interrupted operations.
    pub fn open(
        data_root: &Path,
        registry: RegistryConfig,
        events: Events,
    ) -> Result<Self, ImageError> {
        let stores = Arc::new(Stores::open(data_root)?);
        let registry =
            RegistryClient::new(registry).map_err(|e| ImageError::Registry(e.to_string()))?;
        let service = Self {
            stores,
            registry,
            gc_lock: tokio::sync::RwLock::new(()),
            users: std::sync::OnceLock::new(),
            events,
        };
        let collected = service.collect_garbage()?;
        if collected > 0 {
            tracing::info!("removed {collected} unreferenced blobs and snapshots");
        }
        Ok(service)
    }

    /// The stores (for this crate's services that use images, such as
    /// containers; callers outside use the service's methods).
    pub(crate) fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// Tell the service how to find the containers that use an image.
    pub fn set_users(&self, users: ImageUsers) {
        let _ = self.users.set(UsersHook(users));
    }

    /// The containers using image `id`.
    pub fn users_of(&self, id: &Digest) -> Vec<(String, bool)> {
        self.users.get().map(|f| (f.0)(id)).unwrap_or_default()
    }

    /// Number of images.
    pub fn count(&self) -> usize {
        self.stores.images.read(|ix| ix.images.len())
    }

    /// Resolve a name or id to an image id.
    pub fn resolve(&self, name: &str) -> Result<Digest, ImageError> {
        self.stores.images.read(|ix| resolve::resolve(ix, name))
    }

    /// The record and parsed config of an image.
    pub fn get(&self, name: &str) -> Result<(ImageRecord, ImageConfig), ImageError> {
        let id = self.resolve(name)?;
        let record = self
            .stores
            .images
            .read(|ix| ix.images.get(&id).cloned())
            .ok_or_else(|| ImageError::NotFound(name.to_owned()))?;
        let config = self.config_of(&id)?;
        Ok((record, config))
    }

    /// The record of image `id`, if there is one.
    pub fn record(&self, id: &Digest) -> Option<ImageRecord> {
        self.stores.images.read(|ix| ix.images.get(id).cloned())
    }

    /// The parsed config blob of an image.
    pub fn config_of(&self, id: &Digest) -> Result<ImageConfig, ImageError> {
        let bytes = self.stores.content.read(id)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Store(format!("image config {id} is corrupt: {e}")))
    }

    /// Publish an image event whose `name` attribute is `name`.
    fn event(&self, action: &str, actor: &str, name: &str) {
        self.events.publish(
            crate::events::EventType::Image,
            action,
            actor,
            &[("name", name)],
        );
    }

    /// Overlay lower directories of an image, top layer first.
    pub fn lower_dirs(&self, record: &ImageRecord) -> Vec<PathBuf> {
        record
            .layers
            .iter()
            .rev()
            .map(|d| self.stores.snapshots.fs_path(d))
            .collect()
    }
}

/// Now, as RFC 3339 with nanoseconds (docker's time format).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
