//! `skiff-desktop`: Skiff's desktop app.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    disable_accelerated_compositing();
    skiff_desktop::run()?;
    Ok(())
}

/// Turns WebKitGTK's accelerated compositing off unless the user chose:
/// lists and forms do not need it, and it costs the web process ~125 MiB
/// and the first paint ~0.7 s on Mesa's software GL (bench/desktop.sh).
#[cfg(target_os = "linux")]
fn disable_accelerated_compositing() {
    const VAR: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    if std::env::var_os(VAR).is_none() {
        // SAFETY: first thing in `main`, before any thread exists (GTK,
        // WebKit, tauri and tokio start theirs later), so nothing reads
        // the environment while it changes.
        unsafe { std::env::set_var(VAR, "1") };
    }
}
