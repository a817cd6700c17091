//! Container records on disk, one directory per container:
//! `<root>/<id>/container.json`, replaced atomically on every change, and
//! an in-memory index by id and name.
//!
//! Contract: a record is written before the container is reported created
//! and rewritten before any state change is reported, so after a crash every
//! container a client was told about is still listed. Directories without a
//! readable record (a create interrupted before its first write) are removed
//! at open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use skiff_store::atomic;

use super::error::ContainerError;
use super::record::ContainerRecord;

const RECORD: &str = "container.json";

/// The container store.
#[derive(Debug)]
pub struct ContainerStore {
    root: PathBuf,
    records: Mutex<BTreeMap<String, ContainerRecord>>,
}

impl ContainerStore {
    /// Open (creating) the store at `root` and load every record.
    pub fn open(root: &Path) -> Result<Self, ContainerError> {
        let io = |e: std::io::Error| ContainerError::Store(format!("{}: {e}", root.display()));
        std::fs::create_dir_all(root).map_err(io)?;
        let mut records = BTreeMap::new();
        for entry in std::fs::read_dir(root).map_err(io)? {
            let entry = entry.map_err(io)?;
            let dir = entry.path();
            match std::fs::read(dir.join(RECORD))
                .ok()
                .and_then(|b| serde_json::from_slice::<ContainerRecord>(&b).ok())
            {
                Some(r) => {
                    records.insert(r.id.clone(), r);
                }
                None => {
                    tracing::warn!("removing {} : no container record", dir.display());
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
        Ok(Self {
            root: root.to_owned(),
            records: Mutex::new(records),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ContainerRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// All records.
    pub fn all(&self) -> Vec<ContainerRecord> {
        self.lock().values().cloned().collect()
    }

    /// One record by exact id.
    pub fn get(&self, id: &str) -> Option<ContainerRecord> {
        self.lock().get(id).cloned()
    }

    /// Resolve what a user typed: a full id, a name (with or without `/`), or
    /// a unique id prefix — docker's order.
    pub fn resolve(&self, what: &str) -> Result<ContainerRecord, ContainerError> {
        let records = self.lock();
        if let Some(r) = records.get(what) {
            return Ok(r.clone());
        }
        let name = what.strip_prefix('/').unwrap_or(what);
        if let Some(r) = records.values().find(|r| r.name == name) {
            return Ok(r.clone());
        }
        let mut hits = records
            .values()
            .filter(|r| !what.is_empty() && r.id.starts_with(what));
        match (hits.next(), hits.next()) {
            (Some(r), None) => Ok(r.clone()),
            (Some(_), Some(_)) => Err(ContainerError::Ambiguous(what.to_owned())),
            _ => Err(ContainerError::NotFound(what.to_owned())),
        }
    }

    /// Whether a container has this name.
    pub fn name_taken(&self, name: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|r| r.name == name)
            .map(|r| r.id.clone())
    }

    /// Write a new record; fails if the name is taken (checked under the lock).
    pub fn insert(&self, record: ContainerRecord) -> Result<(), ContainerError> {
        let mut records = self.lock();
        if let Some(other) = records.values().find(|r| r.name == record.name) {
            return Err(ContainerError::Conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                record.name, other.id
            )));
        }
        self.persist(&record)?;
        records.insert(record.id.clone(), record);
        Ok(())
    }

    /// Change a record and persist it; returns the new record.
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let mut records = self.lock();
        let current = records
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_owned()))?;
        let mut next = current.clone();
        f(&mut next);
        if next != *current {
            self.persist(&next)?;
            records.insert(id.to_owned(), next.clone());
        }
        Ok(next)
    }

    /// Forget a container and delete its directory.
    pub fn remove(&self, id: &str) -> Result<(), ContainerError> {
        let dir = self.dir(id);
        // Rename first so a crash never leaves a half-deleted record behind.
        let doomed = atomic::temp_sibling(&dir);
        if dir.exists() {
            std::fs::rename(&dir, &doomed)
                .map_err(|e| ContainerError::Store(format!("{}: {e}", dir.display())))?;
        }
        self.lock().remove(id);
        let _ = std::fs::remove_dir_all(&doomed);
        Ok(())
    }

    fn persist(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let dir = self.dir(&record.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ContainerError::Store(format!("{}: {e}", dir.display())))?;
        atomic::write_json(&dir.join(RECORD), record)
            .map_err(|e| ContainerError::Store(format!("{}: {e}", dir.display())))
    }
}
