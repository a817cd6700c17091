//! The tray: its logic and menu model are shared with the tray program
//! ([`skiff_desktop_core::tray`]); [`native`] draws it with Tauri's tray.

pub use skiff_desktop_core::tray::*;

pub mod native;
