//! The Settings and Troubleshoot views' commands, each a hand-off: the
//! machine's settings (applied with a restart of a running VM), reset
//! (recreate), restart of the engine, the engine's log, the docker CLI's
//! contexts, and start at login.

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::commands::{emitter, events};
use crate::contexts::{self, Contexts};
use crate::error::{Error, Result};
use crate::machine::{Applied, Machine, MachineSettings, SettingsChange};
use skiff_desktop_core::autostart::{Autostart, AutostartStatus};

/// Most engine log lines `engine_log` returns.
const MAX_LOG_LINES: usize = 5000;

/// The file a native engine's log is in, for engines the app does not run
/// in a machine (`skiffd … 2>/var/log/skiffd.log`).
pub const ENGINE_LOG_ENV: &str = "SKIFF_ENGINE_LOG";

/// The engine's log and where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineLog {
    /// Where the lines come from, for the person reading them.
    pub source: String,
    /// The last lines, oldest first.
    pub lines: Vec<String>,
}

/// The machine's settings, `null` when there is no machine yet.
#[tauri::command]
pub fn machine_settings(machine: State<'_, Machine>) -> Result<Option<MachineSettings>> {
    machine.settings()
}

/// Checks and saves new settings; a running VM restarts to take them
/// (`machine-progress` events while it starts again).
#[tauri::command]
pub async fn apply_machine_settings<R: Runtime>(
    app: AppHandle<R>,
    machine: State<'_, Machine>,
    change: SettingsChange,
) -> Result<Applied> {
    machine
        .apply(&change, &*emitter(&app, events::MACHINE_PROGRESS))
        .await
}

/// Deletes the machine with everything in it and creates it again with
/// `change`'s settings; returns whether it was started again.
#[tauri::command]
pub async fn recreate_machine<R: Runtime>(
    app: AppHandle<R>,
    machine: State<'_, Machine>,
    change: SettingsChange,
) -> Result<bool> {
    machine
        .recreate(&change, &*emitter(&app, events::MACHINE_PROGRESS))
        .await
}

/// Restarts the engine (the VM it runs in).
#[tauri::command]
pub async fn restart_engine<R: Runtime>(
    app: AppHandle<R>,
    machine: State<'_, Machine>,
) -> Result<()> {
    if let Some(endpoint) = skiff_desktop_core::engine::endpoint::explicit_from_env() {
        return Err(not_in_a_machine(&endpoint, "restart it where it runs"));
    }
    machine
        .restart(&*emitter(&app, events::MACHINE_PROGRESS))
        .await
}

fn not_in_a_machine(endpoint: &str, what: &str) -> Error {
    Error::MachineUnavailable(format!(
        "the app uses the engine at {endpoint} (SKIFF_DOCKER_HOST or DOCKER_HOST), not one in a Skiff machine: {what}"
    ))
}

/// The last `lines` lines of the engine's log: `$SKIFF_ENGINE_LOG` when
/// set, else skiffd's lines of the machine's console. An engine the app
/// reaches elsewhere (`SKIFF_DOCKER_HOST`) has no log the app can read:
/// refused, saying so.
#[tauri::command]
pub fn engine_log(machine: State<'_, Machine>, lines: usize) -> Result<EngineLog> {
    let lines = lines.min(MAX_LOG_LINES);
    if let Some(path) = std::env::var_os(ENGINE_LOG_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let lines = skiff_machine::fsutil::tail_lines(&path, lines)
            .map_err(|err| Error::Internal(format!("the engine log: {err}")))?;
        return Ok(EngineLog {
            source: path.display().to_string(),
            lines,
        });
    }
    if let Some(endpoint) = skiff_desktop_core::engine::endpoint::explicit_from_env() {
        return Err(not_in_a_machine(
            &endpoint,
            "its log is wherever that engine writes it (set SKIFF_ENGINE_LOG to the file to see it here)",
        ));
    }
    Ok(EngineLog {
        source: "skiffd's lines of the machine's console".into(),
        lines: machine.engine_log(lines)?,
    })
}

/// The docker CLI's contexts and the current one.
#[tauri::command]
pub fn docker_contexts() -> Result<Contexts> {
    contexts::list(
        &contexts::config_dir_from_env()?,
        contexts::override_from_env(),
    )
}

/// Makes `name` the docker CLI's current context.
#[tauri::command]
pub fn use_docker_context(name: String) -> Result<Contexts> {
    contexts::switch(
        &contexts::config_dir_from_env()?,
        &name,
        contexts::override_from_env(),
    )
}

/// Whether the app starts (in the tray) at login.
#[tauri::command]
pub fn autostart() -> Result<AutostartStatus> {
    Autostart::from_env()?.status()
}

/// Turns start at login on or off.
#[tauri::command]
pub fn set_autostart(enabled: bool) -> Result<AutostartStatus> {
    Autostart::from_env()?.set(enabled)
}
