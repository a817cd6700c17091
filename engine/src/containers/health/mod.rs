//! Healthchecks (`HEALTHCHECK`, `--health-*`): the container's
//! `Config.Healthcheck` ([`config`]: merged with the image's, checked,
//! read into a [`Schedule`]), probes run as execs in the container
//! ([`probe`]), the state they build (`State.Health`, [`state`]) and the
//! task that runs them ([`scheduler`]).
//!
//! Contract: while a container with a healthcheck runs (not paused), one
//! task of the runtime sleeps until its next probe (a timer, no thread, no
//! polling: idle healthchecked containers cost nothing between probes),
//! runs it, and records the result. Each start resets the health to
//! `starting` (the log is kept); a status change is written to the record
//! and published as `health_status: <status>`, other results are kept in
//! memory (as dockerd, which persists them only with the next state
//! change). Exit, stop, pause and removal end the task; a result that
//! arrives after that is dropped. A task ended by an exit, stop or pause
//! leaves the status `unhealthy` ([`mark_unmonitored`], as dockerd).

pub mod config;
mod probe;
mod scheduler;
pub mod state;
#[cfg(test)]
mod tests;

pub use config::Schedule;
pub use state::{Health, HealthStatus, ProbeResult};

pub(in crate::containers) use scheduler::Monitors;

use super::record::ContainerRecord;

/// What a monitor that stops with its container (exit, stop, pause)
/// leaves: `unhealthy`, as dockerd's `CloseMonitorChannel` sets it "for
/// compatibility" (no `health_status` event); the failing streak and the
/// log are kept, and the next start resets it to `starting`.
pub fn mark_unmonitored(r: &mut ContainerRecord) {
    if let Some(health) = r.state.health.as_mut() {
        health.status = HealthStatus::Unhealthy;
    }
}

/// Reset `r`'s health for a start (in the start's record update): back to
/// `starting` with no failing streak, or a new health if it has a
/// healthcheck to run and had none.
pub fn reset_for_start(r: &mut ContainerRecord) {
    if Schedule::of(&r.config).is_some() {
        r.state.health.get_or_insert_with(Health::default).reset();
    }
}
