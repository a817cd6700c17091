//! The health monitors: one sleeping task per running healthchecked
//! container, registered in [`Monitors`] so that exit, stop, pause and
//! removal end it (dropping its stop channel's sender wakes it).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::super::ContainerService;
use super::super::record::Status;
use super::config::Schedule;
use super::state::{Health, HealthStatus, ProbeResult};

/// The monitors of one container service, by container id.
#[derive(Debug, Default)]
pub(in crate::containers) struct Monitors {
    active: Mutex<HashMap<String, Active>>,
    generations: AtomicU64,
}

/// A running monitor: its generation (results of older ones are dropped)
/// and the sender whose drop stops it.
#[derive(Debug)]
struct Active {
    generation: u64,
    _stop: watch::Sender<()>,
}

impl Monitors {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a monitor for `id` unless one runs: its generation and
    /// stop receiver.
    fn open(&self, id: &str) -> Option<(u64, watch::Receiver<()>)> {
        let mut active = self.lock();
        if active.contains_key(id) {
            return None;
        }
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(());
        active.insert(
            id.to_owned(),
            Active {
                generation,
                _stop: tx,
            },
        );
        Some((generation, rx))
    }

    /// Stop `id`'s monitor, if one runs; whether one did.
    fn close(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Stop `id`'s monitor if it is monitor `generation`.
    fn close_generation(&self, id: &str, generation: u64) {
        let mut active = self.lock();
        if active.get(id).is_some_and(|a| a.generation == generation) {
            active.remove(id);
        }
    }

    /// Whether monitor `generation` of `id` still runs.
    fn is_current(&self, id: &str, generation: u64) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|a| a.generation == generation)
    }

    /// How many monitors run (for tests).
    #[cfg(test)]
    pub(in crate::containers) fn count(&self) -> usize {
        self.lock().len()
    }
}

/// How long ago an RFC 3339 time was (zero if unreadable or future).
fn since(rfc3339: &str) -> Duration {
    let Ok(then) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return Duration::ZERO;
    };
    let elapsed = time::OffsetDateTime::now_utc() - then;
    Duration::try_from(elapsed).unwrap_or(Duration::ZERO)
}

impl ContainerService {
    /// Start the health monitor of container `id` if it runs, has a
    /// healthcheck, and has no monitor yet (after its start, an unpause,
    /// or a skiffd restart).
    pub(in crate::containers) fn start_health(self: &Arc<Self>, id: &str) {
        let Some(record) = self.store.get(id) else {
            return;
        };
        if record.state.status != Status::Running {
            return;
        }
        let Some(schedule) = Schedule::of(&record.config) else {
            return;
        };
        let Some((generation, stop)) = self.health.open(id) else {
            return;
        };
        let started = Instant::now()
            .checked_sub(since(&record.state.started_at))
            .unwrap_or_else(Instant::now);
        let svc = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            svc.watch_health(id, generation, stop, schedule, started)
                .await;
        });
    }

    /// Stop the health monitor of container `id` (exit, stop, pause,
    /// removal); a probe running is left to end on its own and its result
    /// dropped. Whether a monitor ran (the caller then marks the health
    /// with [`super::mark_unmonitored`], as dockerd).
    pub(in crate::containers) fn stop_health(&self, id: &str) -> bool {
        self.health.close(id)
    }

    /// The monitor's loop: sleep until the next probe, run it, record it.
    async fn watch_health(
        self: Arc<Self>,
        id: String,
        generation: u64,
        mut stop: watch::Receiver<()>,
        schedule: Schedule,
        started: Instant,
    ) {
        loop {
            let starting = self
                .store
                .get(&id)
                .and_then(|r| r.state.health)
                .is_none_or(|h| h.status == HealthStatus::Starting);
            let wait = schedule.next_wait(started.elapsed(), starting);
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(wait) => {}
            }
            // A container that exited just as its monitor started (before
            // its exit was recorded) ends it here.
            if self.store.get(&id).map(|r| r.state.status) != Some(Status::Running) {
                self.health.close_generation(&id, generation);
                return;
            }
            let probe_started = Instant::now();
            let result = tokio::select! {
                _ = stop.changed() => return,
                r = self.probe(&id, &schedule) => r,
            };
            let in_start_period = probe_started.duration_since(started) < schedule.start_period;
            self.health_result(&id, generation, result, schedule.retries, in_start_period);
        }
    }

    /// Record a probe's result if monitor `generation` still runs:
    /// the status change written and published, other results kept in
    /// memory.
    fn health_result(
        &self,
        id: &str,
        generation: u64,
        result: ProbeResult,
        retries: i64,
        in_start_period: bool,
    ) {
        if !self.health.is_current(id, generation) {
            return;
        }
        let mut changed = None;
        let updated = self.store.update_maybe_durable(id, |r| {
            let health = r.state.health.get_or_insert_with(Health::default);
            changed = health.record(result, retries, in_start_period);
            changed.is_some()
        });
        let record = match updated {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("recording the health of container {id}: {e}");
                return;
            }
        };
        self.notify(id, Some(record.clone()));
        if let Some(status) = changed {
            self.record_event(&format!("health_status: {}", status.as_str()), &record, &[]);
        }
    }
}
