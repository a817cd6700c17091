//! What a push sends for one image: the manifest (the stored one, byte for
//! byte, or one made from the image's layers) and the blobs it names.
//!
//! A made manifest is docker schema2 (OCI when a layer is zstd, which
//! schema2 cannot name). Uncompressed layer blobs are gzipped into the
//! content store first, as dockerd compresses layers it pushes; gzip is
//! deterministic, so the same image always makes the same manifest.

use std::collections::BTreeMap;
use std::io::{self, Write as _};

use skiff_oci::Digest;
use skiff_oci::documents::{self, Descriptor, Manifest};
use skiff_store::images::ImageRecord;

use super::Stores;
use super::error::ImageError;

/// docker schema2's uncompressed layer media type.
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One blob to make present on the registry.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    /// What progress shows (12 hex digits of the layer's diff id).
    pub(crate) id: String,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    /// Repositories of the same registry known to hold it.
    pub(crate) sources: Vec<String>,
}

/// What is pushed for one image.
pub(crate) struct Plan {
    pub(crate) media_type: String,
    pub(crate) manifest: bytes::Bytes,
    pub(crate) layers: Vec<Blob>,
    pub(crate) config: Blob,
    /// Set when the manifest was made here (to record with the image).
    pub(crate) made: bool,
}

/// The id progress shows for a layer: 12 hex digits of its diff id (as
/// dockerd's push).
pub(crate) fn short_id(diff_id: &Digest) -> String {
    diff_id.hex().chars().take(12).collect()
}

/// The manifest to push for `record`, and the blobs it names; `sources`
/// are the mount candidates by blob digest. Blocking (may gzip layers).
pub(crate) fn plan(
    stores: &Stores,
    record: &ImageRecord,
    sources: &BTreeMap<Digest, Vec<String>>,
) -> Result<Plan, ImageError> {
    let blob = |id: String, d: &Descriptor| Blob {
        id,
        digest: d.digest.clone(),
        size: d.size,
        sources: sources.get(&d.digest).cloned().unwrap_or_default(),
    };
    let blobs = |manifest: &Manifest| -> Vec<Blob> {
        manifest
            .layers
            .iter()
            .zip(&record.layers)
            .map(|(d, diff_id)| blob(short_id(diff_id), d))
            .collect()
    };
    if let Some((media_type, bytes, manifest)) = stored_manifest(stores, record)? {
        return Ok(Plan {
            media_type,
            layers: blobs(&manifest),
            config: blob(String::new(), &manifest.config),
            manifest: bytes,
            made: false,
        });
    }
    let config_size = stores
        .content
        .size(&record.id)
        .ok_or_else(|| ImageError::Store(format!("image config {} is missing", record.id)))?;
    let mut layers = Vec::new();
    for diff_id in &record.layers {
        let info = stores
            .snapshots
            .info(diff_id)?
            .ok_or_else(|| ImageError::Store(format!("layer {diff_id} is missing")))?;
        let compressed = is_uncompressed(&info.blob_media_type, stores, &info.blob)?;
        layers.push(if compressed {
            let (digest, size) = gzip_blob(stores, &info.blob)?;
            descriptor(documents::OCI_LAYER_GZIP, digest, size)
        } else {
            descriptor(&info.blob_media_type, info.blob, info.blob_size)
        });
    }
    let oci = layers
        .iter()
        .any(|d| d.media_type == documents::OCI_LAYER_ZSTD);
    let (media_type, config_type) = if oci {
        (documents::OCI_MANIFEST, documents::OCI_CONFIG)
    } else {
        for d in &mut layers {
            d.media_type = docker_layer_type(&d.media_type).to_owned();
        }
        (documents::DOCKER_MANIFEST, documents::DOCKER_CONFIG)
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type.to_owned()),
        config: descriptor(config_type, record.id.clone(), config_size),
        layers,
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ImageError::Store(format!("encoding the manifest: {e}")))?;
    Ok(Plan {
        media_type: media_type.to_owned(),
        layers: blobs(&manifest),
        config: blob(String::new(), &manifest.config),
        manifest: bytes.into(),
        made: true,
    })
}

/// The image's stored manifest — media type, bytes, parsed — when it
/// describes this image and every blob it names is stored.
pub(crate) fn stored_manifest(
    stores: &Stores,
    record: &ImageRecord,
) -> Result<Option<(String, bytes::Bytes, Manifest)>, ImageError> {
    let Some(digest) = &record.manifest else {
        return Ok(None);
    };
    if !stores.content.contains(digest) {
        return Ok(None);
    }
    let bytes = stores.content.read(digest)?;
    let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
        return Ok(None);
    };
    let complete = manifest.config.digest == record.id
        && manifest.layers.len() == record.layers.len()
        && manifest
            .layers
            .iter()
            .all(|l| stores.content.size(&l.digest) == Some(l.size));
    if !complete {
        return Ok(None);
    }
    let media_type = manifest
        .media_type
        .clone()
        .filter(|m| documents::is_manifest(m))
        .unwrap_or_else(|| documents::OCI_MANIFEST.to_owned());
    Ok(Some((media_type, bytes.into(), manifest)))
}

/// Whether a layer blob is a plain tar: by its media type, or, for a type
/// that does not say, by its first bytes.
fn is_uncompressed(media_type: &str, stores: &Stores, blob: &Digest) -> Result<bool, ImageError> {
    if media_type == documents::OCI_LAYER_TAR || media_type == DOCKER_LAYER_TAR {
        return Ok(true);
    }
    if media_type.contains("gzip") || media_type.contains("zstd") {
        return Ok(false);
    }
    let mut head = [0u8; 8];
    let n = io::Read::read(&mut stores.content.open_blob(blob)?, &mut head)
        .map_err(|e| ImageError::Store(format!("reading layer blob {blob}: {e}")))?;
    Ok(matches!(
        skiff_store::compression::Compression::sniff(&head[..n]),
        skiff_store::compression::Compression::None
    ))
}

/// Gzip the blob `digest` into the content store; its digest and size.
fn gzip_blob(stores: &Stores, digest: &Digest) -> Result<(Digest, u64), ImageError> {
    let failed = |e: io::Error| ImageError::Store(format!("compressing layer {digest}: {e}"));
    let mut input = io::BufReader::with_capacity(1 << 20, stores.content.open_blob(digest)?);
    let mut encoder =
        flate2::write::GzEncoder::new(stores.content.writer()?, flate2::Compression::fast());
    io::copy(&mut input, &mut encoder).map_err(failed)?;
    let mut writer = encoder.finish().map_err(failed)?;
    writer.flush().map_err(failed)?;
    let size = writer.size();
    let compressed = writer.commit(None, None)?;
    Ok((compressed, size))
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        platform: None,
        urls: vec![],
        annotations: BTreeMap::new(),
    }
}

/// The docker schema2 name of a layer media type.
fn docker_layer_type(media_type: &str) -> &str {
    match media_type {
        documents::OCI_LAYER_GZIP | documents::DOCKER_LAYER_GZIP => documents::DOCKER_LAYER_GZIP,
        documents::OCI_LAYER_TAR | DOCKER_LAYER_TAR => DOCKER_LAYER_TAR,
        other => other,
    }
}
