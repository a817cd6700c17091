//! The engine port: the host's docker clients reach skiffd's socket through
//! a relay session (`skiff_relay::guest::serve`) over the `skiff.engine`
//! virtio-serial port (QEMU) or vsock port 1024 (Virtualization.framework).

use std::path::{Path, PathBuf};

use crate::say;
use crate::supervisor::ENGINE_SOCKET;
use crate::vport;
use crate::vsock::VsockListener;

/// Serves the virtio-serial port forever: one relay session per host
/// connection; when the host goes away the port is reopened.
pub async fn serve_virtio(device: PathBuf) {
    vport::serve_forever(&device, "engine port", |port| async move {
        if let Err(e) = skiff_relay::guest::serve(port, Path::new(ENGINE_SOCKET)).await {
            say!("engine port: {e}");
        }
    })
    .await
}

/// Serves vsock connections forever, one session at a time: a new
/// connection (a host that came back) replaces the current session.
pub async fn serve_vsock(listener: VsockListener) {
    listener
        .serve_latest("engine vsock", |conn| async move {
            if let Err(e) = skiff_relay::guest::serve(conn, Path::new(ENGINE_SOCKET)).await {
                say!("engine vsock: {e}");
            }
        })
        .await
}
