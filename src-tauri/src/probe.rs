//! A startup probe for `bench/desktop.sh`: with `SKIFF_DESKTOP_PROBE=N`
//! set, once the page has loaded and shows at least `N` container rows
//! (`0`: anything) and the next frame is painted, the app prints
//! `skiff-desktop: painted <rows> rows at <unix ms>` to stderr. With
//! `SKIFF_DESKTOP_PROBE_CLOSE=S` too, `S` seconds after that paint the app
//! closes its main window as the window's close button would (the app
//! stays in the tray) and prints `skiff-desktop: closed the window at
//! <unix ms>`: the bench then measures the tray-only app. Without the
//! variables nothing happens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tauri::webview::PageLoadEvent;
use tauri::{AppHandle, Listener, Manager, Runtime, Webview};

use crate::window::MAIN_WINDOW;

/// The environment variable that turns the probe on.
pub const ENV: &str = "SKIFF_DESKTOP_PROBE";
/// Seconds after the paint to close the main window (optional).
pub const CLOSE_ENV: &str = "SKIFF_DESKTOP_PROBE_CLOSE";
/// The event the page emits when painted.
const EVENT: &str = "startup-probe";

/// The number of rows to wait for, when the probe is on.
pub fn wanted_rows() -> Option<usize> {
    std::env::var(ENV).ok()?.trim().parse().ok()
}

/// Seconds to wait after the paint before closing the window, when asked.
fn close_after() -> Option<Duration> {
    let secs: f64 = std::env::var(CLOSE_ENV).ok()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Prints the probe's event (call once at setup), and closes the window
/// after it when asked.
pub fn listen<R: Runtime>(app: &AppHandle<R>) {
    if wanted_rows().is_none() {
        return;
    }
    let handle = app.clone();
    app.listen_any(EVENT, move |event| {
        let payload: serde_json::Value = serde_json::from_str(event.payload()).unwrap_or_default();
        eprintln!(
            "skiff-desktop: painted {} rows at {}",
            payload["rows"], payload["at"]
        );
        if let Some(delay) = close_after() {
            let app = handle.clone();
            tauri::async_runtime::spawn(async move {
                tokio::time::sleep(delay).await;
                close_main(&app);
            });
        }
    });
}

/// Asks the main window to close (a close request, as its button makes).
fn close_main<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return;
    };
    match window.close() {
        Ok(()) => {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            eprintln!("skiff-desktop: closed the window at {ms}");
        }
        Err(err) => tracing::warn!("closing the window for the probe: {err}"),
    }
}

/// Installs the page-side probe when the main page has loaded.
pub fn on_page_load<R: Runtime>(webview: &Webview<R>, event: PageLoadEvent) {
    let Some(rows) = wanted_rows() else { return };
    if event != PageLoadEvent::Finished {
        return;
    }
    if let Err(err) = webview.eval(script(rows)) {
        tracing::warn!("installing the startup probe: {err}");
    }
}

/// Waits (frame by frame) for `rows` container rows, then for one more
/// painted frame, then emits the probe event.
fn script(rows: usize) -> String {
    format!(
        r#"(function () {{
  const want = {rows};
  function check() {{
    const rows = document.querySelectorAll('[data-testid="container-row"]').length;
    if (rows >= want && document.body && document.body.childElementCount > 0) {{
      requestAnimationFrame(function () {{
        window.__TAURI_INTERNALS__.invoke('plugin:event|emit', {{
          event: '{EVENT}',
          payload: {{ rows: rows, at: Date.now() }}
        }});
      }});
    }} else {{
      requestAnimationFrame(check);
    }}
  }}
  check();
}})();"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_waits_for_the_rows_asked_for() {
        let js = script(100);
        assert!(js.contains("const want = 100;"));
        assert!(js.contains("'startup-probe'"));
    }
}
