//! The app's background tasks: the engine's `/events` follower
//! (`engine-event`, `engine-state`), the machine's state poller and the
//! follower that turns machine changes into `machine-state`, tray updates
//! and an engine reconnect.

use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::Notify;

use crate::commands::{emitter, events};
use crate::engine::events::{self as engine_events, EngineEvent, Sinks};
use crate::engine::{Engine, EngineStatus};
use crate::machine::{Machine, MachineInfo};
use crate::tray::{self, Tray};

/// How often the machine's state is read (the manager has no push API).
pub const MACHINE_POLL: Duration = Duration::from_secs(2);

/// Starts every background task on Tauri's async runtime.
pub fn start<R: Runtime>(app: &AppHandle<R>, tray: Option<Arc<Tray>>) {
    let engine = app.state::<Engine>().inner().clone();
    let machine = app.state::<Machine>().inner().clone();
    let reconnect = Arc::new(Notify::new());

    let emit_event = emitter::<R, EngineEvent>(app, events::ENGINE_EVENT);
    let emit_state = emitter::<R, EngineStatus>(app, events::ENGINE_STATE);
    let state_tray = tray.clone();
    let sinks = Sinks {
        event: emit_event,
        state: Arc::new(move |status: EngineStatus| {
            if let Some(tray) = &state_tray {
                tray.set_engine_reachable(status.reachable);
            }
            emit_state(status);
        }),
    };
    tauri::async_runtime::spawn(engine_events::watch(
        engine.clone(),
        sinks,
        reconnect.clone(),
    ));

    let poller = machine.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let _ = poller.refresh();
            tokio::time::sleep(MACHINE_POLL).await;
        }
    });

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
