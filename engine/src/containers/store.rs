//! Container records on disk, one directory per container:
//! `<root>/<id>/container.json`, replaced atomically on every change, and
//! an in-memory index by id and name.
//!
//! Contract: a record is written (and fsynced) before the container is
//! reported created, and rewritten before any state change is reported, so
//! after a crash every container a client was told about is still listed.
//! The one exception is [`ContainerStore::update_in_memory`], for a state
//! that is about to be superseded (the exit of an `--rm` container that is
//! removed right after): if skiffd dies in between, the record on disk
//! still says the container ran, and the restart reconciles it again.
//!
//! An `--rm` container's record is written and renamed like any other but
//! never fsynced: it must survive a skiffd crash (kill -9), which the page
//! cache does, not a power loss, which ends the container it describes
//! (a record lost that way only leaves a directory without a record, which
//! is swept at open). That takes two to four fsyncs, each milliseconds
//! under load, off every `docker run --rm`.
//!
//! Disk I/O happens outside the index's mutex, so listing and inspecting
//! never wait for a disk: writes of one record are serialised by a lock of
//! that record, and a name is reserved in the index while the record that
//! takes it is written. Removal renames the directory to a `.tmp-` sibling
//! (the container is gone once the rename is done) and leaves the deletion
//! to [`Trash`]; directories without a readable record (a create
//! interrupted before its first write) and `.tmp-` leftovers of a crash are
//! handed to it at open.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use skiff_store::atomic;

use super::error::ContainerError;
use super::record::ContainerRecord;
use super::trash::Trash;

pub(crate) const RECORD: &str = "container.json";
/// Where a record is written before it is renamed over [`RECORD`]; writes of
/// one record are serialised, so one name is enough.
const RECORD_TMP: &str = ".container.json.tmp";

/// The in-memory index.
#[derive(Debug, Default)]
struct Index {
    records: BTreeMap<String, Arc<ContainerRecord>>,
    /// Name → id, for every record and for the names of records being
    /// written (reserved: their id is not in `records` yet, or under its
    /// old name).
    names: HashMap<String, String>,
}

/// A name held for a container being created (see
/// [`ContainerStore::reserve_name`]).
#[derive(Debug)]
pub struct NameReservation<'a> {
    store: &'a ContainerStore,
    name: String,
    id: String,
}

impl NameReservation<'_> {
    /// The reserved name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NameReservation<'_> {
    fn drop(&mut self) {
        let mut ix = self.store.lock();
        if !ix.records.contains_key(&self.id) {
            ix.release_name(&self.name, &self.id);
        }
    }
}

impl Index {
    fn conflict(&self, name: &str, id: &str) -> Option<ContainerError> {
        let other = self.names.get(name).filter(|o| *o != id)?;
        Some(ContainerError::Conflict(format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        )))
    }

    fn release_name(&mut self, name: &str, id: &str) {
        if self.names.get(name).is_some_and(|o| o == id) {
            self.names.remove(name);
            crate::memory::shrink_sparse(&mut self.names);
        }
    }
}

/// How far a record must be written before a change returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// The record file and its directory entries fsynced (a new record).
    Create,
    /// The record file fsynced, then renamed over the old one.
    Replace,
    /// Memory only.
    Memory,
}

/// The container store.
#[derive(Debug)]
pub struct ContainerStore {
    root: PathBuf,
    index: Mutex<Index>,
    /// One lock per record, held while it is changed and written.
    writers: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    trash: Trash,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ContainerStore {
    /// Open (creating) the store at `root` and load every record.
    pub fn open(root: &Path) -> Result<Self, ContainerError> {
        let io = |e: std::io::Error| ContainerError::Store(format!("{}: {e}", root.display()));
        std::fs::create_dir_all(root).map_err(io)?;
        let trash = Trash::new();
        let mut index = Index::default();
        for entry in std::fs::read_dir(root).map_err(io)? {
            let entry = entry.map_err(io)?;
            let dir = entry.path();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(atomic::TMP_PREFIX)
            {
                // A removal the last run did not finish.
                trash.delete(dir);
                continue;
            }
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match std::fs::read(dir.join(RECORD))
                .ok()
                .and_then(|b| serde_json::from_slice::<ContainerRecord>(&b).ok())
            {
                Some(r) => {
                    index.names.insert(r.name.clone(), r.id.clone());
                    index.records.insert(r.id.clone(), Arc::new(r));
                }
                None => {
                    tracing::warn!("removing {}: no container record", dir.display());
                    let doomed = atomic::temp_sibling(&dir);
                    match std::fs::rename(&dir, &doomed) {
                        Ok(()) => trash.delete(doomed),
                        Err(e) => tracing::warn!("cannot remove {}: {e}", dir.display()),
                    }
                }
            }
        }
        Ok(Self {
            root: root.to_owned(),
            index: Mutex::new(index),
            writers: Mutex::new(HashMap::new()),
            trash,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        lock(&self.index)
    }

    /// The lock serialising the changes of record `id`.
    fn writer(&self, id: &str) -> Arc<Mutex<()>> {
        lock(&self.writers)
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// All records (copies, made outside the index's lock).
    pub fn all(&self) -> Vec<ContainerRecord> {
        self.snapshot().iter().map(|r| (**r).clone()).collect()
    }

    /// All records as they are now, shared: cheap, for listings.
    pub fn snapshot(&self) -> Vec<Arc<ContainerRecord>> {
        self.lock().records.values().cloned().collect()
    }

    /// One record by exact id.
    pub fn get(&self, id: &str) -> Option<ContainerRecord> {
        let r = self.lock().records.get(id).cloned();
        r.map(|r| (*r).clone())
    }

    /// Resolve what a user typed: a full id, a name (with or without `/`), or
    /// a unique id prefix — docker's order.
    pub fn resolve(&self, what: &str) -> Result<ContainerRecord, ContainerError> {
        let found = {
            let ix = self.lock();
            let name = what.strip_prefix('/').unwrap_or(what);
            if let Some(r) = ix.records.get(what).or_else(|| {
                ix.names
                    .get(name)
                    .and_then(|id| ix.records.get(id))
                    .filter(|r| r.name == name)
            }) {
                Ok(r.clone())
            } else {
                let mut hits = ix
                    .records
                    .range::<str, _>((Bound::Included(what), Bound::Unbounded))
                    .take_while(|(id, _)| id.starts_with(what))
                    .filter(|_| !what.is_empty());
                match (hits.next(), hits.next()) {
                    (Some((_, r)), None) => Ok(r.clone()),
                    (Some(_), Some(_)) => Err(ContainerError::Ambiguous(what.to_owned())),
                    _ => Err(ContainerError::NotFound(what.to_owned())),
                }
            }
        };
        found.map(|r| (*r).clone())
    }

    /// Reserves for container `id` the first name `generate` gives that
    /// no container has or is being given, so concurrent creates never
    /// draw the same one. The reservation ends with the returned guard
    /// unless a record of `id` was inserted by then.
    pub fn reserve_name(
        &self,
        id: &str,
        mut generate: impl FnMut() -> String,
    ) -> NameReservation<'_> {
        let mut ix = self.lock();
        let name = loop {
            let n = generate();
            if !ix.names.contains_key(&n) {
                break n;
            }
        };
        ix.names.insert(name.clone(), id.to_owned());
        NameReservation {
            store: self,
            name,
            id: id.to_owned(),
        }
    }

    /// Whether a container has (or is being given) this name: its id.
    pub fn name_taken(&self, name: &str) -> Option<String> {
        self.lock().names.get(name).cloned()
    }

    /// Write a new record; fails if the name is taken (checked under the
    /// lock, and reserved while the record is written).
    pub fn insert(&self, record: ContainerRecord) -> Result<(), ContainerError> {
        let writer = self.writer(&record.id);
        let _w = lock(&writer);
        {
            let mut ix = self.lock();
            if let Some(e) = ix.conflict(&record.name, &record.id) {
                return Err(e);
            }
            ix.names.insert(record.name.clone(), record.id.clone());
        }
        let written = self.persist(&record, Durability::Create);
        let mut ix = self.lock();
        match written {
            Ok(()) => {
                ix.records.insert(record.id.clone(), Arc::new(record));
                Ok(())
            }
            Err(e) => {
                ix.release_name(&record.name, &record.id);
                drop(ix);
                let _ = std::fs::remove_dir_all(self.dir(&record.id));
                Err(e)
            }
        }
    }

    /// Change a record and persist it; returns the new record.
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        self.change(id, Durability::Replace, f)
    }

    /// Change a record in memory only (see the module's docs): for a state
    /// that the next step (a removal) supersedes.
    pub fn update_in_memory(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        self.change(id, Durability::Memory, f)
    }

    /// Change a record, written to disk only if `f` says so (`true`): for
    /// frequent changes that matter only now and then (a health probe's
    /// result is kept in memory, a health status change written).
    pub fn update_maybe_durable(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord) -> bool,
    ) -> Result<ContainerRecord, ContainerError> {
        self.change_with(id, |r| {
            if f(r) {
                Durability::Replace
            } else {
                Durability::Memory
            }
        })
    }

    fn change(
        &self,
        id: &str,
        how: Durability,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        self.change_with(id, |r| {
            f(r);
            how
        })
    }

    /// Change a record under its writer lock; `f` says how the change is
    /// kept.
    fn change_with(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord) -> Durability,
    ) -> Result<ContainerRecord, ContainerError> {
        let writer = self.writer(id);
        let _w = lock(&writer);
        let current = self
            .lock()
            .records
            .get(id)
            .cloned()
            .ok_or_else(|| ContainerError::NotFound(id.to_owned()))?;
        let mut next = (*current).clone();
        let how = f(&mut next);
        if next == *current {
            return Ok(next);
        }
        let renamed = next.name != current.name;
        if renamed {
            let mut ix = self.lock();
            if let Some(e) = ix.conflict(&next.name, id) {
                return Err(e);
            }
            ix.names.insert(next.name.clone(), id.to_owned());
        }
        let written = match how {
            Durability::Memory => Ok(()),
            _ => self.persist(&next, how),
        };
        let mut ix = self.lock();
        match written {
            Ok(()) => {
                if renamed {
                    ix.release_name(&current.name, id);
                }
                ix.records.insert(id.to_owned(), Arc::new(next.clone()));
                Ok(next)
            }
            Err(e) => {
                if renamed {
                    ix.release_name(&next.name, id);
                }
                Err(e)
            }
        }
    }

    /// Forget a container: its directory is renamed away at once (so a
    /// crash never leaves half of it as a record) and deleted in the
    /// background. Nothing may be mounted in it, nor a shim running.
    pub fn remove(&self, id: &str) -> Result<(), ContainerError> {
        let writer = self.writer(id);
        let _w = lock(&writer);
        let dir = self.dir(id);
        let doomed = atomic::temp_sibling(&dir);
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => {
                skiff_failpoint::point!(skiff_failpoint::RM_AFTER_RENAME);
                self.trash.delete(doomed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ContainerError::Store(format!("{}: {e}", dir.display()))),
        }
        {
            let mut ix = self.lock();
            if let Some(r) = ix.records.remove(id) {
                ix.release_name(&r.name, id);
            }
        }
        let mut writers = lock(&self.writers);
        writers.remove(id);
        crate::memory::shrink_sparse(&mut writers);
        Ok(())
    }

    /// Waits (up to `timeout`) until the directories of removed containers
    /// are deleted; whether they are (for tests: removals run behind).
    #[cfg(test)]
    pub fn wait_removals(&self, timeout: std::time::Duration) -> bool {
        self.trash.wait_idle(timeout)
    }

    fn persist(&self, record: &ContainerRecord, how: Durability) -> Result<(), ContainerError> {
        let dir = self.dir(&record.id);
        let err = |e: std::io::Error| ContainerError::Store(format!("{}: {e}", dir.display()));
        if how == Durability::Create {
            std::fs::create_dir_all(&dir).map_err(err)?;
        }
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| err(std::io::Error::other(e)))?;
        let sync = !ephemeral(record);
        let tmp = dir.join(RECORD_TMP);
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            if sync {
                f.sync_all()?;
            }
            drop(f);
            skiff_failpoint::point!(skiff_failpoint::CONTAINER_RECORD_BEFORE_RENAME);
            std::fs::rename(&tmp, dir.join(RECORD))
        })();
        if let Err(e) = written {
            // A full disk: the partial temporary would only hold space.
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
        if sync && how == Durability::Create {
            // The record's name in its directory, and the directory's in the
            // store's.
            File::open(&dir).and_then(|d| d.sync_all()).map_err(err)?;
            File::open(&self.root)
                .and_then(|d| d.sync_all())
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Whether a record is written without fsync (see the module's docs): an
/// `--rm` container's.
fn ephemeral(record: &ContainerRecord) -> bool {
    record.host_config.auto_remove.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bollard_stubs::models::{ContainerConfig, HostConfig};

    use super::*;
    use crate::containers::record::{State, Status};

    fn record(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            created: "2024-01-01T00:00:00Z".into(),
            image: "busybox".into(),
            image_id: format!("sha256:{}", "a".repeat(64))
                .parse()
                .expect("digest"),
            path: "true".into(),
            args: Vec::new(),
            config: ContainerConfig::default(),
            host_config: HostConfig::default(),
            state: State::default(),
            restart_count: 0,
            cgroup_parent: None,
            mounts: Vec::new(),
        }
    }

    fn id(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn records_survive_a_reopen_and_resolve_like_docker() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ContainerStore::open(tmp.path()).expect("open");
        store.insert(record(&id('a'), "one")).expect("insert");
        store.insert(record(&id('b'), "two")).expect("insert");
        let taken = store.insert(record(&id('c'), "one"));
        assert!(matches!(taken, Err(ContainerError::Conflict(_))));
        assert!(!store.dir(&id('c')).exists());
        store
            .update(&id('a'), |r| r.state.status = Status::Running)
            .expect("update");
        store
            .update(&id('b'), |r| r.name = "three".into())
            .expect("rename");
        assert!(matches!(
            store.update(&id('b'), |r| r.name = "one".into()),
            Err(ContainerError::Conflict(_))
        ));
        drop(store);

        let store = ContainerStore::open(tmp.path()).expect("reopen");
        assert_eq!(store.all().len(), 2);
        assert_eq!(store.resolve("/one").expect("name").id, id('a'));
        assert_eq!(store.resolve("three").expect("new name").id, id('b'));
        assert!(matches!(
            store.resolve("two"),
            Err(ContainerError::NotFound(_))
        ));
        assert_eq!(store.resolve("aaa").expect("prefix").id, id('a'));
        assert_eq!(store.resolve(&id('b')).expect("id").name, "three");
        assert_eq!(
            store.get(&id('a')).expect("get").state.status,
            Status::Running
        );
        assert_eq!(store.name_taken("three"), Some(id('b')));
        assert_eq!(store.name_taken("two"), None);
        store.insert(record(&id('c'), "two")).expect("freed name");
        assert!(matches!(
            store.resolve(""),
            Err(ContainerError::NotFound(_))
        ));
    }

    #[test]
    fn rm_records_are_written_without_sync_and_survive_a_reopen() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ContainerStore::open(tmp.path()).expect("open");
        let mut r = record(&id('a'), "gone-soon");
        r.host_config.auto_remove = Some(true);
        assert!(ephemeral(&r));
        assert!(!ephemeral(&record(&id('b'), "kept")));
        store.insert(r).expect("insert");
        store
            .update(&id('a'), |r| r.state.status = Status::Running)
            .expect("update");
        drop(store);
        // What a kill -9 of skiffd leaves: the page cache has it.
        let store = ContainerStore::open(tmp.path()).expect("reopen");
        let back = store.get(&id('a')).expect("listed after a reopen");
        assert_eq!(back.state.status, Status::Running);
        assert_eq!(back.host_config.auto_remove, Some(true));
    }

    #[test]
    fn in_memory_changes_are_not_written() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ContainerStore::open(tmp.path()).expect("open");
        store.insert(record(&id('a'), "one")).expect("insert");
        store
            .update(&id('a'), |r| r.state.status = Status::Running)
            .expect("update");
        let r = store
            .update_in_memory(&id('a'), |r| r.state.status = Status::Exited)
            .expect("in memory");
        assert_eq!(r.state.status, Status::Exited);
        assert_eq!(
            store.get(&id('a')).expect("get").state.status,
            Status::Exited
        );
        drop(store);
        let store = ContainerStore::open(tmp.path()).expect("reopen");
        assert_eq!(
            store.get(&id('a')).expect("get").state.status,
            Status::Running
        );
    }

    #[test]
    fn removal_renames_at_once_and_deletes_in_the_background() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ContainerStore::open(tmp.path()).expect("open");
        store.insert(record(&id('a'), "one")).expect("insert");
        let deep = store.dir(&id('a')).join("rw/upper/x/y");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::write(deep.join("f"), b"data").expect("write");
        store.remove(&id('a')).expect("remove");
        assert!(store.get(&id('a')).is_none());
        assert!(!store.dir(&id('a')).exists());
        assert_eq!(store.name_taken("one"), None);
        assert!(store.wait_removals(Duration::from_secs(10)));
        assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0);
        // Removing what is gone is fine.
        store.remove(&id('a')).expect("again");
    }

    #[test]
    fn open_sweeps_what_a_crash_left() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ContainerStore::open(tmp.path()).expect("open");
        store.insert(record(&id('a'), "one")).expect("insert");
        drop(store);
        // A removal renamed but not deleted (its record is still readable:
        // it must not come back), and a create that never wrote its record.
        let doomed = tmp
            .path()
            .join(format!("{}{}-1234", atomic::TMP_PREFIX, id('b')));
        std::fs::create_dir_all(doomed.join("rw/upper")).expect("mkdir");
        std::fs::write(
            doomed.join(RECORD),
            serde_json::to_vec(&record(&id('b'), "two")).expect("json"),
        )
        .expect("write");
        std::fs::create_dir_all(tmp.path().join(id('c')).join("rw")).expect("mkdir");
        let store = ContainerStore::open(tmp.path()).expect("reopen");
        let ids: Vec<String> = store.all().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![id('a')]);
        assert!(store.wait_removals(Duration::from_secs(10)));
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![id('a')]);
    }
}
