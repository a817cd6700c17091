//! The commands the UI invokes. Each hands off to its domain module in one
//! line; the names and JSON shapes are the desktop contract (arguments in
//! camelCase from JavaScript).

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::engine::build::{self, BuildRequest};
use crate::engine::containers::{self, Action, Container, RunRequest};
use crate::engine::files::{self, Listing};
use crate::engine::history::{self, Layer};
use crate::engine::images::{self, Image};
use crate::engine::logs::Followers;
use crate::engine::networks::{self, CreateNetwork, Network};
use crate::engine::projects;
use crate::engine::push;
use crate::engine::stats::StatsFollowers;
use crate::engine::terminal::{TerminalSinks, Terminals};
use crate::engine::volumes::{self, CreateVolume, Pruned, Volume};
use crate::engine::{Engine, EngineStatus};
use crate::error::Result;
use crate::folders::{self, FolderListing};
use crate::machine::{Machine, MachineInfo};
use crate::registries::{self, Registries, SignIn, SignedIn};
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
    /// A `StatsSample` a second while `follow_stats` runs.
    pub const CONTAINER_STATS: &str = "container-stats";
    /// `{ session, data }`: text a terminal printed.
    pub const TERMINAL_OUTPUT: &str = "terminal-output";
    /// `{ session, code }`: a terminal's shell ended.
    pub const TERMINAL_EXIT: &str = "terminal-exit";
    /// `{ reference, layer, status, current, total }` during a pull.
    pub const PULL_PROGRESS: &str = "pull-progress";
    /// `{ reference, error }` when a pull ends.
    pub const PULL_DONE: &str = "pull-done";
    /// `MachineInfo | null` when the machine changes.
    pub const MACHINE_STATE: &str = "machine-state";
    /// `StartProgress` while the machine starts.
    pub const MACHINE_PROGRESS: &str = "machine-progress";
    /// `{ build, line }`: a line of a build's output.
    pub const BUILD_LOG: &str = "build-log";
    /// `{ build, image, error }` when a build ends.
    pub const BUILD_DONE: &str = "build-done";
    /// `{ reference, layer, status, current, total }` during a push.
    pub const PUSH_PROGRESS: &str = "push-progress";
    /// `{ reference, digest, error }` when a push ends.
    pub const PUSH_DONE: &str = "push-done";
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

/// Emits `container-stats` events (a sample a second) until `stop_stats`
/// or the container stops.
#[tauri::command]
pub async fn follow_stats<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    stats: State<'_, StatsFollowers>,
    id: String,
) -> Result<()> {
    stats
        .follow(&engine, &id, emitter(&app, events::CONTAINER_STATS))
        .await
}

/// Stops the `container-stats` events of `follow_stats`.
#[tauri::command]
pub fn stop_stats(stats: State<'_, StatsFollowers>, id: String) {
    stats.stop(&id);
}

/// Starts `shell` in container `id` with a TTY of `cols`×`rows`; returns
/// the session. Output arrives as `terminal-output`, the end as
/// `terminal-exit`.
#[tauri::command]
pub async fn terminal_open<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    terminals: State<'_, Terminals>,
    id: String,
    shell: String,
    cols: u16,
    rows: u16,
) -> Result<String> {
    let sinks = TerminalSinks {
        output: emitter(&app, events::TERMINAL_OUTPUT),
        exit: emitter(&app, events::TERMINAL_EXIT),
    };
    terminals
        .open(&engine, &id, &shell, cols, rows, sinks)
        .await
}

/// Types `data` into terminal `session`.
#[tauri::command]
pub async fn terminal_input(
    terminals: State<'_, Terminals>,
    session: String,
    data: String,
) -> Result<()> {
    terminals.input(&session, data).await
}

/// Resizes terminal `session`.
#[tauri::command]
pub async fn terminal_resize(
    engine: State<'_, Engine>,
    terminals: State<'_, Terminals>,
    session: String,
    cols: u16,
    rows: u16,
) -> Result<()> {
    terminals.resize(&engine, &session, cols, rows).await
}

/// Closes terminal `session` (its shell sees the end of input).
#[tauri::command]
pub fn terminal_close(terminals: State<'_, Terminals>, session: String) {
    terminals.close(&session);
}

/// The entries of directory `path` in container `id` (archive API).
#[tauri::command]
pub async fn list_files(engine: State<'_, Engine>, id: String, path: String) -> Result<Listing> {
    files::list(&engine, &id, &path).await
}

/// Saves file `path` of container `id` into the user's Downloads folder;
/// returns where.
#[tauri::command]
pub async fn download_file<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    id: String,
    path: String,
) -> Result<String> {
    let folder = app
        .path()
        .download_dir()
        .map_err(|err| crate::error::Error::Internal(format!("no Downloads folder: {err}")))?;
    let saved = files::download(&engine, &id, &path, folder).await?;
    Ok(saved.display().to_string())
}

/// An image's layers, newest first (`docker history`).
#[tauri::command]
pub async fn image_history(engine: State<'_, Engine>, reference: String) -> Result<Vec<Layer>> {
    history::history(&engine, &reference).await
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

/// The sub-folders and Dockerfiles of folder `path` of this computer
/// (blank: the home folder), for the build dialog's picker.
#[tauri::command]
pub fn list_folder<R: Runtime>(app: AppHandle<R>, path: String) -> Result<FolderListing> {
    folders::list(&path, app.path().home_dir().ok())
}

/// Builds an image from a folder: `build-log` events, then `build-done`
/// (also when it fails, and the command fails with the same error);
/// returns the image id.
#[tauri::command]
pub async fn build_image<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    request: BuildRequest,
) -> Result<String> {
    build::build_reporting(
        &engine,
        &request,
        &*emitter(&app, events::BUILD_LOG),
        &*emitter(&app, events::BUILD_DONE),
    )
    .await
}

/// Pushes an image with the credentials signed in for its registry:
/// `push-progress` events, then `push-done`; returns the digest.
#[tauri::command]
pub async fn push_image<R: Runtime>(
    app: AppHandle<R>,
    engine: State<'_, Engine>,
    registries: State<'_, Registries>,
    reference: String,
) -> Result<String> {
    let auth = blocking(registries.inner().clone(), {
        let reference = reference.clone();
        move |r| Ok(r.auth_header_for(&reference))
    })
    .await?;
    push::push_reporting(
        &engine,
        &reference,
        auth,
        &*emitter(&app, events::PUSH_PROGRESS),
        &*emitter(&app, events::PUSH_DONE),
    )
    .await
}

/// The tags the registry of `repository` lists (newest version first).
#[tauri::command]
pub async fn registry_tags(
    registries: State<'_, Registries>,
    repository: String,
) -> Result<Vec<String>> {
    let creds = blocking(registries.inner().clone(), {
        let repository = repository.clone();
        move |r| Ok(r.credentials_for(&repository))
    })
    .await?;
    registries::tags::list(&repository, creds).await
}

/// Checks the credentials with the engine (`docker login`) and stores them
/// where the docker CLI finds them.
#[tauri::command]
pub async fn registry_sign_in(
    engine: State<'_, Engine>,
    registries: State<'_, Registries>,
    request: SignIn,
) -> Result<SignedIn> {
    registries::login::sign_in(&engine, &registries, request).await
}

/// Forgets the credentials of `server` (`docker logout`).
#[tauri::command]
pub async fn registry_sign_out(registries: State<'_, Registries>, server: String) -> Result<()> {
    blocking(registries.inner().clone(), move |r| r.sign_out(&server)).await
}

/// The registries signed in to.
#[tauri::command]
pub async fn list_registries(registries: State<'_, Registries>) -> Result<Vec<SignedIn>> {
    blocking(registries.inner().clone(), |r| r.list()).await
}

/// Runs `work` (helper processes, D-Bus) off the async threads.
async fn blocking<T: Send + 'static>(
    registries: Registries,
    work: impl FnOnce(&Registries) -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(move || work(&registries))
        .await
        .map_err(|err| crate::error::Error::Internal(format!("a background task: {err}")))?
}
