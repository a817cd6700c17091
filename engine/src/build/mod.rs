//! The build service: `docker build` as dockerd's legacy builder runs it
//! (`POST /build`), and `docker commit` (`POST /commit`).
//!
//! Design. A build is: the context tar is extracted into a scratch
//! directory ([`context`]); the Dockerfile is parsed ([`parse`], with the
//! `parse-dockerfile` crate) into stages of typed instructions; the stages
//! up to the target run in order ([`dispatch`]), one step kind per file:
//!
//! - [`from`]: the base image (pulled if missing), `scratch`, or an earlier
//!   stage's result;
//! - [`run`]: a container made through the container service from the
//!   current image with the `RUN` command, started, waited for, its output
//!   streamed; its changes ([`crate::containers::diff_export`]) become the
//!   new layer; the container is removed, also when it fails or the client
//!   goes away;
//! - [`copy`]: `COPY`/`ADD` write a layer tar directly from the context (or
//!   from an earlier stage, read through a container's archive), root-safe:
//!   sources resolve inside the context, the layer is unpacked by the store's
//!   one layer pipeline, which never writes outside its snapshot;
//! - [`metadata`]: `ENV`, `LABEL`, `CMD`, … change the config only.
//!
//! Every step records an image (the new layer, if any, through
//! [`ImageService::create_image`](crate::images::ImageService::create_image))
//! whose parent is the previous step's, with a `history` entry as dockerd
//! writes it (`empty_layer` for metadata steps). [`cache`]: a step whose
//! (parent image, instruction — with the content checksum of `COPY`
//! sources) was built before reuses that image (` ---> Using cache`); the
//! table is persisted atomically, so the cache survives a restart. The
//! checksums of the context's entries are taken while it is extracted
//! ([`tarsum`]), so a `COPY` that hits the cache reads no file.
//!
//! Progress is a stream of [`BuildEvent`]s; when its receiver is dropped
//! (the client disconnected) the build stops and removes its container.
//! [`commit`]: a container's changes become a layer on its image, with
//! `--change` instructions applied by the same [`metadata`] code.

pub mod cache;
pub mod commit;
pub mod context;
pub mod copy;
pub mod dispatch;
pub mod error;
pub mod from;
pub mod metadata;
pub mod parse;
pub mod run;
pub mod spool;
pub mod tarsum;
pub mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_oci::Digest;
use tokio::sync::mpsc;

pub use error::BuildError;

use crate::containers::ContainerService;
use crate::images::ImageService;

/// A build request (the query of `POST /build`).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// `dockerfile`: its path in the context (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// `t`: names for the result.
    pub tags: Vec<String>,
    /// `buildargs`: values for `ARG`s (`None`: from the client's
    /// environment, which the CLI already resolved, so unset).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `labels`: set on the final image.
    pub labels: BTreeMap<String, String>,
    /// `target`: the last stage to build.
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `rm` (default true): remove intermediate containers after a
    /// successful step. Containers of failed steps are always removed.
    pub rm: bool,
    /// `forcerm`.
    pub force_rm: bool,
    /// `q`: only the image id is printed.
    pub quiet: bool,
    /// `pull`: pull `FROM` images even when present.
    pub pull: bool,
    /// `X-Registry-Config`: credentials by registry (as the CLI keys them:
    /// `127.0.0.1:5000`, `https://index.docker.io/v1/`) for pulls of
    /// `FROM` images.
    pub registry_auth: BTreeMap<String, skiff_registry::Credentials>,
}

/// What a build reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// Text for the client's output (`{"stream": …}`).
    Stream(String),
    /// The result's id (`{"aux": {"ID": …}}`).
    Aux(Digest),
}

/// Where a build's events go; a closed channel means the client is gone.
#[derive(Debug, Clone)]
pub struct Progress {
    tx: mpsc::UnboundedSender<BuildEvent>,
    quiet: bool,
}

impl Progress {
    /// A progress channel; `quiet` drops [`Progress::say`] text.
    pub fn channel(quiet: bool) -> (Self, mpsc::UnboundedReceiver<BuildEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx, quiet }, rx)
    }

    /// Print `text` (unless quiet).
    pub fn say(&self, text: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(BuildEvent::Stream(text.into()));
        }
    }

    /// Send an event whatever the mode.
    pub fn send(&self, event: BuildEvent) {
        let _ = self.tx.send(event);
    }

    /// Whether the client went away.
    pub fn cancelled(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the client goes away.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// `Err(Cancelled)` once the client went away.
    pub fn check(&self) -> Result<(), BuildError> {
        if self.cancelled() {
            Err(BuildError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A cached build step, as `/system/df` reports build cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUsage {
    /// The entry's id (its cache key, hex).
    pub id: String,
    /// The image the step made.
    pub image: Digest,
    /// The step's instruction (history text).
    pub description: String,
    /// When the step ran (RFC 3339).
    pub created: Option<String>,
    /// Bytes of the layer the step added (0 for a metadata step).
    pub size: u64,
}

/// A cache key (`sha256:…`) as an entry id: its hex.
fn key_id(key: &str) -> String {
    key.strip_prefix("sha256:").unwrap_or(key).to_owned()
}

/// The label of a `RUN` step's container that the step removes when it
/// ends (not those `--rm=false` keeps).
pub const STEP_CONTAINER_LABEL: &str = "org.skiff.build.step";

/// The build service.
#[derive(Debug)]
pub struct BuildService {
    images: Arc<ImageService>,
    containers: Arc<ContainerService>,
    cache: cache::Cache,
    /// Contexts being built (`<data-root>/build/tmp`, emptied at start).
    scratch: PathBuf,
}

impl BuildService {
    /// Open the service over `<data_root>/build`, sweeping what an
    /// interrupted build left.
    pub fn open(
        data_root: &Path,
        images: Arc<ImageService>,
        containers: Arc<ContainerService>,
    ) -> Result<Self, BuildError> {
        let root = data_root.join("build");
        let scratch = root.join("tmp");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .map_err(|e| BuildError::io(format!("clearing {}", scratch.display()), e))?;
        }
        std::fs::create_dir_all(&scratch)
            .map_err(|e| BuildError::io(format!("creating {}", scratch.display()), e))?;
        Ok(Self {
            cache: cache::Cache::open(&root.join("cache.json"))?,
            images,
            containers,
            scratch,
        })
    }

    /// Remove the `RUN` step containers an interrupted build left (a
    /// daemon killed during a step): every container labelled
    /// [`STEP_CONTAINER_LABEL`]. Run once at start, after the container
    /// service has reconciled, before the API serves.
    pub async fn sweep_step_containers(&self) {
        let filter = crate::containers::list::ListFilter {
            all: true,
            label: vec![STEP_CONTAINER_LABEL.to_owned()],
            ..Default::default()
        };
        for record in self.containers.list(&filter) {
            tracing::info!(
                "removing build container {} of an interrupted build",
                record.id
            );
            if let Err(e) = self.containers.remove(&record.id, true).await {
                tracing::warn!("removing build container {}: {e}", record.id);
            }
        }
    }

    /// `docker builder prune`: forget every cached step; returns their
    /// ids (cache keys, hex). No space is freed: a step's result is an
    /// image, which stays until `docker image prune`/`rmi` removes it.
    pub fn prune(&self) -> Result<Vec<String>, BuildError> {
        Ok(self
            .cache
            .clear()?
            .into_iter()
            .map(|(key, _)| key_id(&key))
            .collect())
    }

    /// The cached steps whose image still exists, as `/system/df` lists
    /// them: the step's instruction (its history text), its creation time
    /// and the size of the layer it added (shared with the image, so
    /// nothing a prune would free).
    pub fn disk_usage(&self) -> Vec<CacheUsage> {
        let mut out = Vec::new();
        for (key, image) in self.cache.entries() {
            let Some(record) = self.images.record(&image) else {
                continue;
            };
            let parent_size = record
                .parent
                .as_ref()
                .and_then(|p| self.images.record(p))
                .map(|p| p.size)
                .unwrap_or(0);
            let last = self
                .images
                .config_of(&image)
                .ok()
                .and_then(|c| c.history.last().cloned());
            out.push(CacheUsage {
                id: key_id(&key),
                image,
                description: last
                    .as_ref()
                    .and_then(|h| h.created_by.clone())
                    .unwrap_or_default(),
                created: last.and_then(|h| h.created),
                size: record.size.saturating_sub(parent_size),
            });
        }
        out
    }

    /// A fresh scratch directory for one build.
    fn scratch_dir(&self) -> Result<tempfile::TempDir, BuildError> {
        tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&self.scratch)
            .map_err(|e| BuildError::io("creating a build directory", e))
    }
}
