//! `skiff-tray`: Skiff's tray icon and menu while the app's window is
//! closed, without WebKit.
//!
//! The app (`skiff-desktop`) hands over to it when its window closes (see
//! `skiff_desktop_core::handoff`): same process, the app's arguments, the
//! view state. It shows the machine's state and the running container
//! count, Start and Stop, the last containers with Stop and Restart, Open
//! Dashboard (which hands back to the app, carrying the view state) and
//! Quit. The logic and the menu model are `skiff_desktop_core::tray`'s;
//! this program only draws them (GTK and libappindicator through the
//! `tray-icon` crate, as Tauri's tray on Linux) and runs the engine and
//! machine followers on a small tokio runtime.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(target_os = "linux")]
mod linux;

use skiff_desktop_core::handoff::{self, APP_NAME, Carried, NO_HANDOFF_ENV, TRAY_ONLY_ENV};

fn main() {
    // SAFETY: first thing in `main`, before any thread exists.
    let carried = unsafe { Carried::take_from_env() };
    #[cfg(target_os = "linux")]
    {
        // SAFETY: still before any thread exists (see above).
        unsafe { linux::prepare_env() };
        skiff_desktop_core::init_logging();
        match linux::run(&carried) {
            Ok(()) => return,
            Err(err) => eprintln!("skiff-tray: {err}; handing back to the app"),
        }
    }
    hand_back_tray_only(&carried);
}

/// The app's binary: the one that handed over, else `skiff-desktop` next
/// to this one.
fn app_program(carried: &Carried) -> std::io::Result<std::path::PathBuf> {
    match &carried.app {
        Some(app) => Ok(app.clone()),
        None => handoff::sibling(APP_NAME),
    }
}

/// Without a tray icon here, the app stays in the tray itself: it is
/// started tray-only, told not to hand over again. Exits when even that
/// fails.
fn hand_back_tray_only(carried: &Carried) {
    let err = match app_program(carried) {
        Ok(app) => handoff::replace(
            &app,
            &carried.args,
            &[
                (TRAY_ONLY_ENV, "1".to_string()),
                (NO_HANDOFF_ENV, "1".to_string()),
                (handoff::VIEW_STATE_ENV, carried.view_state.to_string()),
            ],
        ),
        Err(err) => err,
    };
    eprintln!("skiff-tray: handing back to the app: {err}");
    std::process::exit(1);
}
