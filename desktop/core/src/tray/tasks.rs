//! What keeps a [`Tray`] current, for a program that is only a tray
//! (`skiff-tray`): the machine's state (read every
//! [`MACHINE_POLL`] — the manager has no push API) and the engine's
//! `/events` (the containers are listed once per connection, then kept
//! from the events; nothing polls the engine).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Tray;
use crate::engine::Engine;
use crate::engine::events::{self, EngineEvent, OnConnect, Sinks};
use crate::machine::Machine;

/// How often the machine's state is read.
pub const MACHINE_POLL: Duration = Duration::from_secs(2);

/// Spawns the tasks that keep `tray` current on the current tokio runtime.
pub fn spawn(tray: Arc<Tray>, engine: Engine, machine: Machine) {
    let reconnect = Arc::new(Notify::new());
    let event_tray = tray.clone();
    let state_tray = tray.clone();
    let sinks = Sinks {
        event: Arc::new(move |event: EngineEvent| event_tray.apply_event(&event)),
        state: Arc::new(move |status| state_tray.set_engine_reachable(status.reachable)),
    };
    let snapshot_tray = tray.clone();
    let on_connect: OnConnect = Arc::new(move |engine: Engine| {
        let tray = snapshot_tray.clone();
        Box::pin(async move { tray.snapshot(&engine).await })
    });
    tokio::spawn(events::follow(
        engine.clone(),
        sinks,
        reconnect.clone(),
        Some(on_connect),
    ));

    let poller = machine.clone();
    tokio::spawn(async move {
        loop {
            let _ = poller.refresh();
            tokio::time::sleep(MACHINE_POLL).await;
        }
    });

    let mut states = machine.subscribe();
    tokio::spawn(async move {
        tray.refresh();
        while states.changed().await.is_ok() {
            tray.refresh();
            // The machine's socket may now be the best endpoint, or gone.
            engine.forget();
            reconnect.notify_one();
        }
    });
}
