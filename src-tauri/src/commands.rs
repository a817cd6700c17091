//! The commands the UI invokes. Each hands off to its domain module in one
//! line; the names and JSON shapes are the desktop contract (arguments in
//! camelCase from JavaScript).

use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::engine::containers::{self, Action, Container, RunRequest};
use crate::engine::images::{self, Image};
use crate::engine::logs::Followers;
use crate::engine::networks::{self, CreateNetwork, Network};
use crate::engine::projects;
use crate::engine::volumes::{self, CreateVolume, Pruned, Volume};
use crate::engine::{Engine, EngineStatus};
use crate::error::Result;
use crate::machine::{Machine, MachineInfo};
use crate::window::ViewState;

/// Most console lines `machine_console` returns.
const MAX_CONSOLE_LINES: usize = 5000;

/// Event names the backend emits.
pub mod events {
    /// Each docker event (`Type`, `Action`, `Actor{ID, Attributes}`, `time`).
    pub const ENGINE_EVENT: &str = "engine-event";
    /// `engine_status`'s shape, when reachability changes.
    pub const ENGINE_STATE: &str = "engine-state";
    /// `{ id, stream, line }` while `follow_logs` runs.
    pub const CONTAINER_LOG: &str = "container-log";
    /// `{ reference, layer, status, current, total }` during a pull.
    pub const PULL_PROGRESS: &str = "pull-progress";
    /// `{ reference, error }` when a pull ends.
    pub const PULL_DONE: &str = "pull-done";
    /// `MachineInfo | null` when the machine changes.
    pub const MACHINE_STATE: &str = "machine-state";
    /// `StartProgress` while the machine starts.
    pub const MACHINE_PROGRESS: &str = "machine-progress";
}

/// A function that emits `event` to every webview (failures are logged:
/// an event nobody can receive is not the command's failure).
pub fn emitter<R: Runtime, T: Serialize + Clone>(
    app: &AppHandle<R>,
    event: &'static str,
) -> std::sync::Arc<dyn Fn(T) + Send + Sync> {
    let app = app.clone();
    std::sync::Arc::new(move |payload: T| {
        if let Err(err) = app.emit(event, payload) {
            tracing::warn!("emitting {event}: {err}");
        }
    })
}

/// Whether the engine answers, where, and its version.
#[tauri::command]
pub async fn engine_status(engine: State<'_, Engine>) -> Result<EngineStatus> {
    Ok(engine.status().await)
}

/// Every container.
#[tauri::command]
pub async fn list_containers(engine: State<'_, Engine>) -> Result<Vec<Container>> {
    containers::list(&engine).await
}

/// `start`, `stop`, `restart` or `remove` (forced, with volumes).
#[tauri::command]
pub async fn container_action(engine: State<'_, Engine>, id: String, action: Action) -> Result<()> {
    containers::act(&engine, &id, action).await
}

/// `start`, `stop`, `restart` or `remove` every container of compose
/// project `project`.
#[tauri::command]
pub async fn project_action(
    engine: State<'_, Engine>,
    project: String,
    action: Action,
) -> Result<()> {
    projects::act(&engine, &project, action).await
}

/// Opens `http://localhost:<port>` (a published port) in the default
/// browser.
#[tauri::command]
pub fn open_port<R: Runtime>(app: AppHandle<R>, port: u16) -> Result<()> {
    crate::browser::open_port(&app, port)
}

/// The container's inspect document.
#[tauri::command]
pub async fn inspect_container(engine: State<'_, Engine>, id: String) -> Result<serde_json::Value> {
    containers::inspect(&engine, &id).await
}

/// Emits `container-log` events: the last 200 lines, then new ones.
#[tauri::command]
pub async fn follow_logs<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    followers: State<'_, Followers>,
    id: String,
) -> Result<()> {
    followers
        .follow(&engine, &id, emitter(&app, events::CONTAINER_LOG))
        .await
}

/// Stops the `container-log` events of `follow_logs`.
#[tauri::command]
pub fn stop_logs(followers: State<'_, Followers>, id: String) {
    followers.stop(&id);
}

/// Every image, with whether a container uses it.
#[tauri::command]
pub async fn list_images(engine: State<'_, Engine>) -> Result<Vec<Image>> {
    images::list(&engine).await
}

/// Pulls an image: `pull-progress` events, then `pull-done` (also when it
/// fails, and the command fails with the same error).
#[tauri::command]
pub async fn pull_image<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    reference: String,
) -> Result<()> {
    images::pull_reporting(
        &engine,
        &reference,
        &*emitter(&app, events::PULL_PROGRESS),
        &*emitter(&app, events::PULL_DONE),
    )
    .await
}

/// Removes an image (`force`: even when used or tagged several times).
#[tauri::command]
pub async fn remove_image(engine: State<'_, Engine>, id: String, force: bool) -> Result<()> {
    images::remove(&engine, &id, force).await
}

/// Creates and starts a container; returns its id.
#[tauri::command]
pub async fn run_container(engine: State<'_, Engine>, request: RunRequest) -> Result<String> {
    containers::run(&engine, request).await
}

/// Every volume, with the containers that mount it.
#[tauri::command]
pub async fn list_volumes(engine: State<'_, Engine>) -> Result<Vec<Volume>> {
    volumes::list(&engine).await
}

/// Creates a volume; returns its name.
#[tauri::command]
pub async fn create_volume(engine: State<'_, Engine>, request: CreateVolume) -> Result<String> {
    volumes::create(&engine, request).await
}

/// Removes a volume (`force`: as `docker volume rm -f`).
#[tauri::command]
pub async fn remove_volume(engine: State<'_, Engine>, name: String, force: bool) -> Result<()> {
    volumes::remove(&engine, &name, force).await
}

/// Removes unused volumes (`all`: named ones too).
#[tauri::command]
pub async fn prune_volumes(engine: State<'_, Engine>, all: bool) -> Result<Pruned> {
    volumes::prune(&engine, all).await
}

/// Every network, with the containers attached and their addresses.
#[tauri::command]
pub async fn list_networks(engine: State<'_, Engine>) -> Result<Vec<Network>> {
    networks::list(&engine).await
}

/// Creates a network; returns its id.
#[tauri::command]
pub async fn create_network(engine: State<'_, Engine>, request: CreateNetwork) -> Result<String> {
    networks::create(&engine, request).await
}

/// Removes a network.
#[tauri::command]
pub async fn remove_network(engine: State<'_, Engine>, id: String) -> Result<()> {
    networks::remove(&engine, &id).await
}

/// The machine, `null` when none exists.
#[tauri::command]
pub fn machine_info(machine: State<'_, Machine>) -> Result<Option<MachineInfo>> {
    machine.info()
}

/// Starts the machine, emitting `machine-progress`.
#[tauri::command]
pub async fn machine_start<R: Runtime>(
    app: AppHandle<R>,
    machine: State<'_, Machine>,
) -> Result<()> {
    machine
        .start(&*emitter(&app, events::MACHINE_PROGRESS))
        .await
}

/// Stops the machine.
#[tauri::command]
pub async fn machine_stop(machine: State<'_, Machine>) -> Result<()> {
    machine.stop().await
}

/// The last `lines` lines of the machine's console.
#[tauri::command]
pub fn machine_console(machine: State<'_, Machine>, lines: usize) -> Result<Vec<String>> {
    machine.console(lines.min(MAX_CONSOLE_LINES))
}

/// What the page saved with `save_view_state` (`null` at first): how it
/// comes back to the same view when the window is re-created.
#[tauri::command]
pub fn view_state(state: State<'_, ViewState>) -> serde_json::Value {
    let state = state.get();
    tracing::info!("a page asks for its view state: {state}");
    state
}

/// Keeps `state` (small JSON) for the next page of the main window.
#[tauri::command]
pub fn save_view_state(view: State<'_, ViewState>, state: serde_json::Value) -> Result<()> {
    view.set(state)
}
