//! `GET /distribution/{name}/json`: what the registry holds under a name —
//! the top manifest's descriptor and the platforms it offers — without
//! pulling anything.

use skiff_oci::documents::{self, Descriptor, ImageConfig, Index, Manifest, Platform};
use skiff_oci::platform::is_attestation;
use skiff_registry::Credentials;

use super::ImageService;
use super::error::ImageError;
use super::pull::{MAX_DOCUMENT, pull_error, pull_reference};

/// The registry's view of a name.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionInfo {
    /// The manifest or index the name resolves to.
    pub descriptor: Descriptor,
    /// Platforms it offers.
    pub platforms: Vec<Platform>,
}

impl ImageService {
    /// Resolve `name` on its registry.
    pub async fn distribution(
        &self,
        name: &str,
        credentials: Option<Credentials>,
    ) -> Result<DistributionInfo, ImageError> {
        let reference = pull_reference(name, None)?;
        let (repo, top) = self
            .registry
            .pull_manifest(&reference, credentials)
            .await
            .map_err(|e| pull_error(&reference, e))?;
        let descriptor = Descriptor {
            media_type: top.media_type.clone(),
            digest: top.digest.clone(),
            size: top.bytes.len() as u64,
            platform: None,
            urls: vec![],
            annotations: Default::default(),
        };
        let invalid = |e: serde_json::Error| {
            ImageError::Registry(format!("invalid manifest {}: {e}", top.digest))
        };
        let platforms = if documents::is_index(&top.media_type) {
            let index: Index = serde_json::from_slice(&top.bytes).map_err(invalid)?;
            index
                .manifests
                .iter()
                .filter(|d| !is_attestation(d))
                .filter_map(|d| d.platform.clone())
                .collect()
        } else {
            let manifest: Manifest = serde_json::from_slice(&top.bytes).map_err(invalid)?;
            let bytes = repo
                .blob_bytes(&manifest.config.digest, MAX_DOCUMENT)
                .await
                .map_err(|e| ImageError::Registry(e.to_string()))?;
            let config: ImageConfig = serde_json::from_slice(&bytes).map_err(invalid)?;
            vec![Platform {
                architecture: config.architecture,
                os: config.os,
                variant: config.variant,
                os_version: None,
            }]
        };
        Ok(DistributionInfo {
            descriptor,
            platforms,
        })
    }
}
