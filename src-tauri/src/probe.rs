//! A startup probe for `bench/desktop.sh`: with `SKIFF_DESKTOP_PROBE=N`
//! set, once the page has loaded and shows at least `N` container rows
//! (`0`: anything) and the next frame is painted, the app prints
//! `skiff-desktop: painted <rows> rows at <unix ms>` to stderr. With
//! `SKIFF_DESKTOP_PROBE_CLOSE=S` too, `S` seconds after that paint the app
//! closes its main window as the window's close button would (the app
//! stays in the tray) and prints `skiff-desktop: closed the window at
//! <unix ms>`: the bench then measures the tray-only app. With
//! `SKIFF_DESKTOP_PROBE_SCROLL=PX` too, after that paint the page scrolls
//! the Containers list from top to bottom by `PX` pixels a frame
//! (`requestAnimationFrame`) and the app prints `skiff-desktop: scrolled
//! <px> px in <frames> frames: median <ms> ms, p95 <ms> ms, max <ms> ms,
//! <n> over 50 ms, at most <rows> rows in the DOM; idle frames <ms> ms,
//! style and layout <ms> ms a step (medians)` — the frame times of a
//! scroll through the whole list (stopped after two minutes: `px` then
//! says how far it got), beside those of 60 frames without scrolling just
//! before (the machine's floor) and the style and layout each step costs
//! (forced from script, so painting is not in it). Without the variables nothing happens.
//!
//! "Painted" means: the page has loaded, the Containers table exists and
//! lists at least `N` containers (its `data-count`: a long list is
//! windowed, so fewer rows are in the DOM), at least one row is rendered,
//! and the next frame after that has been painted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tauri::webview::PageLoadEvent;
use tauri::{AppHandle, Listener, Manager, Runtime, Webview};

use crate::window::MAIN_WINDOW;

/// The environment variable that turns the probe on.
pub const ENV: &str = "SKIFF_DESKTOP_PROBE";
/// Seconds after the paint to close the main window (optional).
pub const CLOSE_ENV: &str = "SKIFF_DESKTOP_PROBE_CLOSE";
/// Pixels a frame to scroll the Containers list after the paint (optional).
pub const SCROLL_ENV: &str = "SKIFF_DESKTOP_PROBE_SCROLL";
/// The event the page emits when painted.
const EVENT: &str = "startup-probe";
/// The event the page emits when it has scrolled through the list.
const SCROLL_EVENT: &str = "startup-probe-scroll";
/// The scroll stops here even short of the list's end (the `px` reported
/// then says how far it got).
const SCROLL_LIMIT_MS: u32 = 120_000;

/// The number of rows to wait for, when the probe is on.
pub fn wanted_rows() -> Option<usize> {
    std::env::var(ENV).ok()?.trim().parse().ok()
}

/// Pixels a frame to scroll by after the paint, when asked.
fn scroll_step() -> Option<u32> {
    std::env::var(SCROLL_ENV)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|px| *px > 0)
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
    app.listen_any(SCROLL_EVENT, |event| {
        let p: serde_json::Value = serde_json::from_str(event.payload()).unwrap_or_default();
        eprintln!(
            "skiff-desktop: scrolled {} px in {} frames: median {} ms, p95 {} ms, max {} ms, {} over 50 ms, at most {} rows in the DOM; idle frames {} ms, style and layout {} ms a step (medians)",
            p["px"], p["frames"], p["median"], p["p95"], p["max"], p["slow"], p["rows"], p["idle"], p["layout"]
        );
    });
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
    if let Err(err) = webview.eval(script(rows, scroll_step())) {
        tracing::warn!("installing the startup probe: {err}");
    }
}

/// Waits (frame by frame) for the Containers table to list `rows`
/// containers with a row rendered, then for one more painted frame, then
/// emits the probe event; with `scroll` (px a frame), then scrolls the
/// list to its end and emits the frame times.
fn script(rows: usize, scroll: Option<u32>) -> String {
    let step = scroll.unwrap_or(0);
    format!(
        r#"(function () {{
  const want = {rows};
  const step = {step};
  const emit = function (event, payload) {{
    window.__TAURI_INTERNALS__.invoke('plugin:event|emit', {{ event: event, payload: payload }});
  }};
  const domRows = function () {{
    return document.querySelectorAll('[data-testid="container-row"]').length;
  }};
  function listed() {{
    const table = document.querySelector('[data-testid="container-table"]');
    const count = table ? Number(table.dataset.count || 0) : 0;
    return Math.max(count, domRows());
  }}
  function median(values) {{
    const sorted = values.slice().sort(function (a, b) {{ return a - b; }});
    return sorted.length ? Math.round(sorted[Math.floor(sorted.length / 2)] * 10) / 10 : 0;
  }}
  function scrollThrough() {{
    const box = document.querySelector('[data-testid="container-scroll"]');
    if (!box) return;
    const idle = [];
    const times = [];
    const layouts = [];
    let most = domRows();
    let last = 0;
    let begin = 0;
    function still(now) {{
      if (last) idle.push(now - last);
      last = now;
      if (idle.length < 60) {{
        requestAnimationFrame(still);
      }} else {{
        last = 0;
        requestAnimationFrame(frame);
      }}
    }}
    function frame(now) {{
      if (last) {{
        times.push(now - last);
        const t = performance.now();
        void box.scrollHeight;
        layouts.push(performance.now() - t);
      }} else {{
        begin = now;
      }}
      last = now;
      most = Math.max(most, domRows());
      const bottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 1;
      if (bottom || now - begin > {SCROLL_LIMIT_MS}) {{
        const sorted = times.slice().sort(function (a, b) {{ return a - b; }});
        const at = function (q) {{ return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0; }};
        const ms = function (v) {{ return Math.round(v * 10) / 10; }};
        emit('{SCROLL_EVENT}', {{
          px: Math.round(box.scrollTop), frames: times.length, median: ms(at(0.5)), p95: ms(at(0.95)),
          max: ms(sorted.length ? sorted[sorted.length - 1] : 0),
          slow: times.filter(function (t) {{ return t > 50; }}).length, rows: most,
          idle: median(idle), layout: median(layouts)
        }});
        return;
      }}
      box.scrollTop += step;
      requestAnimationFrame(frame);
    }}
    requestAnimationFrame(still);
  }}
  function check() {{
    const rows = listed();
    if (rows >= want && domRows() > 0 && document.body && document.body.childElementCount > 0) {{
      requestAnimationFrame(function () {{
        emit('{EVENT}', {{ rows: rows, at: Date.now() }});
        if (step > 0) scrollThrough();
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
        let js = script(100, None);
        assert!(js.contains("const want = 100;"));
        assert!(js.contains("const step = 0;"));
        assert!(js.contains("'startup-probe'"));
        let js = script(1000, Some(120));
        assert!(js.contains("const step = 120;"));
        assert!(js.contains("'startup-probe-scroll'"));
    }
}
