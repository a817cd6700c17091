//! The real tray: Tauri's tray icon and menu as a [`TrayView`].

use std::sync::Arc;

use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

use super::{MenuAction, Tray, TrayIconKind, TrayStatus, TrayView};
use crate::error::Error;

/// The id of the tray icon.
pub const TRAY_ID: &str = "skiff";
/// The id of the disabled status line.
pub const STATUS_ID: &str = "status";
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

/// The tray icon and the menu items that change.
pub struct NativeTray<R: Runtime> {
    app: AppHandle<R>,
    tray: TrayIcon<R>,
    status: MenuItem<R>,
    start: MenuItem<R>,
    stop: MenuItem<R>,
}

impl<R: Runtime> NativeTray<R> {
    /// Creates the tray icon with its menu; menu clicks go to the [`Tray`]
    /// managed as `Arc<Tray>`.
    pub fn install(app: &AppHandle<R>) -> tauri::Result<NativeTray<R>> {
        let status = MenuItem::with_id(app, STATUS_ID, "Skiff", false, None::<&str>)?;
        let item = |action: MenuAction, enabled: bool| {
            MenuItem::with_id(app, action.id(), action.label(), enabled, None::<&str>)
        };
        let start = item(MenuAction::Start, false)?;
        let stop = item(MenuAction::Stop, false)?;
        let open = item(MenuAction::OpenDashboard, true)?;
        let quit = item(MenuAction::Quit, true)?;
        let menu = Menu::with_items(
            app,
            &[
                &status,
                &PredefinedMenuItem::separator(app)?,
                &start,
                &stop,
                &PredefinedMenuItem::separator(app)?,
                &open,
                &PredefinedMenuItem::separator(app)?,
                &quit,
            ],
        )?;
        let tray = TrayIconBuilder::with_id(TRAY_ID)
            .icon(icon(TrayIconKind::Stopped))
            .tooltip("Skiff")
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu_event)
            .build(app)?;
        Ok(NativeTray {
            app: app.clone(),
            tray,
            status,
            start,
            stop,
        })
    }
}

/// Hands a menu click to the tray logic, off the main thread.
fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    let Some(action) = MenuAction::from_id(event.id().as_ref()) else {
        return;
    };
    let Some(tray) = app.try_state::<Arc<Tray>>() else {
        return;
    };
    let tray = tray.inner().clone();
    tauri::async_runtime::spawn(async move {
        // Failures were reported through the view.
        let _ = tray.handle(action).await;
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
        let results = [
            self.status.set_text(&status.text),
            self.start.set_enabled(status.can_start),
            self.stop.set_enabled(status.can_stop),
            self.tray.set_icon(Some(icon(status.icon))),
            self.tray
                .set_tooltip(Some(format!("Skiff — {}", status.text))),
        ];
        for err in results.into_iter().filter_map(Result::err) {
            tracing::warn!("updating the tray: {err}");
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
        if let Err(err) = self.status.set_text(text) {
            tracing::warn!("updating the tray: {err}");
        }
    }
}
