//! The engine port: the host's docker clients reach skiffd's socket through
//! a relay session (`skiff_relay::guest::serve_with_ports`) over the
//! `skiff.engine` virtio-serial port (QEMU) or vsock port 1024
//! (Virtualization.framework); the same session tells the host which ports
//! are published ([`crate::ports`]) and carries their connections.

use std::path::{Path, PathBuf};

use skiff_relay::GuestPorts;

use crate::say;
use crate::supervisor::ENGINE_SOCKET;
use crate::vport;
use crate::vsock::VsockListener;

/// Serves the virtio-serial port forever: one relay session per host
/// connection; when the host goes away the port is reopened.
pub async fn serve_virtio(device: PathBuf, ports: GuestPorts) {
    vport::serve_forever(&device, "engine port", |port| {
        let ports = ports.clone();
        async move {
            let engine = Path::new(ENGINE_SOCKET);
            if let Err(e) = skiff_relay::guest::serve_with_ports(port, engine, ports).await {
                say!("engine port: {e}");
            }
        }
    })
    .await
}

/// Serves vsock connections forever, one session at a time: a new
/// connection (a host that came back) replaces the current session.
pub async fn serve_vsock(listener: VsockListener, ports: GuestPorts) {
    listener
        .serve_latest("engine vsock", |conn| {
            let ports = ports.clone();
            async move {
                let engine = Path::new(ENGINE_SOCKET);
                if let Err(e) = skiff_relay::guest::serve_with_ports(conn, engine, ports).await {
                    say!("engine vsock: {e}");
                }
            }
        })
        .await
}
