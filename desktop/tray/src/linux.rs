//! The tray on Linux: GTK's main loop on the main thread draws the icon
//! and menu (`tray-icon`: libappindicator, or an XEmbed status icon where
//! no StatusNotifier host runs); the tray logic runs on a one-worker tokio
//! runtime and reaches GTK only through [`Update`] messages.

use std::sync::Arc;

use gtk::glib;
use skiff_desktop_core::engine::Engine;
use skiff_desktop_core::error::Error;
use skiff_desktop_core::handoff::{self, Carried, VIEW_STATE_ENV};
use skiff_desktop_core::machine::Machine;
use skiff_desktop_core::tray::menu::{Entry, with_status_line};
use skiff_desktop_core::tray::{Tray, TrayIconKind, TrayStatus, TrayView, tasks};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tray_icon::menu::{IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

/// Why the tray could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    /// GTK could not start (no display).
    #[error("GTK could not start: {0}")]
    Gtk(#[from] glib::BoolError),
    /// The tray icon could not be made.
    #[error("the tray icon: {0}")]
    Icon(#[from] tray_icon::Error),
    /// The menu could not be made.
    #[error("the tray menu: {0}")]
    Menu(#[from] tray_icon::menu::Error),
    /// The async runtime could not start.
    #[error("the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// What the tray logic asks of the GTK side.
#[derive(Debug)]
enum Update {
    Status(TrayStatus),
    Menu(Vec<Entry>),
    Error(String),
    OpenDashboard,
    Quit,
}

/// The [`TrayView`] the logic talks to: messages to the GTK thread.
struct Messages(UnboundedSender<Update>);

impl TrayView for Messages {
    fn show_status(&self, status: &TrayStatus) {
        let _ = self.0.send(Update::Status(status.clone()));
    }
    fn show_menu(&self, entries: &[Entry]) {
        let _ = self.0.send(Update::Menu(entries.to_vec()));
    }
    fn open_dashboard(&self) {
        let _ = self.0.send(Update::OpenDashboard);
    }
    fn quit(&self) {
        let _ = self.0.send(Update::Quit);
    }
    fn report_error(&self, what: &str, err: &Error) {
        tracing::warn!("tray: {what} failed: {err}");
        let _ = self
            .0
            .send(Update::Error(format!("{what} failed: {}", err.sentence())));
    }
}

/// Sets what GTK reads at start: no OpenGL probe (it loads Mesa, tens of
/// MiB, for a menu) unless the user chose.
///
/// # Safety
///
/// Changes the environment: call it before any thread exists.
pub unsafe fn prepare_env() {
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: the caller guarantees no other thread exists.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
}

/// Shows the tray until Quit (returns `Ok`) or Open Dashboard (this
/// process becomes the app); an error when the tray cannot be shown.
pub fn run(carried: &Carried) -> Result<(), TrayError> {
    gtk::init()?;
    let mut builder = TrayIconBuilder::new().with_id("skiff");
    if let Some(icon) = icon(TrayIconKind::Stopped) {
        builder = builder.with_icon(icon);
    }
    let icon = builder
        .with_tooltip("Skiff")
        .with_menu(Box::new(Menu::new()))
        .with_menu_on_left_click(true)
        .build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    let (updates, received) = unbounded_channel();
    let machine = Machine::from_env();
    let engine = Engine::auto(machine.clone());
    let tray = Arc::new(
        Tray::new(
            machine.clone(),
            Arc::new(Messages(updates)),
            Arc::new(|_| {}),
        )
        .with_engine(engine.clone()),
    );
    let (clicks, mut clicked) = unbounded_channel::<String>();
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        let _ = clicks.send(event.id.0);
    }));
    let click_tray = tray.clone();
    runtime.spawn(async move {
        while let Some(id) = clicked.recv().await {
            let tray = click_tray.clone();
            // Failures were reported through the view.
            tokio::spawn(async move { tray.click(&id).await });
        }
    });
    {
        let _guard = runtime.enter();
        tasks::spawn(tray, engine, machine);
    }
    glib::MainContext::default().spawn_local(draw(icon, received, carried.clone()));
    gtk::main();
    runtime.shutdown_background();
    Ok(())
}

/// Applies the logic's updates to the icon and menu (on GTK's thread).
async fn draw(icon: TrayIcon, mut updates: UnboundedReceiver<Update>, carried: Carried) {
    let mut shown: Vec<Entry> = Vec::new();
    let mut kind = TrayIconKind::Stopped;
    let mut tooltip = String::new();
    while let Some(update) = updates.recv().await {
        match update {
            Update::Status(status) => {
                // Each new icon is a file libappindicator reads: only on change.
                if status.icon != kind {
                    kind = status.icon;
                    if let Err(err) = icon.set_icon(self::icon(kind)) {
                        tracing::warn!("tray icon: {err}");
                    }
                }
                let text = format!("Skiff — {}", status.text);
                if text != tooltip {
                    let _ = icon.set_tooltip(Some(&text));
                    tooltip = text;
                }
            }
            Update::Menu(entries) if entries != shown => {
                set_menu(&icon, &entries);
                shown = entries;
            }
            Update::Menu(_) => {}
            Update::Error(text) => set_menu(&icon, &with_status_line(&shown, &text)),
            Update::OpenDashboard => open_app(&carried),
            Update::Quit => gtk::main_quit(),
        }
    }
}

/// Replaces this process with the app, its window open on the carried
/// view; logs when that fails (the tray stays).
fn open_app(carried: &Carried) {
    let err = match crate::app_program(carried) {
        Ok(app) => handoff::replace(
            &app,
            &carried.args_for_window(),
            &[(VIEW_STATE_ENV, carried.view_state.to_string())],
        ),
        Err(err) => err,
    };
    tracing::error!("opening the app: {err}");
}

/// Builds the menu from `entries` and puts it on the icon.
fn set_menu(icon: &TrayIcon, entries: &[Entry]) {
    let menu = Menu::new();
    for entry in entries {
        let item = build(entry);
        if let Err(err) = menu.append(item.as_ref()) {
            tracing::warn!("tray menu: {err}");
        }
    }
    icon.set_menu(Some(Box::new(menu)));
}

/// One menu entry as a muda item.
fn build(entry: &Entry) -> Box<dyn IsMenuItem> {
    match entry {
        Entry::Label { id, text } => Box::new(MenuItem::with_id(id.as_str(), text, false, None)),
        Entry::Item { id, text, enabled } => {
            Box::new(MenuItem::with_id(id.as_str(), text, *enabled, None))
        }
        Entry::Submenu { text, entries } => {
            let submenu = Submenu::new(text, true);
            for entry in entries {
                let item = build(entry);
                if let Err(err) = submenu.append(item.as_ref()) {
                    tracing::warn!("tray menu: {err}");
                }
            }
            Box::new(submenu)
        }
        Entry::Separator => Box::new(PredefinedMenuItem::separator()),
    }
}

/// The icon for a state: the app's tray icons (64×64 RGBA PNGs; they
/// always decode, see the test).
fn icon(kind: TrayIconKind) -> Option<Icon> {
    let png: &[u8] = match kind {
        TrayIconKind::Running => include_bytes!("../../../src-tauri/icons/tray-running.png"),
        TrayIconKind::Starting => include_bytes!("../../../src-tauri/icons/tray-starting.png"),
        TrayIconKind::Stopped => include_bytes!("../../../src-tauri/icons/tray-stopped.png"),
    };
    let (rgba, width, height) = decode(png)?;
    Icon::from_rgba(rgba, width, height).ok()
}

/// The RGBA pixels, width and height of an 8-bit RGBA PNG.
fn decode(png: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let mut reader = png::Decoder::new(png).read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return None;
    }
    buf.truncate(info.buffer_size());
    Some((buf, info.width, info.height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_icons_decode() {
        for png in [
            include_bytes!("../../../src-tauri/icons/tray-running.png").as_slice(),
            include_bytes!("../../../src-tauri/icons/tray-starting.png"),
            include_bytes!("../../../src-tauri/icons/tray-stopped.png"),
        ] {
            let (rgba, w, h) = decode(png).expect("an RGBA PNG");
            assert_eq!((w, h), (64, 64));
            assert_eq!(rgba.len(), 64 * 64 * 4);
        }
        assert!(icon(TrayIconKind::Running).is_some());
    }
}
