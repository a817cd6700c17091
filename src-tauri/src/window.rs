//! The main window's lifecycle, for a tray app that costs little while it
//! sits in the tray.
//!
//! Closing the main window (with a tray icon installed) destroys it: its
//! webview, and with it WebKit's web process (the page), go away and the
//! app keeps running with its tray icon only — re-executed as a fresh
//! tray-only image ([`crate::relaunch`]), so neither WebKit's network
//! process nor what WebKit and GTK kept in memory stays. [`open_main`]
//! re-creates the
//! window from the configuration (`tauri.conf.json`'s window `main`) when it
//! is gone, and shows it. The page keeps what it needs to come back to the
//! same view in [`ViewState`], which lives in the app, not in the page.

use std::sync::Mutex;

use tauri::{AppHandle, Manager, Runtime, WebviewWindowBuilder};

use crate::error::{Error, Result};

/// The label of the main window.
pub const MAIN_WINDOW: &str = "main";

/// Largest view state accepted (bytes of JSON): it is a handful of fields.
pub const MAX_VIEW_STATE: usize = 64 * 1024;

/// What the page asked to keep across the destruction of its webview (the
/// view shown, an open details panel, …): an opaque JSON value, `null`
/// until the page saves one. Only the app's memory holds it.
#[derive(Debug, Default)]
pub struct ViewState(Mutex<serde_json::Value>);

impl ViewState {
    /// The last value saved (`null` when none).
    pub fn get(&self) -> serde_json::Value {
        self.lock().clone()
    }

    /// Replaces the value; refuses one larger than [`MAX_VIEW_STATE`].
    pub fn set(&self, value: serde_json::Value) -> Result<()> {
        let size = value.to_string().len();
        if size > MAX_VIEW_STATE {
            return Err(Error::InvalidRequest(format!(
                "the view state is {size} bytes of JSON, more than the {MAX_VIEW_STATE} kept"
            )));
        }
        *self.lock() = value;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, serde_json::Value> {
        // A panic while holding the lock leaves a valid value behind.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Shows, unminimises and focuses the main window, creating it (and its
/// webview) from the configuration when it was closed.
pub fn open_main<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => {
            // `main` is in tauri.conf.json; without it there is nothing to open.
            let config = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
                .cloned()
                .ok_or(tauri::Error::WindowNotFound)?;
            WebviewWindowBuilder::from_config(app, &config)?.build()?
        }
    };
    window.show()?;
    window.unminimize()?;
    window.set_focus()
}

/// Whether closing the main window should leave the app running: only with
/// a tray icon to bring the window back.
pub fn keep_running_without_windows<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<crate::TrayInstalled>().is_some_and(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_state_keeps_the_last_value_and_refuses_huge_ones() {
        let state = ViewState::default();
        assert_eq!(state.get(), serde_json::Value::Null);
        state
            .set(serde_json::json!({ "view": "volumes" }))
            .expect("small");
        let huge = serde_json::Value::String("x".repeat(MAX_VIEW_STATE));
        let err = state.set(huge).expect_err("too large");
        assert_eq!(err.kind(), "invalid_request");
        assert_eq!(state.get(), serde_json::json!({ "view": "volumes" }));
    }
}
