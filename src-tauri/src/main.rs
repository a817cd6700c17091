//! `skiff-desktop`: Skiff's desktop app.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    disable_accelerated_compositing();
    // SAFETY: first thing in `main` (after the line above, same rule),
    // before any thread exists.
    let launch = unsafe { skiff_desktop::relaunch::Launch::take_from_env() };
    // In the tray from the start: the tray program, without WebKit.
    skiff_desktop::relaunch::hand_over_at_start(&launch);
    #[cfg(target_os = "linux")]
    if launch.tray_only {
        disable_gdk_gl();
    }
    skiff_desktop::run(launch)?;
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

/// In the tray, GDK need not probe OpenGL: on X11 it does so at start to
/// pick GL-capable visuals, which loads Mesa (with LLVM, ~50 MiB RSS) for
/// a window that may never open. `GDK_GL=disable` skips it unless the user
/// set `GDK_GL`; WebKit's rendering does not use GDK's GL (accelerated
/// compositing is off, see above, and WebKit opens its own EGL display
/// when it is on), so a window opened later from the tray draws the same.
#[cfg(target_os = "linux")]
fn disable_gdk_gl() {
    const VAR: &str = "GDK_GL";
    if std::env::var_os(VAR).is_none() {
        // SAFETY: still in `main` before any thread exists (see above).
        unsafe { std::env::set_var(VAR, "disable") };
    }
}
