//! The userland port proxy: what `docker-proxy` does for one published port.
//!
//! [`start`] binds the host address at once (so a taken port fails the
//! `docker run` before anything else is created, with dockerd's wording) and
//! spawns a task on the current tokio runtime that forwards:
//! - TCP: each accepted connection to a new connection to the
//!   container address; bytes are copied both ways and a half-close (EOF) in
//!   one direction is passed on as a write shutdown on the other side, while
//!   the other direction keeps flowing;
//! - UDP: each client address gets its own flow (a socket
//!   connected to the container address); replies go back to that client
//!   from the published address; a flow with no traffic either way for the
//!   idle timeout is dropped.
//!
//! The listener being a real socket is what makes the port visible in
//! `/proc/net/tcp`, which the VM and WSL2 forwarding watch.
//!
//! [`ProxyHandle::stop`] closes the listener and every forwarded
//! connection/flow; dropping the handle does the same without waiting.

mod splice;
mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Protocol;

/// dockerd's UDP conntrack timeout for docker-proxy flows.
pub const DEFAULT_UDP_IDLE: Duration = Duration::from_secs(90);

/// One published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxySpec {
    /// tcp or udp.
    pub protocol: Protocol,
    /// Where to listen on the host (`0.0.0.0:8080`, `127.0.0.1:8080`).
    pub host: SocketAddr,
    /// Where to forward to (the container's address and port).
    pub container: SocketAddr,
    /// UDP only: how long a client's flow lives without traffic.
    pub udp_idle: Duration,
}

impl ProxySpec {
    /// A spec with dockerd's UDP idle timeout.
    pub fn new(protocol: Protocol, host: SocketAddr, container: SocketAddr) -> Self {
        ProxySpec {
            protocol,
            host,
            container,
            udp_idle: DEFAULT_UDP_IDLE,
        }
    }
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The host port is in use by another socket. The text is dockerd's.
    #[error("Error starting userland proxy: listen {net} {addr}: bind: address already in use")]
    AddressInUse {
        /// `tcp4`, `udp4`, `tcp6`, `udp6`, as Go names them.
        net: &'static str,
        /// The host address.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// Any other bind failure (address not on this host, permission).
    #[error("Error starting userland proxy: listen {net} {addr}: bind: {source}")]
    Bind {
        /// `tcp4`, `udp4`, `tcp6`, `udp6`.
        net: &'static str,
        /// The host address.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
}

impl ProxyError {
    fn from_bind(protocol: Protocol, addr: SocketAddr, source: io::Error) -> Self {
        let net = match (protocol, addr.is_ipv4()) {
            (Protocol::Tcp, true) => "tcp4",
            (Protocol::Tcp, false) => "tcp6",
            (Protocol::Udp, true) => "udp4",
            (Protocol::Udp, false) => "udp6",
        };
        if source.kind() == io::ErrorKind::AddrInUse {
            ProxyError::AddressInUse { net, addr, source }
        } else {
            ProxyError::Bind { net, addr, source }
        }
    }
}

/// A running proxy. Stops (closing the listener and every forwarded
/// connection) on [`ProxyHandle::stop`] or when dropped.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    active: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The bound host address (the real port when the spec asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Forwarded TCP connections or UDP flows open right now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Stops the proxy and waits until the listener is closed and every
    /// forwarded connection is torn down.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The task ends on the signal; a panic in it has nothing to undo.
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `spec.host` and starts forwarding on the current tokio runtime.
///
/// Must be called within a tokio runtime. Errors only at bind time; later
/// failures (the container refusing a connection) close that one client
/// connection and are logged.
pub async fn start(spec: ProxySpec) -> Result<ProxyHandle, ProxyError> {
    let active = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (local_addr, task) = match spec.protocol {
        Protocol::Tcp => {
            let listener = tokio::net::TcpListener::bind(spec.host)
                .await
                .map_err(|e| ProxyError::from_bind(spec.protocol, spec.host, e))?;
            let local = listener
                .local_addr()
                .map_err(|e| ProxyError::from_bind(spec.protocol, spec.host, e))?;
            (
                local,
                tokio::spawn(tcp::run(
                    listener,
                    spec.container,
                    Arc::clone(&active),
                    stop_rx,
                )),
            )
        }
        Protocol::Udp => {
            let socket = tokio::net::UdpSocket::bind(spec.host)
                .await
                .map_err(|e| ProxyError::from_bind(spec.protocol, spec.host, e))?;
            let local = socket
                .local_addr()
                .map_err(|e| ProxyError::from_bind(spec.protocol, spec.host, e))?;
            let flows = udp::Flows {
                container: spec.container,
                idle: spec.udp_idle,
                active: Arc::clone(&active),
            };
            (local, tokio::spawn(udp::run(socket, flows, stop_rx)))
        }
    };
    Ok(ProxyHandle {
        local_addr,
        active,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// Counts one open connection/flow for as long as it lives.
struct ActiveGuard(Arc<AtomicUsize>);

impl ActiveGuard {
    fn new(active: &Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(Arc::clone(active))
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
