//! `docker push`: upload an image's layers and config to its repository's
//! registry, then put its manifest under the tag, reporting progress in
//! dockerd's words.
//!
//! Contract:
//! - the manifest pushed is the one stored with the image (the one it was
//!   pulled or loaded with), byte for byte, when every blob it names is in
//!   the content store; otherwise a docker schema2 manifest (OCI when a
//!   layer is zstd) is made from the image's layers as stored, recorded
//!   with the image, and pushed. Pulling the tag back gives the digest the
//!   push printed;
//! - each layer is checked on the registry first (`Layer already exists`),
//!   then mounted from another repository of the same registry the image
//!   is known under (`Mounted from <repo>`), and only then uploaded
//!   (`Pushing` with bytes, `Pushed`); at most [`CONCURRENT_UPLOADS`] at
//!   once (dockerd's default), the others `Waiting`;
//! - without a tag every tag of the repository is pushed (`--all-tags`);
//! - after a push the image is known as `<repo>@<digest>`, so later pushes
//!   to other repositories of that registry mount its blobs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use skiff_oci::Digest;
use skiff_oci::reference::Reference;
use skiff_registry::{Credentials, Mount, PushRepository, RegistryError, UploadObserver};

use super::error::ImageError;
use super::progress::ProgressSink;
use super::push_plan::{Blob, plan, short_id, stored_manifest};
use super::{ImageService, Stores};

/// Layers uploaded at once per push (dockerd's `max-concurrent-uploads`).
const CONCURRENT_UPLOADS: usize = 5;
/// Repositories a layer is offered to mount from, at most.
const MOUNT_CANDIDATES: usize = 3;

/// A push request, as `POST /images/{name}/push` carries it.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// The repository (`127.0.0.1:5000/a/b`, `user/app`), maybe with a tag.
    pub name: String,
    /// `tag`; none pushes every tag of the repository.
    pub tag: Option<String>,
    /// Credentials from `X-Registry-Auth`.
    pub credentials: Option<Credentials>,
}

/// One tag pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    /// The tag.
    pub tag: String,
    /// The manifest digest on the registry.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
}

/// Docker's wording of a failed push.
fn push_error(e: RegistryError) -> ImageError {
    if e.is_unauthorized() {
        ImageError::Unauthorized(e.to_string())
    } else if e.is_not_found() {
        ImageError::RegistryNotFound(e.to_string())
    } else {
        ImageError::Registry(e.to_string())
    }
}

impl ImageService {
    /// Push an image (or every tag of a repository); see the module docs.
    /// Progress starts with `The push refers to repository [...]`, so the
    /// errors that follow belong in the stream.
    pub async fn push(
        &self,
        req: PushRequest,
        progress: &ProgressSink,
    ) -> Result<Vec<PushedTag>, ImageError> {
        let parsed = Reference::parse(&req.name)?;
        let reference = match req.tag.as_deref().filter(|t| !t.is_empty()) {
            Some(tag) => parsed.name_only().with_tag(tag)?,
            None => parsed,
        };
        if reference.digest().is_some() {
            return Err(ImageError::InvalidArgument(
                "cannot push a digest reference".into(),
            ));
        }
        let repo = reference.name_only();
        progress.status(
            None,
            format!("The push refers to repository [{}]", repo.name()),
        );
        let prefix = format!("{repo}:");
        let tags: Vec<(String, Digest)> = self.stores.images.read(|ix| {
            ix.tags
                .iter()
                .filter_map(|(k, id)| Some((k.strip_prefix(&prefix)?.to_owned(), id.clone())))
                .collect()
        });
        if tags.is_empty() {
            return Err(ImageError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                repo.familiar_name()
            )));
        }
        let tags = match reference.tag() {
            Some(tag) => {
                let found = tags.into_iter().find(|(t, _)| t == tag).ok_or_else(|| {
                    ImageError::NotFound(format!("tag does not exist: {}", reference.familiar()))
                })?;
                vec![found]
            }
            None => tags,
        };
        let _writing = self.gc_lock.read().await;
        let sources = self.mount_sources(&repo);
        let all_sources: Vec<String> = sources.values().flatten().cloned().collect();
        let target = self
            .registry
            .push_repository(&repo, &all_sources, req.credentials.clone())
            .await
            .map_err(push_error)?;
        let mut pushed = Vec::new();
        for (tag, id) in tags {
            pushed.push(
                self.push_tag(&target, &repo, &tag, &id, &sources, progress)
                    .await?,
            );
        }
        let actor = match reference.tag() {
            Some(_) => reference.familiar(),
            None => repo.familiar_name(),
        };
        self.event("push", &actor, &repo.familiar_name());
        Ok(pushed)
    }

    /// Push one tag's image.
    async fn push_tag(
        &self,
        target: &PushRepository,
        repo: &Reference,
        tag: &str,
        id: &Digest,
        sources: &BTreeMap<Digest, Vec<String>>,
        progress: &ProgressSink,
    ) -> Result<PushedTag, ImageError> {
        let record = self
            .record(id)
            .ok_or_else(|| ImageError::NotFound(format!("tag does not exist: {tag}")))?;
        // Top layer first, as dockerd lists them.
        for diff_id in record.layers.iter().rev() {
            progress.status(Some(&short_id(diff_id)), "Preparing");
        }
        let (stores, sources) = (self.stores.clone(), sources.clone());
        let plan = tokio::task::spawn_blocking(move || plan(&stores, &record, &sources)).await??;
        self.upload_layers(target, &plan.layers, progress).await?;
        let silent = ProgressSink::discard();
        ensure_blob(target, &self.stores, &plan.config, None, &silent).await?;
        skiff_failpoint::point!(skiff_failpoint::PUSH_AFTER_LAYERS);
        let digest = target
            .put_manifest(tag, &plan.media_type, plan.manifest.clone())
            .await
            .map_err(push_error)?;
        skiff_failpoint::point!(skiff_failpoint::PUSH_AFTER_MANIFEST);
        let size = plan.manifest.len() as u64;
        let digest_key = repo.clone().with_digest(digest.clone()).to_string();
        if plan.made {
            self.stores
                .content
                .write_blob(&plan.manifest, Some(&digest))?;
        }
        self.stores.images.update(|ix| {
            if let Some(rec) = ix.images.get_mut(id) {
                if plan.made || rec.manifest.is_none() {
                    rec.manifest = Some(digest.clone());
                }
            }
            ix.digests.insert(digest_key, id.clone());
        })?;
        progress.status(None, format!("{tag}: digest: {digest} size: {size}"));
        progress.aux(serde_json::json!({
            "Tag": tag,
            "Digest": digest.to_string(),
            "Size": size,
        }));
        Ok(PushedTag {
            tag: tag.to_owned(),
            digest,
            size,
        })
    }

    /// Upload layers concurrently (at most [`CONCURRENT_UPLOADS`], top
    /// layer first as dockerd); the first failure cancels the rest.
    async fn upload_layers(
        &self,
        target: &PushRepository,
        layers: &[Blob],
        progress: &ProgressSink,
    ) -> Result<(), ImageError> {
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS));
        let mut tasks = tokio::task::JoinSet::new();
        let mut seen = std::collections::BTreeSet::new();
        for layer in layers
            .iter()
            .rev()
            .filter(|l| seen.insert(l.digest.clone()))
        {
            let (target, stores, progress, layer) = (
                target.clone(),
                self.stores.clone(),
                progress.clone(),
                layer.clone(),
            );
            let permit = match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    progress.status(Some(&layer.id), "Waiting");
                    None
                }
            };
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = match permit {
                    Some(p) => p,
                    None => permits
                        .acquire_owned()
                        .await
                        .map_err(|e| ImageError::Store(e.to_string()))?,
                };
                ensure_blob(&target, &stores, &layer, Some(&layer.id), &progress).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    }

    /// For each blob of the images known in `repo`'s registry under other
    /// repositories (`name@digest` references: pull origins and earlier
    /// pushes), those repositories, most recent knowledge first.
    fn mount_sources(&self, repo: &Reference) -> BTreeMap<Digest, Vec<String>> {
        let known: Vec<(String, Digest)> = self.stores.images.read(|ix| {
            ix.digests
                .iter()
                .filter_map(|(key, id)| {
                    let r = Reference::parse(key).ok()?;
                    (r.domain() == repo.domain() && r.path() != repo.path())
                        .then(|| (r.path().to_owned(), id.clone()))
                })
                .collect()
        });
        let mut sources: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for (path, id) in known {
            let Some(record) = self.record(&id) else {
                continue;
            };
            let Ok(Some((_, _, manifest))) = stored_manifest(&self.stores, &record) else {
                continue;
            };
            for d in manifest.layers.iter().chain([&manifest.config]) {
                let list = sources.entry(d.digest.clone()).or_default();
                if !list.contains(&path) && list.len() < MOUNT_CANDIDATES {
                    list.push(path.clone());
                }
            }
        }
        sources
    }
}

/// Reports upload progress as `Pushing` and retries as dockerd words them.
struct Reporter {
    id: String,
    total: u64,
    progress: ProgressSink,
    /// Bytes at the last report, to report about every 1%.
    last: std::sync::atomic::AtomicU64,
}

impl UploadObserver for Reporter {
    fn sent(&self, sent: u64) {
        use std::sync::atomic::Ordering;
        let step = (self.total / 100).max(64 * 1024);
        let last = self.last.load(Ordering::Relaxed);
        if sent < last || sent - last >= step || sent == self.total {
            self.last.store(sent, Ordering::Relaxed);
            self.progress
                .bytes(&self.id, "Pushing", sent, Some(self.total));
        }
    }

    fn retrying(&self, _error: &RegistryError, delay: Duration) {
        self.progress.retrying(&self.id, delay);
        self.last.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Make `blob` present in `target`: already there, mounted from one of its
/// sources, or uploaded from the content store. `id` is the progress id
/// (none: report nothing, as for the config).
async fn ensure_blob(
    target: &PushRepository,
    stores: &Arc<Stores>,
    blob: &Blob,
    id: Option<&str>,
    progress: &ProgressSink,
) -> Result<(), ImageError> {
    let report = |status: String| {
        if let Some(id) = id {
            progress.status(Some(id), status);
        }
    };
    if target.blob_exists(&blob.digest).await.map_err(push_error)? {
        report("Layer already exists".to_owned());
        return Ok(());
    }
    let mut started = None;
    for source in &blob.sources {
        match target.mount(&blob.digest, source).await {
            Ok(Mount::Mounted) => {
                report(format!("Mounted from {source}"));
                return Ok(());
            }
            Ok(Mount::Started(location)) => {
                started = Some(location);
                break;
            }
            Err(e) => tracing::info!(digest = %blob.digest, %source, error = %e, "mount failed"),
        }
    }
    let observer: Arc<dyn UploadObserver> = Arc::new(Reporter {
        id: id.unwrap_or_default().to_owned(),
        total: blob.size,
        progress: if id.is_some() {
            progress.clone()
        } else {
            ProgressSink::discard()
        },
        last: std::sync::atomic::AtomicU64::new(0),
    });
    let path = stores.content.path(&blob.digest);
    let open = move || std::fs::File::open(&path);
    target
        .upload(&blob.digest, blob.size, &open, started, &observer)
        .await
        .map_err(push_error)?;
    report("Pushed".to_owned());
    Ok(())
}
