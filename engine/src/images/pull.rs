//! `docker pull`: resolve the reference on the registry (mirrors first for
//! docker.io), pick the platform's manifest from an index, fetch the config,
//! then fetch and unpack every missing layer concurrently, and record the
//! image only when everything is committed.

use std::sync::Arc;

use skiff_oci::Digest;
use skiff_oci::documents::{self, Descriptor, ImageConfig, Index, Manifest};
use skiff_oci::platform::{self, Platform};
use skiff_oci::reference::Reference;
use skiff_registry::{Credentials, RegistryError, Repository};
use skiff_store::images::ImageRecord;

use super::error::ImageError;
use super::progress::ProgressSink;
use super::{ImageService, layer, now_rfc3339};

/// Layers fetched at once per pull.
const CONCURRENT_LAYERS: usize = 6;
/// Largest manifest or config accepted.
pub(crate) const MAX_DOCUMENT: u64 = 8 << 20;

/// A pull request, as `POST /images/create?fromImage=` carries it.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `fromImage`.
    pub image: String,
    /// `tag` (a tag or a digest), if separate.
    pub tag: Option<String>,
    /// `platform`, e.g. `linux/arm64`.
    pub platform: Option<String>,
    /// Credentials from `X-Registry-Auth`.
    pub credentials: Option<Credentials>,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// The image id.
    pub id: Digest,
    /// The fully qualified reference pulled.
    pub reference: String,
    /// Whether the name now points at a different image than before.
    pub updated: bool,
}

/// Parse `fromImage` + `tag` as docker does.
pub fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference, ImageError> {
    let reference = Reference::parse(image)?;
    let reference = match tag.filter(|t| !t.is_empty()) {
        None => reference,
        Some(t) if t.starts_with("sha256:") => {
            let d: Digest = t
                .parse()
                .map_err(|e: skiff_oci::DigestError| ImageError::InvalidArgument(e.to_string()))?;
            reference.name_only().with_digest(d)
        }
        Some(t) => reference.with_tag(t)?,
    };
    Ok(reference.with_default_tag())
}

/// Docker's wording of a failed pull.
pub(crate) fn pull_error(reference: &Reference, e: RegistryError) -> ImageError {
    if e.is_unauthorized() {
        return ImageError::RegistryNotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
            reference.familiar_name()
        ));
    }
    if e.is_not_found() {
        return ImageError::RegistryNotFound(format!(
            "manifest for {} not found: {e}",
            reference.familiar()
        ));
    }
    ImageError::Registry(e.to_string())
}

impl ImageService {
    /// Pull an image, reporting progress. See the module docs.
    pub async fn pull(
        &self,
        req: PullRequest,
        progress: &ProgressSink,
    ) -> Result<PullOutcome, ImageError> {
        let reference = pull_reference(&req.image, req.tag.as_deref())?;
        let wanted = match req.platform.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => {
                Platform::parse(p).map_err(|e| ImageError::InvalidArgument(e.to_string()))?
            }
            None => Platform::host(),
        };
        let _writing = self.gc_lock.read().await;
        let (repo, top) = self
            .registry
            .pull_manifest(&reference, req.credentials.clone())
            .await
            .map_err(|e| pull_error(&reference, e))?;

        let (manifest_digest, manifest_bytes) = if documents::is_index(&top.media_type) {
            let index: Index = serde_json::from_slice(&top.bytes)
                .map_err(|e| ImageError::Registry(format!("invalid index {}: {e}", top.digest)))?;
            let entry = platform::select(&index.manifests, &wanted).ok_or_else(|| {
                ImageError::RegistryNotFound(format!(
                    "no matching manifest for {wanted} in the manifest list entries"
                ))
            })?;
            let m = repo
                .manifest(&entry.digest.to_string())
                .await
                .map_err(|e| pull_error(&reference, e))?;
            (m.digest, m.bytes)
        } else {
            (top.digest.clone(), top.bytes.clone())
        };
        let shown_tag = reference
            .tag()
            .map(str::to_owned)
            .unwrap_or_else(|| top.digest.to_string());
        progress.status(
            Some(&shown_tag),
            format!("Pulling from {}", reference.path()),
        );

        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
            ImageError::Registry(format!("invalid manifest {manifest_digest}: {e}"))
        })?;
        let config_bytes = repo
            .blob_bytes(&manifest.config.digest, MAX_DOCUMENT)
            .await
            .map_err(|e| ImageError::Registry(e.to_string()))?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            ImageError::Registry(format!(
                "invalid image config {}: {e}",
                manifest.config.digest
            ))
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::Registry(format!(
                "image config {} lists {} layers but manifest {manifest_digest} has {}",
                manifest.config.digest,
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            )));
        }

        let jobs: Vec<_> = manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .collect();
        for (desc, diff_id) in &jobs {
            let status = if self.stores.snapshots.contains(diff_id) {
                "Already exists"
            } else {
                "Pulling fs layer"
            };
            progress.status(Some(desc.digest.short()), status);
        }
        let missing: Vec<(Descriptor, Digest)> = jobs
            .iter()
            .filter(|(_, d)| !self.stores.snapshots.contains(d))
            .map(|(desc, d)| ((*desc).clone(), (*d).clone()))
            .collect();
        self.fetch_layers(&repo, missing, progress).await?;

        self.stores
            .content
            .write_blob(&config_bytes, Some(&manifest.config.digest))?;
        self.stores
            .content
            .write_blob(&manifest_bytes, Some(&manifest_digest))?;
        let id = manifest.config.digest.clone();
        let size = self.layers_size(&config.rootfs.diff_ids)?;
        let tag_key = reference.to_string();
        let digest_key = reference
            .name_only()
            .with_digest(top.digest.clone())
            .to_string();
        skiff_failpoint::point!(skiff_failpoint::PULL_BEFORE_RECORD);
        let updated = self.stores.images.update(|ix| {
            let before = ix.tags.get(&tag_key).cloned();
            let record = ix.images.entry(id.clone()).or_insert_with(|| {
                ImageRecord::new(id.clone(), config.rootfs.diff_ids.clone(), size)
            });
            record.manifest = Some(manifest_digest.clone());
            if reference.tag().is_some() && before.as_ref() != Some(&id) {
                record.last_tag_time = Some(now_rfc3339());
                ix.tags.insert(tag_key.clone(), id.clone());
            }
            ix.digests.insert(digest_key.clone(), id.clone());
            before.as_ref() != Some(&id)
        })?;
        skiff_failpoint::point!(skiff_failpoint::PULL_AFTER_RECORD);
        self.event("pull", &reference.familiar(), &reference.familiar_name());
        progress.status(None, format!("Digest: {}", top.digest));
        let shown = reference.familiar();
        progress.status(
            None,
            if updated {
                format!("Status: Downloaded newer image for {shown}")
            } else {
                format!("Status: Image is up to date for {shown}")
            },
        );
        Ok(PullOutcome {
            id,
            reference: tag_key,
            updated,
        })
    }

    /// Check credentials against a registry (`docker login`); returns the
    /// identity (refresh) token the registry's token server issued, if any.
    /// A refusal is worded as dockerd's (`login attempt to … failed with
    /// status: 401 Unauthorized`) and is [`ImageError::Unauthorized`].
    pub async fn login(
        &self,
        server: &str,
        creds: &Credentials,
    ) -> Result<Option<String>, ImageError> {
        self.registry
            .login(server, creds)
            .await
            .map(|outcome| outcome.identity_token)
            .map_err(|e| {
                if e.is_unauthorized() {
                    ImageError::Unauthorized(e.to_string())
                } else {
                    ImageError::Registry(e.to_string())
                }
            })
    }

    /// Fetch layers concurrently (at most [`CONCURRENT_LAYERS`] at once);
    /// the first failure cancels the rest.
    async fn fetch_layers(
        &self,
        repo: &Repository,
        layers: Vec<(Descriptor, Digest)>,
        progress: &ProgressSink,
    ) -> Result<(), ImageError> {
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LAYERS));
        let mut tasks = tokio::task::JoinSet::new();
        for (desc, diff_id) in layers {
            let (repo, stores, progress, permits) = (
                repo.clone(),
                self.stores.clone(),
                progress.clone(),
                permits.clone(),
            );
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .map_err(|e| ImageError::Store(e.to_string()))?;
                layer::fetch(&repo, &stores, &desc, &diff_id, &progress).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    }

    pub(crate) fn layers_size(&self, diff_ids: &[Digest]) -> Result<u64, ImageError> {
        let mut total = 0;
        for d in diff_ids {
            total += self
                .stores
                .snapshots
                .info(d)?
                .map(|i| i.unpacked_size)
                .unwrap_or(0);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references_follow_docker() {
        let r = pull_reference("busybox", None).expect("plain");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = pull_reference("busybox", Some("1.36")).expect("tag");
        assert_eq!(r.to_string(), "docker.io/library/busybox:1.36");
        let d = Digest::of(b"x");
        let r = pull_reference("127.0.0.1:5000/a/b", Some(&d.to_string())).expect("digest");
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/a/b@{d}"));
        assert!(pull_reference("Busybox", None).is_err());
    }
}
