//! Skiff's desktop app (Tauri v2): containers, images and the machine in a
//! window, and a tray icon.
//!
//! - [`commands`]: what the UI invokes — one-line hand-offs to
//! - [`engine`]: the container engine over bollard (endpoint discovery,
//!   containers, images, volumes, networks, logs, the `/events` follower),
//! - [`machine`]: the Skiff machine behind a small trait,
//! - [`tray`]: the tray icon and its menu,
//! - [`browser`]: opening a published port in the default browser,
//! - [`background`]: the tasks that turn engine and machine changes into
//!   UI events,
//! - [`probe`]: the startup probe `bench/desktop.sh` measures with,
//! - [`window`]: the main window's lifecycle (closing destroys it, the tray
//!   re-creates it),
//! - [`relaunch`]: tray-only mode (a start with `--tray`, and the fresh
//!   image the app re-executes into when its window closes),
//! - [`error`]: the `{ kind, message }` error every command returns,
//! - [`folders`]: the build dialog's folder picker,
//! - [`registries`]: registry sign-in, credentials where the docker CLI
//!   finds them, and the tags a registry lists,
//! - [`settings`]: the Settings and Troubleshoot views (machine settings,
//!   reset, engine restart and log, start at login) and [`contexts`]: the
//!   docker CLI's contexts.

#![warn(missing_docs)]

pub mod background;
pub mod browser;
pub mod commands;
pub mod contexts;
pub mod engine;
pub use skiff_desktop_core::{error, machine};
pub mod folders;
pub mod probe;
pub mod registries;
pub mod relaunch;
pub mod settings;
pub mod tray;
pub mod window;

use std::sync::Arc;

use tauri::{Manager, RunEvent, Runtime};

use crate::engine::Engine;
use crate::engine::logs::Followers;
use crate::engine::stats::StatsFollowers;
use crate::engine::terminal::Terminals;
use crate::machine::Machine;
use crate::relaunch::Launch;
use crate::tray::Tray;
use crate::tray::native::NativeTray;
use crate::window::ViewState;

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
        .plugin(tauri_plugin_opener::init())
        .manage(engine)
        .manage(machine)
        .manage(Followers::default())
        .manage(StatsFollowers::default())
        .manage(Terminals::default())
        .manage(ViewState::default())
        .manage(registries::Registries::default())
        .invoke_handler(tauri::generate_handler![
            commands::engine_status,
            commands::list_containers,
            commands::container_action,
            commands::project_action,
            commands::open_port,
            commands::inspect_container,
            commands::follow_logs,
            commands::stop_logs,
            commands::follow_stats,
            commands::stop_stats,
            commands::terminal_open,
            commands::terminal_input,
            commands::terminal_resize,
            commands::terminal_close,
            commands::list_files,
            commands::download_file,
            commands::list_images,
            commands::image_history,
            commands::pull_image,
            commands::remove_image,
            commands::run_container,
            commands::list_volumes,
            commands::create_volume,
            commands::remove_volume,
            commands::prune_volumes,
            commands::list_networks,
            commands::create_network,
            commands::remove_network,
            commands::machine_info,
            commands::machine_start,
            commands::machine_stop,
            commands::machine_console,
            commands::view_state,
            commands::save_view_state,
            commands::list_folder,
            commands::build_image,
            commands::push_image,
            commands::registry_tags,
            commands::registry_sign_in,
            commands::registry_sign_out,
            commands::list_registries,
            settings::machine_settings,
            settings::apply_machine_settings,
            settings::recreate_machine,
            settings::restart_engine,
            settings::engine_log,
            settings::docker_contexts,
            settings::use_docker_context,
            settings::autostart,
            settings::set_autostart,
        ])
}

/// Runs the app until Quit; `launch` says whether to open the window at
/// start and the view state a re-execution carried.
pub fn run(launch: Launch) -> tauri::Result<()> {
    let no_handoff = launch.no_handoff;
    skiff_desktop_core::init_logging();
    let machine = Machine::from_env();
    let engine = Engine::auto(machine.clone());
    with_commands(tauri::Builder::default(), engine, machine)
        .setup(move |app| {
            setup(app.handle(), launch);
            Ok(())
        })
        .on_page_load(|webview, payload| probe::on_page_load(webview, payload.event()))
        .build(tauri::generate_context!())?
        .run(move |app, event| {
            // Closing the main window destroys it (and WebKit's processes);
            // with a tray the app stays, and the tray re-creates the window.
            // An explicit exit (Quit) carries a code and is not held.
            if let RunEvent::ExitRequested {
                code: None, api, ..
            } = event
            {
                if window::keep_running_without_windows(app) {
                    api.prevent_exit();
                    // What WebKit and GTK keep after the window goes is
                    // most of the app's memory: start afresh in the tray.
                    let view = app.state::<ViewState>().get();
                    let err = relaunch::relaunch_tray_only(&view, no_handoff);
                    tracing::warn!("staying in the tray as is: {err}");
                }
            }
        });
    Ok(())
}

/// Installs the tray, opens the main window unless started in the tray,
/// and starts the background tasks.
fn setup<R: Runtime>(app: &tauri::AppHandle<R>, launch: Launch) {
    let machine = app.state::<Machine>().inner().clone();
    let engine = app.state::<Engine>().inner().clone();
    let tray = match NativeTray::install(app) {
        Ok(native) => {
            let progress = commands::emitter(app, commands::events::MACHINE_PROGRESS);
            let tray = Arc::new(Tray::new(machine, Arc::new(native), progress).with_engine(engine));
            app.manage(tray.clone());
            Some(tray)
        }
        Err(err) => {
            tracing::warn!("no tray icon: {err}");
            None
        }
    };
    app.manage(TrayInstalled(tray.is_some()));
    if !launch.view_state.is_null() {
        if let Err(err) = app.state::<ViewState>().set(launch.view_state) {
            tracing::warn!("the carried view state: {err}");
        }
    }
    // Without a tray there is nothing to open the window from later.
    if !launch.tray_only || tray.is_none() {
        if let Err(err) = window::open_main(app) {
            tracing::error!("opening the main window: {err}");
        }
    }
    probe::listen(app);
    let registries = app.state::<registries::Registries>().inner().clone();
    std::thread::spawn(move || registries.check_cli_helper());
    background::start(app, tray);
}
