//! Image records and the name table, persisted together as one JSON document
//! (`images.json`) that is replaced atomically on every change.
//!
//! Contract:
//! - an image is recorded only after its config, manifest and every layer
//!   snapshot are committed, so a listed image is always complete;
//! - [`ImageStore::update`] applies a change in memory and persists it before
//!   returning; if persisting fails the in-memory state is rolled back;
//! - names are stored fully qualified (`docker.io/library/busybox:latest`,
//!   `docker.io/library/busybox@sha256:…`); parsing them is the caller's job.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use skiff_oci::Digest;

use crate::atomic;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageStoreError {
    /// An I/O error on the record file.
    #[error("image store {path}: {source}")]
    Io {
        /// The record file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The record file does not parse.
    #[error("image store {path} is corrupt: {source}")]
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// One image: its id is the digest of its config blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest.
    pub id: Digest,
    /// Layer diff ids, base first.
    pub layers: Vec<Digest>,
    /// Bytes of file content in all layers.
    pub size: u64,
    /// The platform manifest it was pulled with, kept as a blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// When a name last pointed at it (RFC 3339), docker's `LastTagTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
    /// The image it was made from (`docker commit`, a build step): docker's
    /// `Parent`, which the builder's cache follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

impl ImageRecord {
    /// An image as first recorded: its config digest, layer diff ids (base
    /// first) and content size; no manifest kept, never tagged.
    pub fn new(id: Digest, layers: Vec<Digest>, size: u64) -> Self {
        Self {
            id,
            layers,
            size,
            manifest: None,
            last_tag_time: None,
            parent: None,
        }
    }
}

/// Every image and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    /// Images by id.
    #[serde(default)]
    pub images: BTreeMap<Digest, ImageRecord>,
    /// `name:tag` → image id.
    #[serde(default)]
    pub tags: BTreeMap<String, Digest>,
    /// `name@digest` → image id.
    #[serde(default)]
    pub digests: BTreeMap<String, Digest>,
}

impl ImageIndex {
    /// The tags naming `id`, sorted.
    pub fn tags_of(&self, id: &Digest) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The `name@digest` references naming `id`, sorted.
    pub fn digests_of(&self, id: &Digest) -> Vec<String> {
        self.digests
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether any name points at `id`.
    pub fn is_named(&self, id: &Digest) -> bool {
        self.tags
            .values()
            .chain(self.digests.values())
            .any(|v| v == id)
    }

    /// Whether any image other than `except` uses the layer `diff_id`.
    pub fn layer_in_use(&self, diff_id: &Digest, except: &Digest) -> bool {
        self.images
            .values()
            .any(|i| &i.id != except && i.layers.contains(diff_id))
    }
}

/// The persisted image table.
#[derive(Debug)]
pub struct ImageStore {
    path: PathBuf,
    index: Mutex<ImageIndex>,
}

impl ImageStore {
    /// Open (creating) the store in `root`.
    pub fn open(root: &Path) -> Result<Self, ImageStoreError> {
        std::fs::create_dir_all(root).map_err(|source| ImageStoreError::Io {
            path: root.to_owned(),
            source,
        })?;
        atomic::sweep_temporaries(root).map_err(|source| ImageStoreError::Io {
            path: root.to_owned(),
            source,
        })?;
        let path = root.join("images.json");
        let index = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| ImageStoreError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => ImageIndex::default(),
            Err(source) => return Err(ImageStoreError::Io { path, source }),
        };
        Ok(Self {
            path,
            index: Mutex::new(index),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ImageIndex> {
        // A panic while holding the lock cannot leave a half-applied change
        // behind (update rolls back), so a poisoned lock is still consistent.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read the table.
    pub fn read<R>(&self, f: impl FnOnce(&ImageIndex) -> R) -> R {
        f(&self.lock())
    }

    /// Change the table and persist it; rolled back if persisting fails.
    pub fn update<R>(&self, f: impl FnOnce(&mut ImageIndex) -> R) -> Result<R, ImageStoreError> {
        let mut guard = self.lock();
        let before = guard.clone();
        let out = f(&mut guard);
        if *guard != before {
            if let Err(source) = atomic::write_json(&self.path, &*guard) {
                *guard = before;
                return Err(ImageStoreError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        Ok(out)
    }

    /// Change the table where the change need not be durable before the
    /// caller answers: `f` applies it and says whether it must be (`true`:
    /// persisted now, as [`ImageStore::update`]) or may wait (`false`:
    /// kept in memory — a `LastTagTime` refreshed on a name that already
    /// pointed at its image). A change that waits is persisted by the next
    /// write ([`ImageStore::update`] writes the whole table) or by
    /// [`ImageStore::flush`], which the caller schedules when this returns
    /// `Ok(true)`; until then a crash loses it, and only it: the file on
    /// disk stays the last durable table.
    pub fn update_deferred(
        &self,
        f: impl FnOnce(&mut ImageIndex) -> bool,
    ) -> Result<bool, ImageStoreError> {
        let mut guard = self.lock();
        let before = guard.clone();
        let durable = f(&mut guard);
        if *guard == before {
            return Ok(false);
        }
        if !durable {
            return Ok(true);
        }
        if let Err(source) = atomic::write_json(&self.path, &*guard) {
            *guard = before;
            return Err(ImageStoreError::Io {
                path: self.path.clone(),
                source,
            });
        }
        Ok(false)
    }

    /// Persist the table as it is in memory (the changes
    /// [`ImageStore::update_deferred`] let wait).
    pub fn flush(&self) -> Result<(), ImageStoreError> {
        let guard = self.lock();
        atomic::write_json(&self.path, &*guard).map_err(|source| ImageStoreError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_changes_wait_for_the_next_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let store = ImageStore::open(dir.path()).expect("open");
        let durable = store
            .update_deferred(|ix| {
                ix.tags.insert("a".into(), a.clone());
                true
            })
            .expect("durable");
        assert!(!durable, "written at once: nothing to flush");
        let due = store
            .update_deferred(|ix| {
                ix.tags.insert("b".into(), b.clone());
                false
            })
            .expect("deferred");
        assert!(due, "a flush is due");
        assert!(store.read(|ix| ix.tags.contains_key("b")), "seen at once");
        let on_disk = ImageStore::open(dir.path()).expect("reopen");
        assert!(on_disk.read(|ix| ix.tags.contains_key("a")));
        assert!(!on_disk.read(|ix| ix.tags.contains_key("b")), "not yet");
        assert!(
            !store
                .update_deferred(|ix| {
                    ix.tags.insert("b".into(), b.clone());
                    false
                })
                .expect("no change"),
            "no change, no flush"
        );
        store.flush().expect("flush");
        let on_disk = ImageStore::open(dir.path()).expect("reopen");
        assert!(on_disk.read(|ix| ix.tags.contains_key("b")));
        // The next durable write carries a deferred change along.
        store
            .update_deferred(|ix| {
                ix.tags.insert("c".into(), a.clone());
                false
            })
            .expect("deferred");
        store
            .update(|ix| {
                ix.tags.insert("d".into(), a.clone());
            })
            .expect("update");
        let on_disk = ImageStore::open(dir.path()).expect("reopen");
        assert!(on_disk.read(|ix| ix.tags.contains_key("c") && ix.tags.contains_key("d")));
    }

    #[test]
    fn updates_persist_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = Digest::of(b"config");
        {
            let store = ImageStore::open(dir.path()).expect("open");
            store
                .update(|ix| {
                    ix.images
                        .insert(id.clone(), ImageRecord::new(id.clone(), vec![], 0));
                    ix.tags
                        .insert("docker.io/library/busybox:latest".into(), id.clone());
                })
                .expect("update");
        }
        let store = ImageStore::open(dir.path()).expect("reopen");
        assert_eq!(
            store.read(|ix| ix.tags_of(&id)),
            vec!["docker.io/library/busybox:latest".to_owned()]
        );
        assert!(store.read(|ix| ix.is_named(&id)));
    }

    #[test]
    fn failed_persist_rolls_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::open(dir.path()).expect("open");
        // Make the record path a directory so the rename fails.
        std::fs::create_dir(dir.path().join("images.json")).expect("block");
        let res = store.update(|ix| {
            ix.tags.insert("x".into(), Digest::of(b"x"));
        });
        assert!(res.is_err());
        assert!(store.read(|ix| ix.tags.is_empty()));
    }
}
