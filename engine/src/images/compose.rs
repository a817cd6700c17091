//! Recording an image made here (`docker commit`, the builder's steps): a
//! parent's layers, at most one new layer from a tar, and a config.
//!
//! The new layer goes through the one layer pipeline
//! ([`layer::unpack_stream`]): its blob is stored, its diff id computed and
//! the snapshot committed before the config naming it is written; the image
//! is recorded last, so a kill -9 at any point leaves either no image or a
//! complete one (and garbage the next start collects).

use std::io::Read;

use skiff_oci::Digest;
use skiff_oci::documents::ImageConfig;
use skiff_oci::reference::Reference;
use skiff_store::images::ImageRecord;

use super::error::ImageError;
use super::layer::{self, Expect};
use super::{ImageService, now_rfc3339};

/// An image to record.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    /// The config; its `rootfs.diff_ids` are the parent's layers (the new
    /// layer's diff id is appended when there is one).
    pub config: ImageConfig,
    /// The image it was made from (docker's `Parent`).
    pub parent: Option<Digest>,
    /// Names to give it (`repo:tag`, normalised here).
    pub tags: Vec<String>,
}

impl ImageService {
    /// Blocking: record `image`, with `layer` (an uncompressed or
    /// compressed tar) as its new top layer when given; returns its id.
    /// Tagging publishes docker's `tag` event.
    pub fn create_image(
        &self,
        layer: Option<&mut dyn Read>,
        image: NewImage,
    ) -> Result<Digest, ImageError> {
        let tags = image
            .tags
            .iter()
            .map(|t| Reference::parse(t).map(|r| r.with_default_tag()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = image.config;
        let _writing = self.gc_lock.blocking_read();
        if let Some(input) = layer {
            let info = layer::unpack_stream(
                &self.stores,
                std::io::BufReader::with_capacity(1 << 20, input),
                Some(self.stores.content.writer()?),
                &Expect::default(),
                None,
            )?;
            config.rootfs.diff_ids.push(info.diff_id);
        }
        if config.rootfs.kind.is_empty() {
            config.rootfs.kind = "layers".into();
        }
        let size = self.layers_size(&config.rootfs.diff_ids)?;
        let bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Store(e.to_string()))?;
        let id = self.stores.content.write_blob(&bytes, None)?;
        let now = now_rfc3339();
        self.stores.images.update(|ix| {
            let mut record = ix.images.get(&id).cloned().unwrap_or_else(|| {
                ImageRecord::new(id.clone(), config.rootfs.diff_ids.clone(), size)
            });
            if record.parent.is_none() {
                record.parent = image.parent.clone();
            }
            if !tags.is_empty() {
                record.last_tag_time = Some(now.clone());
            }
            ix.images.insert(id.clone(), record);
            for t in &tags {
                ix.tags.insert(t.to_string(), id.clone());
            }
        })?;
        for t in &tags {
            self.event("tag", &id.to_string(), &t.familiar());
        }
        Ok(id)
    }
}
