//! The engine port: the host's docker clients reach skiffd's socket through
//! a relay session (`skiff_relay::guest::serve`) over the `skiff.engine`
//! virtio-serial port (QEMU) or vsock port 1024 (Virtualization.framework).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::say;
use crate::supervisor::ENGINE_SOCKET;
use crate::vport;
use crate::vsock::VsockListener;

/// Serves the virtio-serial port forever: one relay session per host
/// connection; when the host goes away the port is reopened.
pub async fn serve_virtio(device: PathBuf) {
    let socket = Path::new(ENGINE_SOCKET);
    loop {
        if let Err(e) = vport::wait_host(&device).await {
            say!("engine port: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        match skiff_relay::serial::SerialPort::open(&device) {
            Ok(port) => {
                if let Err(e) = skiff_relay::guest::serve(port, socket).await {
                    say!("engine port: {e}");
                }
            }
            Err(e) => say!("engine port: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serves vsock connections forever, one session at a time: a new
/// connection (a host that came back) replaces the current session.
pub async fn serve_vsock(listener: VsockListener) {
    let mut current: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        match listener.accept().await {
            Ok(conn) => {
                if let Some(old) = current.take() {
                    old.abort();
                }
                current = Some(tokio::spawn(async move {
                    if let Err(e) = skiff_relay::guest::serve(conn, Path::new(ENGINE_SOCKET)).await
                    {
                        say!("engine vsock: {e}");
                    }
                }));
            }
            Err(e) => {
                say!("engine vsock: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
