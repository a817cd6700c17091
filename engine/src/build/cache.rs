//! The build cache, with dockerd's classic rules: a step is a hit when an
//! image was built before from the same parent image by the same
//! instruction (for `COPY`/`ADD`, the same content checksum of the
//! sources, which is part of the instruction's history text), and that
//! image still exists.
//!
//! The table (key → image id) is one JSON document replaced atomically
//! (`skiff_store::atomic`) on every insert, so a kill -9 leaves the old or
//! the new table and the cache survives a restart. An entry whose image was
//! removed is a miss (and is dropped by [`Cache::prune`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use skiff_oci::Digest;

use super::error::BuildError;

/// The cache table.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    table: Mutex<BTreeMap<String, Digest>>,
}

/// The cache key of a step: its parent image (none for the first step on
/// `scratch`) and its history text (`created_by`).
pub fn key(parent: Option<&Digest>, created_by: &str) -> String {
    let parent = parent.map(Digest::to_string).unwrap_or_default();
    Digest::of(format!("{parent}\n{created_by}").as_bytes()).to_string()
}

impl Cache {
    /// Open the table at `path` (empty when there is none or it is
    /// unreadable: a cache is only an optimisation).
    pub fn open(path: &Path) -> Result<Self, BuildError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| BuildError::io(format!("creating {}", dir.display()), e))?;
        }
        let table = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Self {
            path: path.to_owned(),
            table: Mutex::new(table),
        })
    }

    /// The image recorded for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Digest> {
        self.lock().get(key).cloned()
    }

    /// Record that `key` made `image`.
    pub fn insert(&self, key: String, image: Digest) -> Result<(), BuildError> {
        let mut table = self.lock();
        table.insert(key, image);
        self.persist(&table)
    }

    /// Drop every entry (`docker builder prune`); returns them.
    pub fn clear(&self) -> Result<Vec<(String, Digest)>, BuildError> {
        let mut table = self.lock();
        let gone = std::mem::take(&mut *table);
        self.persist(&table)?;
        Ok(gone.into_iter().collect())
    }

    /// Every entry: (key, image).
    pub fn entries(&self) -> Vec<(String, Digest)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Drop entries whose image `exists` says is gone.
    pub fn prune(&self, exists: impl Fn(&Digest) -> bool) -> Result<(), BuildError> {
        let mut table = self.lock();
        let before = table.len();
        table.retain(|_, id| exists(id));
        if table.len() != before {
            self.persist(&table)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Digest>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, table: &BTreeMap<String, Digest>) -> Result<(), BuildError> {
        skiff_store::atomic::write_json(&self.path, table)
            .map_err(|e| BuildError::io(format!("writing {}", self.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_parent_and_instruction() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let k = key(Some(&a), "/bin/sh -c echo hi");
        assert_eq!(k, key(Some(&a), "/bin/sh -c echo hi"));
        assert_ne!(k, key(Some(&b), "/bin/sh -c echo hi"));
        assert_ne!(k, key(Some(&a), "/bin/sh -c echo ho"));
        assert_ne!(k, key(None, "/bin/sh -c echo hi"));
    }

    #[test]
    fn survives_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.json");
        let id = Digest::of(b"image");
        {
            let c = Cache::open(&path).expect("open");
            c.insert("k".into(), id.clone()).expect("insert");
        }
        let c = Cache::open(&path).expect("reopen");
        assert_eq!(c.get("k"), Some(id.clone()));
        assert_eq!(c.entries(), [("k".to_owned(), id.clone())]);
        c.prune(|_| false).expect("prune");
        assert_eq!(c.get("k"), None);
    }
}
