//! kill -9 under load (issue 19 §4): what the load's clients share with a
//! harness that SIGKILLs the daemon at random moments while they run
//! ([`super::run_with_kills`], `tests/tests/load_kill.rs`).
//!
//! - A **ledger** of what the daemon acknowledged: containers whose create
//!   answered 201 (and, of those, the long-lived ones the run keeps
//!   running), removals asked for and removals answered 204. After each
//!   restart [`Kills::verify`] checks that every acknowledged container is
//!   still there (unless its removal was asked for, which the kill may or
//!   may not have let happen), that no acknowledged removal came back, that
//!   the long-lived containers still run and that the image is still there.
//! - A **gate**: the harness pauses the clients around a kill, so that the
//!   ledger and the data root hold still while the daemon restarts, `skiffd
//!   check` reads the data root and the ledger is verified. An operation
//!   holds an [`Active`] guard from its gate to its end; the harness waits
//!   until none is held.
//! - **Down windows**: from just before a kill until the restarted daemon
//!   answers. A request that fails while its span (start to failure)
//!   overlaps a window is *interrupted*, not an error: the load report
//!   counts it apart, and any other failure stays an error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::Value;

use super::{LoadError, expect};

/// What the daemon acknowledged so far.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Containers whose create answered 201.
    pub created: BTreeSet<String>,
    /// Created containers the run started and never stops.
    pub long_lived: BTreeSet<String>,
    /// Containers whose removal was sent (answered or not).
    pub removing: BTreeSet<String>,
    /// Containers whose removal answered 204.
    pub removed: BTreeSet<String>,
}

/// The outcome of one [`Kills::verify`].
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// Acknowledged containers found (removal never asked for).
    pub present: usize,
    /// Acknowledged removals found gone.
    pub absent: usize,
    /// Containers in doubt: removal sent, not answered before the kill
    /// (a removal refused at connect is not sent: its container must be
    /// there).
    pub in_doubt: usize,
    /// Acknowledged operations whose effect is gone, one line each.
    pub lost: Vec<String>,
}

/// True when `e` failed to connect (the daemon was down): the request
/// never reached it, so it did nothing.
pub fn never_sent(e: &LoadError) -> bool {
    match e {
        LoadError::Transport { source, .. } => {
            source.downcast_ref::<std::io::Error>().is_some_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                )
            })
        }
        _ => false,
    }
}

/// The shared state between the clients and the killing harness.
#[derive(Debug, Default)]
pub struct Kills {
    paused: AtomicBool,
    active: AtomicUsize,
    ready: AtomicBool,
    finished: AtomicBool,
    /// (start, end) of each window the daemon was down; `None` while open.
    windows: Mutex<Vec<(Instant, Option<Instant>)>>,
    ledger: Mutex<Ledger>,
}

/// Held by a client from its gate to the end of its operation.
#[derive(Debug)]
pub struct Active<'a>(&'a Kills);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Kills {
    /// A fresh state: not paused, no window, an empty ledger.
    pub fn new() -> Kills {
        Kills::default()
    }

    // --- the clients' side ---

    /// Waits while the harness holds the clients; the guard counts the
    /// operation as in flight until dropped.
    pub async fn gate(&self) -> Active<'_> {
        loop {
            // Counted first, then the flag read (both SeqCst): either the
            // harness sees this operation in flight, or it sees the pause.
            self.active.fetch_add(1, Ordering::SeqCst);
            if !self.paused.load(Ordering::SeqCst) {
                return Active(self);
            }
            self.active.fetch_sub(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True when a down window overlaps `started`..now: a failure of a
    /// request started then is the kill's doing.
    pub fn explains(&self, started: Instant) -> bool {
        lock(&self.windows)
            .iter()
            .any(|(_, end)| end.is_none_or(|end| end >= started))
    }

    /// The run's setup is done (the harness may start killing).
    pub(super) fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// True once the harness called [`Kills::finish`].
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    pub(super) fn created(&self, id: &str) {
        lock(&self.ledger).created.insert(id.to_owned());
    }

    pub(super) fn long_lived(&self, id: &str) {
        lock(&self.ledger).long_lived.insert(id.to_owned());
    }

    pub(super) fn removing(&self, id: &str) {
        lock(&self.ledger).removing.insert(id.to_owned());
    }

    /// The removal of `id` never reached the daemon ([`never_sent`]).
    pub(super) fn not_removing(&self, id: &str) {
        lock(&self.ledger).removing.remove(id);
    }

    pub(super) fn removed(&self, id: &str) {
        lock(&self.ledger).removed.insert(id.to_owned());
    }

    // --- the harness's side ---

    /// True once the run's setup is done.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Call just before the SIGKILL: opens a down window and holds the
    /// clients at their next gate (operations in flight run on and fail).
    pub fn begin_kill(&self) {
        lock(&self.windows).push((Instant::now(), None));
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Waits up to `bound` until no operation is in flight; false if some
    /// still are.
    pub fn wait_idle(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        while self.active.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Call once the restarted daemon answers: closes the down window.
    pub fn daemon_up(&self) {
        let now = Instant::now();
        for w in lock(&self.windows).iter_mut() {
            if w.1.is_none() {
                w.1 = Some(now);
            }
        }
    }

    /// Lets the clients go on.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Ends the load: workers leave after their operation, streams close.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
        self.resume();
    }

    /// A copy of the ledger now.
    pub fn ledger(&self) -> Ledger {
        lock(&self.ledger).clone()
    }

    /// Checks the ledger against the daemon at `socket` (clients held, see
    /// the module doc): acknowledged containers present, acknowledged
    /// removals absent, long-lived containers running, `image` listed.
    pub async fn verify(&self, socket: &Path, image: &str) -> Result<Verified, LoadError> {
        let ledger = self.ledger();
        let bytes = expect(
            socket,
            Method::GET,
            "/containers/json?all=1",
            None,
            StatusCode::OK,
        )
        .await?;
        let list: Vec<Value> = serde_json::from_slice(&bytes).unwrap_or_default();
        let states: BTreeMap<&str, &str> = list
            .iter()
            .filter_map(|c| {
                Some((
                    c.get("Id")?.as_str()?,
                    c.get("State").and_then(Value::as_str).unwrap_or(""),
                ))
            })
            .collect();
        let mut v = Verified::default();
        for id in &ledger.created {
            if ledger.removing.contains(id) {
                if !ledger.removed.contains(id) {
                    v.in_doubt += 1;
                }
                continue;
            }
            match states.get(id.as_str()) {
                None => v
                    .lost
                    .push(format!("container {id}: created (201), now missing")),
                Some(state) if ledger.long_lived.contains(id) && *state != "running" => {
                    v.lost.push(format!(
                        "container {id}: started and kept running, now {state}"
                    ))
                }
                Some(_) => v.present += 1,
            }
        }
        for id in &ledger.removed {
            if states.contains_key(id.as_str()) {
                v.lost
                    .push(format!("container {id}: removed (204), listed again"));
            } else {
                v.absent += 1;
            }
        }
        let bytes = expect(socket, Method::GET, "/images/json", None, StatusCode::OK).await?;
        let images: Vec<Value> = serde_json::from_slice(&bytes).unwrap_or_default();
        let tagged = |t: &str| t == image || t.strip_suffix(":latest") == Some(image);
        let listed = images.iter().any(|i| {
            i.get("RepoTags")
                .and_then(Value::as_array)
                .is_some_and(|tags| tags.iter().filter_map(Value::as_str).any(tagged))
        });
        if !listed {
            v.lost.push(format!("image {image}: pulled, now missing"));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_explain_failures_that_overlap_them() {
        let k = Kills::new();
        let before = Instant::now();
        assert!(!k.explains(before));
        k.begin_kill();
        assert!(k.explains(before), "an open window explains earlier starts");
        k.daemon_up();
        let after = Instant::now();
        assert!(k.explains(before));
        assert!(
            !k.explains(after),
            "a start after the window is not explained"
        );
    }

    #[tokio::test]
    async fn the_gate_holds_clients_while_paused() {
        let k = Kills::new();
        let g = k.gate().await;
        k.begin_kill();
        assert!(!k.wait_idle(Duration::from_millis(50)), "one in flight");
        drop(g);
        assert!(k.wait_idle(Duration::from_millis(50)));
        let held = tokio::time::timeout(Duration::from_millis(100), k.gate()).await;
        assert!(held.is_err(), "paused: the gate does not open");
        k.resume();
        let open = tokio::time::timeout(Duration::from_secs(5), k.gate()).await;
        assert!(open.is_ok());
    }
}
