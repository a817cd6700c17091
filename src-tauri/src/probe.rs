//! A startup probe for `bench/desktop.sh`: with `SKIFF_DESKTOP_PROBE=N`
//! set, once the page has loaded and shows at least `N` container rows
//! (`0`: anything) and the next frame is painted, the app prints
//! `skiff-desktop: painted <rows> rows at <unix ms>` to stderr. Without the
//! variable nothing happens.

use tauri::webview::PageLoadEvent;
use tauri::{AppHandle, Listener, Runtime, Webview};

/// The environment variable that turns the probe on.
pub const ENV: &str = "SKIFF_DESKTOP_PROBE";
/// The event the page emits when painted.
const EVENT: &str = "startup-probe";

/// The number of rows to wait for, when the probe is on.
pub fn wanted_rows() -> Option<usize> {
    std::env::var(ENV).ok()?.trim().parse().ok()
}

/// Prints the probe's event (call once at setup).
pub fn listen<R: Runtime>(app: &AppHandle<R>) {
    if wanted_rows().is_none() {
        return;
    }
    app.listen_any(EVENT, |event| {
        let payload: serde_json::Value = serde_json::from_str(event.payload()).unwrap_or_default();
        eprintln!(
            "skiff-desktop: painted {} rows at {}",
            payload["rows"], payload["at"]
        );
    });
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
