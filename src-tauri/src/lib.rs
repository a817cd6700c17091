//! Skiff's desktop app (Tauri v2): containers, images and the machine in a
//! window, and a tray icon.
//!
//! - [`commands`]: what the UI invokes — one-line hand-offs to
//! - [`engine`]: the container engine over bollard (endpoint discovery,
//!   containers, images, logs, the `/events` follower),
//! - [`machine`]: the Skiff machine behind a small trait,
//! - [`tray`]: the tray icon and its menu,
//! - [`background`]: the tasks that turn engine and machine changes into
//!   UI events,
//! - [`probe`]: the startup probe `bench/desktop.sh` measures with,
//! - [`error`]: the `{ kind, message }` error every command returns.

#![warn(missing_docs)]

pub mod background;
pub mod commands;
pub mod engine;
pub mod error;
pub mod machine;
pub mod probe;
pub mod tray;

use std::sync::Arc;

use tauri::{Manager, Runtime, WindowEvent};

use crate::engine::Engine;
use crate::engine::logs::Followers;
use crate::machine::Machine;
use crate::tray::Tray;
use crate::tray::native::{MAIN_WINDOW, NativeTray};

/// Whether the tray icon exists (without one, closing the window quits).
#[derive(Debug, Clone, Copy)]
pub struct TrayInstalled(pub bool);

/// Registers the services and every command on `builder` (the app and the
/// tests share this).
pub fn with_commands<R: Runtime>(
    builder: tauri::Builder<R>,
    engine: Engine,
    machine: Machine,
) -> tauri::Builder<R> {
    builder
        .manage(engine)
        .manage(machine)
        .manage(Followers::default())
        .invoke_handler(tauri::generate_handler![
            commands::engine_status,
            commands::list_containers,
            commands::container_action,
            commands::inspect_container,
            commands::follow_logs,
            commands::stop_logs,
            commands::list_images,
            commands::pull_image,
            commands::remove_image,
            commands::run_container,
            commands::machine_info,
            commands::machine_start,
            commands::machine_stop,
            commands::machine_console,
        ])
}

/// Runs the app until Quit.
pub fn run() -> tauri::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let machine = Machine::from_env();
    let engine = Engine::auto(machine.clone());
    with_commands(tauri::Builder::default(), engine, machine)
        .setup(|app| {
            setup(app.handle());
            Ok(())
        })
        .on_page_load(|webview, payload| probe::on_page_load(webview, payload.event()))
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                let tray = window
                    .app_handle()
                    .try_state::<TrayInstalled>()
                    .is_some_and(|t| t.0);
                // With a tray, closing only hides: the tray brings it back.
                if window.label() == MAIN_WINDOW && tray {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .run(tauri::generate_context!())
}

/// Installs the tray and starts the background tasks.
fn setup<R: Runtime>(app: &tauri::AppHandle<R>) {
    let machine = app.state::<Machine>().inner().clone();
    let tray = match NativeTray::install(app) {
        Ok(native) => {
            let progress = commands::emitter(app, commands::events::MACHINE_PROGRESS);
            let tray = Arc::new(Tray::new(machine, Arc::new(native), progress));
            app.manage(tray.clone());
            Some(tray)
        }
        Err(err) => {
            tracing::warn!("no tray icon: {err}");
            None
        }
    };
    app.manage(TrayInstalled(tray.is_some()));
    probe::listen(app);
    background::start(app, tray);
}
