//! What Skiff's two desktop programs share — the app (`skiff-desktop`,
//! Tauri with its webview) and the tray (`skiff-tray`, which links no
//! WebKit and stands in for the app while its window is closed):
//!
//! - [`autostart`]: start at login (XDG autostart, LaunchAgent, Run key),
//! - [`engine`]: the engine client (endpoint discovery, the connection,
//!   containers, the `/events` follower),
//! - [`machine`]: the Skiff machine behind a small trait,
//! - [`tray`]: the tray's logic and menu model, tested without a display,
//! - [`handoff`]: how one program replaces the other (same process, the
//!   view state carried along),
//! - [`error`]: the `{ kind, message }` error of every operation.

#![warn(missing_docs)]

pub mod autostart;
pub mod engine;
pub mod error;
pub mod handoff;
pub mod machine;
pub mod tray;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`): both programs'
/// logging.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}
