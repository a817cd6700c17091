//! The listeners of one container's embedded DNS server and their tasks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::answer::{self, MAX_TCP, Outcome, Scope};
use super::forward::{self, Sockets, Transport, Upstream};
use super::names::Names;
use super::nsworker::NsWorker;
use crate::link::{LinkError, Netlink, Rtnl};
use crate::netns::NetNs;

/// The address containers on user-defined networks use as their nameserver.
pub const EMBEDDED_DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// How long dockerd waits for each upstream (`extIOTimeout`).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);

/// dockerd's cap on forwarded queries in flight per container
/// (`maxConcurrent`); beyond it a query gets SERVFAIL.
const MAX_FORWARDS: usize = 1024;

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What one container's server answers and where it forwards.
#[derive(Clone)]
pub struct DnsConfig {
    /// The container's id: the requester passed to [`Names`].
    pub container: String,
    /// The names of the container's networks.
    pub names: Arc<dyn Names>,
    /// Where unknown names go, tried in order (dockerd uses the first 3).
    pub upstreams: Vec<Upstream>,
    /// How long each upstream gets.
    pub timeout: Duration,
    /// The container's resolv.conf sets `ndots` itself (see
    /// [`crate::resolvconf::Rendered::ndots_set`]).
    pub ndots_set: bool,
    /// Where to listen, UDP and TCP: `127.0.0.11:53` (port 0: any free
    /// port, the same for both, as a DNAT setup would use).
    pub listen: SocketAddr,
}

impl std::fmt::Debug for DnsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsConfig")
            .field("container", &self.container)
            .field("upstreams", &self.upstreams)
            .field("timeout", &self.timeout)
            .field("ndots_set", &self.ndots_set)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl DnsConfig {
    /// A server for `container` on `127.0.0.11:53` with dockerd's timeout.
    pub fn new(
        container: impl Into<String>,
        names: Arc<dyn Names>,
        upstreams: Vec<Upstream>,
    ) -> Self {
        DnsConfig {
            container: container.into(),
            names,
            upstreams,
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            ndots_set: false,
            listen: SocketAddr::new(IpAddr::V4(EMBEDDED_DNS_IP), 53),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The thread in the container's namespace could not be made.
    #[error("cannot enter the container's network namespace for the embedded DNS server")]
    Namespace(#[source] io::Error),
    /// `lo` could not be brought up in the container's namespace.
    #[error("cannot bring lo up in the container's network namespace for the embedded DNS server")]
    Loopback(#[source] LinkError),
    /// Any other bind failure (a process of the container holds the port).
    #[error("cannot listen on {addr} ({proto}) for the embedded DNS server")]
    Bind {
        /// The listen address.
        addr: SocketAddr,
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The bind error.
        #[source]
        source: io::Error,
    },
}

fn bind_error(addr: SocketAddr, proto: &'static str, source: io::Error) -> DnsError {
    DnsError::Bind {
        addr,
        proto,
        source,
    }
}

type Bound = Result<(std::net::UdpSocket, std::net::TcpListener), DnsError>;

fn bind(listen: SocketAddr) -> Bound {
    let udp = std::net::UdpSocket::bind(listen).map_err(|e| bind_error(listen, "udp", e))?;
    let port = udp
        .local_addr()
        .map_err(|e| bind_error(listen, "udp", e))?
        .port();
    let tcp_addr = SocketAddr::new(listen.ip(), port);
    let tcp = std::net::TcpListener::bind(tcp_addr).map_err(|e| bind_error(tcp_addr, "tcp", e))?;
    udp.set_nonblocking(true)
        .map_err(|e| bind_error(listen, "udp", e))?;
    tcp.set_nonblocking(true)
        .map_err(|e| bind_error(tcp_addr, "tcp", e))?;
    Ok((udp, tcp))
}

/// A running server. Dropping it stops it (listeners closed, queries in
/// flight abandoned); [`DnsHandle::stop`] does the same and waits.
#[derive(Debug)]
pub struct DnsHandle {
    udp: SocketAddr,
    tcp: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsHandle {
    /// The bound UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// Stops the server and waits until its sockets are closed.
    pub async fn stop(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            // Aborted: its future (sockets, connections) is dropped.
            let _ = task.await;
        }
    }
}

impl Drop for DnsHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Shared {
    config: DnsConfig,
    worker: Option<NsWorker>,
    rotation: AtomicUsize,
    forwards: Semaphore,
}

/// Starts a server for `config` on the current tokio runtime.
///
/// With `netns`, `lo` is brought up there if it is not (a fresh namespace's
/// is down, and `127.0.0.11` is reachable only through it), then the
/// listeners are created inside that namespace (the container's), on a thread of the server's own that stays there to make
/// the sockets of `--dns` upstreams; without, in the calling thread's. The
/// server's tasks run on the runtime; upstreams marked
/// [`Upstream::from_host`] are reached from the runtime threads' namespace.
pub async fn start(netns: Option<&NetNs>, config: DnsConfig) -> Result<DnsHandle, DnsError> {
    let listen = config.listen;
    let (worker, (udp, tcp)) = match netns {
        Some(ns) => {
            let nl = Rtnl::in_netns(ns).map_err(DnsError::Loopback)?;
            nl.set_up("lo").await.map_err(DnsError::Loopback)?;
            drop(nl);
            let worker = NsWorker::spawn(ns).map_err(DnsError::Namespace)?;
            let bound = worker
                .run(move || bind(listen))
                .await
                .map_err(DnsError::Namespace)??;
            (Some(worker), bound)
        }
        None => (None, bind(listen)?),
    };
    let udp = UdpSocket::from_std(udp).map_err(|e| bind_error(listen, "udp", e))?;
    let tcp = TcpListener::from_std(tcp).map_err(|e| bind_error(listen, "tcp", e))?;
    let udp_addr = udp.local_addr().map_err(|e| bind_error(listen, "udp", e))?;
    let tcp_addr = tcp.local_addr().map_err(|e| bind_error(listen, "tcp", e))?;
    let shared = Arc::new(Shared {
        config,
        worker,
        rotation: AtomicUsize::new(0),
        forwards: Semaphore::new(MAX_FORWARDS),
    });
    let tasks = vec![
        tokio::spawn(serve_udp(Arc::new(udp), shared.clone())),
        tokio::spawn(serve_tcp(tcp, shared)),
    ];
    Ok(DnsHandle {
        udp: udp_addr,
        tcp: tcp_addr,
        tasks,
    })
}

async fn serve_udp(sock: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut inflight = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            got = sock.recv_from(&mut buf) => {
                let (n, peer) = match got {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "dns: udp receive");
                        continue;
                    }
                };
                let query = buf[..n].to_vec();
                let (sock, shared) = (sock.clone(), shared.clone());
                inflight.spawn(async move {
                    if let Some(reply) = handle(&shared, &query, Transport::Udp).await
                        && let Err(e) = sock.send_to(&reply, peer).await
                    {
                        tracing::debug!(error = %e, %peer, "dns: udp reply");
                    }
                });
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            got = listener.accept() => match got {
                Ok((stream, _)) => {
                    conns.spawn(serve_conn(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "dns: tcp accept");
                    // EMFILE and the like: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let query = match tokio::time::timeout(TCP_IDLE, forward::read_framed(&mut stream)).await {
            Ok(Ok(q)) => q,
            _ => return,
        };
        let Some(reply) = handle(&shared, &query, Transport::Tcp).await else {
            return;
        };
        if forward::write_framed(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}

/// One query's reply bytes; `None` for a message that is not DNS (dropped).
async fn handle(shared: &Shared, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let msg = Message::from_vec(query).ok()?;
    let limit = match transport {
        Transport::Udp => answer::udp_limit(&msg),
        Transport::Tcp => MAX_TCP,
    };
    let tcp = transport == Transport::Tcp;
    let scope = Scope {
        container: &shared.config.container,
        ndots_set: shared.config.ndots_set,
        rotation: shared.rotation.fetch_add(1, Ordering::Relaxed),
    };
    let reply = match answer::answer(&msg, shared.config.names.as_ref(), scope) {
        Outcome::Reply(reply) => reply,
        Outcome::Forward => {
            let forwarded = match shared.forwards.try_acquire() {
                Ok(_permit) => {
                    let sockets = Sockets {
                        container: shared.worker.as_ref(),
                    };
                    forward::forward(
                        query,
                        msg.metadata.id,
                        transport,
                        &shared.config.upstreams,
                        shared.config.timeout,
                        &sockets,
                    )
                    .await
                }
                Err(_) => None,
            };
            match forwarded {
                Some(bytes) if bytes.len() <= limit => return Some(bytes),
                Some(bytes) => Message::from_vec(&bytes)
                    .unwrap_or_else(|_| answer::reply_to(&msg, ResponseCode::ServFail)),
                None => answer::reply_to(&msg, ResponseCode::ServFail),
            }
        }
    };
    match answer::encode_within(reply, limit, tcp) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::debug!(error = %e, "dns: encoding a reply");
            answer::reply_to(&msg, ResponseCode::ServFail).to_vec().ok()
        }
    }
}
