//! Opening a container's published port in the user's default browser
//! (through Tauri's opener plugin). Only `http://localhost:<port>` is ever
//! opened: the page names a port, never a URL.

use tauri::{AppHandle, Runtime};
use tauri_plugin_opener::OpenerExt;

use crate::error::{Error, Result};

/// The URL of a port published on this computer
/// ([`skiff_desktop_core::engine::containers::port_url`]).
pub fn port_url(port: u16) -> Result<String> {
    skiff_desktop_core::engine::containers::port_url(port)
        .ok_or_else(|| Error::InvalidRequest("port 0 is not a port".to_string()))
}

/// Opens `http://localhost:<port>` in the default browser.
pub fn open_port<R: Runtime>(app: &AppHandle<R>, port: u16) -> Result<()> {
    let url = port_url(port)?;
    app.opener()
        .open_url(&url, None::<&str>)
        .map_err(|err| Error::Internal(format!("opening {url}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_ports_are_opened() {
        assert_eq!(port_url(8080).expect("a port"), "http://localhost:8080");
        assert_eq!(port_url(0).expect_err("zero").kind(), "invalid_request");
    }
}
