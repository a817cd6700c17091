//! Changing names and removing images: tag, rmi, prune, and the garbage
//! collection of blobs and snapshots no image uses any more.

use std::collections::BTreeSet;

use skiff_oci::Digest;
use skiff_oci::reference::Reference;

use super::error::ImageError;
use super::{ImageService, now_rfc3339};

/// One line of a removal report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A name was removed (familiar form).
    Untagged(String),
    /// An image or layer was deleted (`sha256:…`).
    Deleted(String),
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Names removed and images deleted.
    pub deleted: Vec<DeleteItem>,
    /// Bytes freed.
    pub reclaimed: u64,
}

fn familiar(key: &str) -> String {
    Reference::parse(key)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| key.to_owned())
}

fn repo_of(key: &str) -> String {
    Reference::parse(key)
        .map(|r| r.name())
        .unwrap_or_else(|_| key.to_owned())
}

impl ImageService {
    /// `docker tag SOURCE REPO[:TAG]`.
    pub fn tag(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<(), ImageError> {
        let id = self.resolve(source)?;
        let target = Reference::parse(repo)?;
        if target.digest().is_some() {
            return Err(ImageError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => target.with_tag(t)?,
            None => target.with_default_tag(),
        };
        let key = target.to_string();
        // A name that already points at the image (a rebuild with `-t`
        // giving the same image) only refreshes `LastTagTime`: that is
        // written after the answer, not waited for.
        let flush_due = self.stores.images.update_deferred(|ix| {
            let moved = ix.tags.insert(key.clone(), id.clone()).as_ref() != Some(&id);
            if let Some(r) = ix.images.get_mut(&id) {
                r.last_tag_time = Some(now_rfc3339());
            }
            moved
        })?;
        if flush_due {
            let stores = self.stores.clone();
            let flush = move || {
                if let Err(e) = stores.images.flush() {
                    tracing::warn!("recording LastTagTime: {e}");
                }
            };
            if let Err(e) = std::thread::Builder::new()
                .name("image-flush".into())
                .spawn(flush)
            {
                tracing::warn!("recording LastTagTime: {e}");
            }
        }
        self.event("tag", &id.to_string(), &target.familiar());
        Ok(())
    }

    /// `docker rmi NAME|ID`: untag by name, or delete by id; an image named
    /// in several repositories needs `force` to be deleted by id.
    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>, ImageError> {
        let id = self.resolve(name)?;
        let by_name = Reference::parse(name)
            .map(|r| r.with_default_tag().to_string())
            .ok()
            .filter(|key| {
                self.stores
                    .images
                    .read(|ix| ix.tags.contains_key(key) || ix.digests.contains_key(key))
            });
        let users = self.users_of(&id);
        let running = users
            .iter()
            .find(|(_, r)| *r)
            .map(|(c, _)| c[..12.min(c.len())].to_owned());
        let stopped = users.first().map(|(c, _)| c[..12.min(c.len())].to_owned());
        let mut items = Vec::new();
        let deleted = self.stores.images.update(|ix| -> Result<bool, ImageError> {
            match &by_name {
                Some(key) => {
                    let last = ix.tags_of(&id).iter().filter(|k| *k != key).count() == 0;
                    if last && !force {
                        if let Some(c) = &stopped {
                            return Err(ImageError::Conflict(format!(
                                "conflict: unable to remove repository reference \"{}\" (must force) - container {c} is using its referenced image {}",
                                name,
                                id.short()
                            )));
                        }
                    }
                    ix.tags.remove(key);
                    ix.digests.remove(key);
                    items.push(DeleteItem::Untagged(familiar(key)));
                    if !ix.tags_of(&id).is_empty() || stopped.is_some() {
                        // Still named, or still used by a container: kept.
                        return Ok(false);
                    }
                }
                None => {
                    if let Some(c) = &running {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {c}",
                            id.short()
                        )));
                    }
                    if let Some(c) = &stopped {
                        if !force {
                            return Err(ImageError::Conflict(format!(
                                "conflict: unable to delete {} (must be forced) - image is being used by stopped container {c}",
                                id.short()
                            )));
                        }
                    }
                    let repos: BTreeSet<String> = ix.tags_of(&id).iter().map(|k| repo_of(k)).collect();
                    if repos.len() > 1 && !force {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            id.short()
                        )));
                    }
                }
            }
            for key in ix.tags_of(&id).into_iter().chain(ix.digests_of(&id)) {
                ix.tags.remove(&key);
                ix.digests.remove(&key);
                items.push(DeleteItem::Untagged(familiar(&key)));
            }
            if stopped.is_some() {
                // Forced: the names go, the image stays for its containers.
                return Ok(false);
            }
            ix.images.remove(&id);
            items.push(DeleteItem::Deleted(id.to_string()));
            Ok(true)
        })??;
        for item in &items {
            match item {
                DeleteItem::Untagged(_) => self.event("untag", &id.to_string(), &id.to_string()),
                DeleteItem::Deleted(_) => self.event("delete", &id.to_string(), &id.to_string()),
            }
        }
        if deleted {
            let (layers, _) = self.collect_garbage_report()?;
            items.extend(
                layers
                    .into_iter()
                    .map(|d| DeleteItem::Deleted(d.to_string())),
            );
        }
        Ok(items)
    }

    /// `docker image prune`: unnamed images, or with `all` every image;
    /// of those, the ones whose labels `labels` selects (dockerd's
    /// `label=` / `label!=` rule; none given: all).
    pub fn prune(
        &self,
        all: bool,
        labels: &[crate::volumes::LabelFilter],
    ) -> Result<PruneReport, ImageError> {
        let ix = self.stores.images.read(Clone::clone);
        let mut victims: Vec<Digest> = Vec::new();
        for (id, record) in &ix.images {
            if !(all || ix.tags_of(id).is_empty()) {
                continue;
            }
            if !labels.is_empty() {
                let have = self.view(&ix, record)?.labels().into_iter().collect();
                if !crate::volumes::list::labels_match(labels, &have) {
                    continue;
                }
            }
            victims.push(id.clone());
        }
        let victims: Vec<Digest> = victims
            .into_iter()
            .filter(|id| self.users_of(id).is_empty())
            .collect();
        let mut report = PruneReport::default();
        for id in victims {
            for item in self.remove(&id.to_string(), true)? {
                report.deleted.push(item);
            }
        }
        let (_, reclaimed) = self.collect_garbage_report()?;
        report.reclaimed += reclaimed;
        self.events.publish(
            crate::events::EventType::Image,
            "prune",
            "",
            &[("reclaimed", &report.reclaimed.to_string())],
        );
        Ok(report)
    }

    /// Remove blobs and snapshots that no image references. Skipped (0) while
    /// an operation is writing content it has not recorded yet.
    pub fn collect_garbage(&self) -> Result<usize, ImageError> {
        let (layers, _) = self.collect_garbage_report()?;
        Ok(layers.len())
    }

    fn collect_garbage_report(&self) -> Result<(Vec<Digest>, u64), ImageError> {
        let Ok(_exclusive) = self.gc_lock.try_write() else {
            return Ok((vec![], 0));
        };
        let stores = &self.stores;
        let ix = stores.images.read(Clone::clone);
        let live_layers: BTreeSet<&Digest> =
            ix.images.values().flat_map(|i| i.layers.iter()).collect();
        let mut live_blobs: BTreeSet<Digest> = ix
            .images
            .values()
            .flat_map(|i| std::iter::once(i.id.clone()).chain(i.manifest.clone()))
            .collect();
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for layer in stores.snapshots.list()? {
            let info = stores.snapshots.info(&layer)?;
            if live_layers.contains(&layer) {
                if let Some(info) = info {
                    live_blobs.insert(info.blob);
                }
            } else {
                reclaimed += info.map(|i| i.unpacked_size).unwrap_or(0);
                stores.snapshots.remove(&layer)?;
                removed.push(layer);
            }
        }
        for blob in stores.content.list()? {
            if !live_blobs.contains(&blob) {
                reclaimed += stores.content.size(&blob).unwrap_or(0);
                stores.content.delete(&blob)?;
            }
        }
        Ok((removed, reclaimed))
    }
}
