//! The real tray: Tauri's tray icon and menu as a [`TrayView`]. The menu
//! is drawn as the shared model gives it ([`super::menu`]: the machine's
//! state, the running count, Start/Stop, the newest containers with
//! Stop/Restart, Open Dashboard, Quit) — the same menu `skiff-tray` shows
//! while the window is closed.

use std::sync::{Arc, Mutex, PoisonError};

use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

use super::menu::{self, Entry};
use super::{Tray, TrayIconKind, TrayStatus, TrayView};
use crate::error::Error;

/// The id of the tray icon.
pub const TRAY_ID: &str = "skiff";
/// The id of the disabled status line.
pub use super::menu::STATUS_ID;
/// The label of the main window.
pub use crate::window::MAIN_WINDOW;

/// The icon for a state.
pub fn icon(kind: TrayIconKind) -> Image<'static> {
    match kind {
        TrayIconKind::Running => tauri::include_image!("icons/tray-running.png"),
        TrayIconKind::Starting => tauri::include_image!("icons/tray-starting.png"),
        TrayIconKind::Stopped => tauri::include_image!("icons/tray-stopped.png"),
    }
}

/// What the tray shows now (to redraw only on change).
#[derive(Default)]
struct Shown {
    icon: Option<TrayIconKind>,
    tooltip: String,
    menu: Vec<Entry>,
}

/// The tray icon and what it shows.
pub struct NativeTray<R: Runtime> {
    app: AppHandle<R>,
    tray: TrayIcon<R>,
    shown: Mutex<Shown>,
}

impl<R: Runtime> NativeTray<R> {
    /// Creates the tray icon with the menu of an unreachable engine (the
    /// [`Tray`] redraws it at once); menu clicks go to the [`Tray`]
    /// managed as `Arc<Tray>`.
    pub fn install(app: &AppHandle<R>) -> tauri::Result<NativeTray<R>> {
        let entries = menu::menu(&super::status(None, false), None);
        let tray = TrayIconBuilder::with_id(TRAY_ID)
            .icon(icon(TrayIconKind::Stopped))
            .tooltip("Skiff")
            .menu(&build_menu(app, &entries)?)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu_event)
            .build(app)?;
        Ok(NativeTray {
            app: app.clone(),
            tray,
            shown: Mutex::new(Shown {
                menu: entries,
                ..Shown::default()
            }),
        })
    }

    fn shown(&self) -> std::sync::MutexGuard<'_, Shown> {
        // A panic while holding the lock leaves a valid value behind.
        self.shown.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a menu of `entries` on the icon.
    fn set_menu(&self, entries: &[Entry]) {
        let result = build_menu(&self.app, entries).and_then(|m| self.tray.set_menu(Some(m)));
        if let Err(err) = result {
            tracing::warn!("updating the tray menu: {err}");
        }
    }
}

/// The menu of `entries`.
fn build_menu<R: Runtime>(app: &AppHandle<R>, entries: &[Entry]) -> tauri::Result<Menu<R>> {
    let items = entries
        .iter()
        .map(|e| build(app, e))
        .collect::<tauri::Result<Vec<_>>>()?;
    let refs: Vec<&dyn IsMenuItem<R>> = items.iter().map(|i| i.as_ref()).collect();
    Menu::with_items(app, &refs)
}

/// One entry as a Tauri menu item.
fn build<R: Runtime>(app: &AppHandle<R>, entry: &Entry) -> tauri::Result<Box<dyn IsMenuItem<R>>> {
    Ok(match entry {
        Entry::Label { id, text } => Box::new(MenuItem::with_id(
            app,
            id.as_str(),
            text,
            false,
            None::<&str>,
        )?),
        Entry::Item { id, text, enabled } => Box::new(MenuItem::with_id(
            app,
            id.as_str(),
            text,
            *enabled,
            None::<&str>,
        )?),
        Entry::Submenu { text, entries } => {
            let items = entries
                .iter()
                .map(|e| build(app, e))
                .collect::<tauri::Result<Vec<_>>>()?;
            let refs: Vec<&dyn IsMenuItem<R>> = items.iter().map(|i| i.as_ref()).collect();
            Box::new(Submenu::with_items(app, text, true, &refs)?)
        }
        Entry::Separator => Box::new(PredefinedMenuItem::separator(app)?),
    })
}

/// Hands a menu click to the tray logic, off the main thread.
fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    use tauri::Manager;
    let Some(tray) = app.try_state::<Arc<Tray>>() else {
        return;
    };
    let tray = tray.inner().clone();
    let id = event.id().as_ref().to_string();
    tauri::async_runtime::spawn(async move {
        // Failures were reported through the view.
        let _ = tray.click(&id).await;
    });
}

/// Shows, unminimises and focuses the main window, re-creating it when it
/// was closed.
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Err(err) = crate::window::open_main(app) {
        tracing::warn!("opening the main window: {err}");
    }
}

impl<R: Runtime> TrayView for NativeTray<R> {
    fn show_status(&self, status: &TrayStatus) {
        let tooltip = format!("Skiff — {}", status.text);
        let mut shown = self.shown();
        // Each new icon is a file libappindicator reads: only on change.
        if shown.icon != Some(status.icon) {
            shown.icon = Some(status.icon);
            if let Err(err) = self.tray.set_icon(Some(icon(status.icon))) {
                tracing::warn!("updating the tray icon: {err}");
            }
        }
        if shown.tooltip != tooltip {
            if let Err(err) = self.tray.set_tooltip(Some(&tooltip)) {
                tracing::warn!("updating the tray tooltip: {err}");
            }
            shown.tooltip = tooltip;
        }
    }

    fn show_menu(&self, entries: &[Entry]) {
        let mut shown = self.shown();
        if shown.menu != entries {
            self.set_menu(entries);
            shown.menu = entries.to_vec();
        }
    }

    fn open_dashboard(&self) {
        show_main_window(&self.app);
    }

    fn quit(&self) {
        self.app.exit(0);
    }

    fn report_error(&self, what: &str, err: &Error) {
        tracing::warn!("tray: {what} failed: {err}");
        let text = format!("{what} failed: {}", err.sentence());
        let shown = self.shown();
        self.set_menu(&menu::with_status_line(&shown.menu, &text));
    }
}
