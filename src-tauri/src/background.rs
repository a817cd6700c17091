//! The app's background tasks: the engine's `/events` follower
//! (`engine-event`, `engine-state`, and the tray's containers: listed once
//! per connection, then kept from the same events), the machine's state
//! poller and the follower that turns machine changes into
//! `machine-state`, tray updates and an engine reconnect. Nothing polls
//! the engine.

use std::sync::Arc;

use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::Notify;

use crate::commands::{emitter, events};
use crate::engine::events::{self as engine_events, EngineEvent, Sinks};
use crate::engine::{Engine, EngineStatus};
use crate::machine::{Machine, MachineInfo};
use crate::tray::{self, Tray, tasks};

/// How often the machine's state is read (the manager has no push API).
pub use crate::tray::tasks::MACHINE_POLL;

/// Starts every background task on Tauri's async runtime.
pub fn start<R: Runtime>(app: &AppHandle<R>, tray: Option<Arc<Tray>>) {
    let engine = app.state::<Engine>().inner().clone();
    let machine = app.state::<Machine>().inner().clone();
    let reconnect = Arc::new(Notify::new());

    let ui = Sinks {
        event: emitter::<R, EngineEvent>(app, events::ENGINE_EVENT),
        state: emitter::<R, EngineStatus>(app, events::ENGINE_STATE),
    };
    let (sinks, on_connect) = match &tray {
        Some(tray) => {
            let (tray_sinks, snapshot) = tasks::follower(tray);
            (tray_sinks.and(ui), Some(snapshot))
        }
        None => (ui, None),
    };
    tauri::async_runtime::spawn(engine_events::follow(
        engine.clone(),
        sinks,
        reconnect.clone(),
        on_connect,
    ));

    tauri::async_runtime::spawn(tasks::poll_machine(machine.clone()));

    let emit_machine = emitter::<R, Option<MachineInfo>>(app, events::MACHINE_STATE);
    let mut states = machine.subscribe();
    tauri::async_runtime::spawn(async move {
        while states.changed().await.is_ok() {
            let info = states.borrow_and_update().clone();
            emit_machine(info);
            // The machine's socket may now be the best endpoint, or gone.
            engine.forget();
            reconnect.notify_one();
        }
    });

    if let Some(tray) = tray {
        tauri::async_runtime::spawn(tray::follow(tray, machine.subscribe()));
    }
}
