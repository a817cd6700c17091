//! Writing the network state with group commit.
//!
//! Every change of [`NetState`] is persisted before the operation that made
//! it returns (or publishes an event). Writing means an fsync of the file
//! and of its directory, milliseconds each under load, and the state is
//! one file: under many concurrent container starts and stops the fsyncs,
//! made under the state lock, queued every operation behind them (issue 19:
//! create and rm waited seconds under 256 clients).
//!
//! So a save is two steps: [`Persister::stage`], under the state lock,
//! serialises the state and numbers it (the numbers grow with the state's
//! changes, since staging happens under the lock); [`Persister::commit`],
//! after the lock is dropped, makes sure a state at least that new is on
//! disk: it takes the file's lock, and writes the newest staged state
//! unless a writer before it already wrote one at least as new. Callers
//! that staged while another wrote share the next write. Each write is
//! still one atomic replace (`skiff_store::atomic`), so a kill -9 leaves
//! the old state or a newer one, never a torn one, and an operation
//! returns only once its change is durable, as before.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::record::NetState;

/// A staged state's number: what [`Persister::commit`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "a staged state is durable only once committed"]
pub(super) struct Staged(u64);

/// The newest staged state.
#[derive(Default)]
struct Latest {
    generation: u64,
    bytes: Option<Arc<Vec<u8>>>,
}

/// Writes `<data-root>/network/state.json`.
pub(super) struct Persister {
    path: PathBuf,
    latest: Mutex<Latest>,
    /// Held while writing; the generation on disk.
    written: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Persister {
    /// A persister of the file at `path`.
    pub(super) fn new(path: PathBuf) -> Self {
        Persister {
            path,
            latest: Mutex::new(Latest::default()),
            written: Mutex::new(0),
        }
    }

    /// The file.
    #[cfg(test)]
    fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Serialises `st` as the newest state. Call it with the state lock
    /// held, so that staged states are numbered in the order of changes.
    pub(super) fn stage(&self, st: &NetState) -> io::Result<Staged> {
        let bytes = serde_json::to_vec_pretty(st).map_err(io::Error::other)?;
        let mut latest = lock(&self.latest);
        latest.generation += 1;
        latest.bytes = Some(Arc::new(bytes));
        Ok(Staged(latest.generation))
    }

    /// Blocking: returns once a state at least as new as `staged` is on
    /// disk (written by this call or by an earlier one). Call it without
    /// the state lock, so that others stage meanwhile and share the write.
    pub(super) fn commit(&self, staged: Staged) -> io::Result<()> {
        let mut written = lock(&self.written);
        if *written >= staged.0 {
            return Ok(());
        }
        let (generation, bytes) = {
            let latest = lock(&self.latest);
            (latest.generation, latest.bytes.clone())
        };
        let Some(bytes) = bytes else {
            return Ok(());
        };
        skiff_store::atomic::write(&self.path, &bytes)?;
        *written = generation;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_writes_the_newest_staged_state_and_later_ones_share_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Persister::new(dir.path().join("state.json"));
        let mut st = NetState::default();
        let first = p.stage(&st).expect("stage");
        st.containers.insert("c1".into(), Default::default());
        let second = p.stage(&st).expect("stage");
        assert!(first < second);
        // Committing the older one writes the newest.
        p.commit(first).expect("commit");
        let on_disk: NetState =
            serde_json::from_slice(&std::fs::read(p.path()).expect("read")).expect("json");
        assert!(on_disk.containers.contains_key("c1"));
        // The newer one is durable already: no second write.
        std::fs::remove_file(p.path()).expect("rm");
        p.commit(second).expect("commit");
        assert!(!p.path().exists());
        // A later change is written again.
        st.containers.clear();
        let third = p.stage(&st).expect("stage");
        p.commit(third).expect("commit");
        let on_disk: NetState =
            serde_json::from_slice(&std::fs::read(p.path()).expect("read")).expect("json");
        assert!(on_disk.containers.is_empty());
    }
}
