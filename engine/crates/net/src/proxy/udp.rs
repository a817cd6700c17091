//! UDP forwarding: a flow (a socket connected to the container) per client.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ActiveGuard;

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// What every flow of one proxy shares.
pub(super) struct Flows {
    /// Where datagrams go.
    pub(super) container: SocketAddr,
    /// A flow with no traffic either way for this long is dropped.
    pub(super) idle: Duration,
    /// Open flows.
    pub(super) active: Arc<AtomicUsize>,
}

/// One client's flow.
struct Flow {
    upstream: UdpSocket,
    epoch: Instant,
    /// Milliseconds from `epoch` to the last datagram either way.
    last_ms: AtomicU64,
    /// Set by the reply loop when it gives up; the flow is then replaced.
    closed: AtomicBool,
}

impl Flow {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Receives from clients until `stop` fires; then every flow is aborted.
pub(super) async fn run(socket: UdpSocket, flows: Flows, mut stop: oneshot::Receiver<()>) {
    let host = Arc::new(socket);
    let mut table: HashMap<SocketAddr, Arc<Flow>> = HashMap::new();
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<SocketAddr>();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(client) = gone_rx.recv() => {
                if table.get(&client).is_some_and(|f| f.closed.load(Ordering::Relaxed)) {
                    table.remove(&client);
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            received = host.recv_from(&mut buf) => {
                let (n, client) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "udp proxy: receive failed");
                        continue;
                    }
                };
                let flow = match table.get(&client) {
                    Some(flow) if !flow.closed.load(Ordering::Relaxed) => Arc::clone(flow),
                    _ => match open_flow(flows.container).await {
                        Ok(flow) => {
                            let guard = ActiveGuard::new(&flows.active);
                            tasks.spawn(reply_loop(
                                Arc::clone(&flow), Arc::clone(&host), client, flows.idle, gone_tx.clone(), guard,
                            ));
                            table.insert(client, Arc::clone(&flow));
                            flow
                        }
                        Err(e) => {
                            tracing::debug!(container = %flows.container, error = %e, "udp proxy: cannot open a flow");
                            continue;
                        }
                    },
                };
                flow.touch();
                if let Err(e) = flow.upstream.send(&buf[..n]).await {
                    tracing::debug!(container = %flows.container, error = %e, "udp proxy: send to the container failed");
                }
            }
        }
    }
}

async fn open_flow(container: SocketAddr) -> io::Result<Arc<Flow>> {
    let any: SocketAddr = if container.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let upstream = UdpSocket::bind(any).await?;
    upstream.connect(container).await?;
    let flow = Flow {
        upstream,
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
        closed: AtomicBool::new(false),
    };
    Ok(Arc::new(flow))
}

/// Sends the container's replies back to `client` until the flow idles out.
async fn reply_loop(
    flow: Arc<Flow>,
    host: Arc<UdpSocket>,
    client: SocketAddr,
    idle: Duration,
    gone: mpsc::UnboundedSender<SocketAddr>,
    _guard: ActiveGuard,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            received = flow.upstream.recv(&mut buf) => match received {
                Ok(n) => {
                    flow.touch();
                    if let Err(e) = host.send_to(&buf[..n], client).await {
                        tracing::debug!(%client, error = %e, "udp proxy: reply to the client failed");
                    }
                }
                // Nothing listens in the container (ICMP port unreachable):
                // keep the flow until it idles out, as docker-proxy does.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => {
                    tracing::debug!(%client, error = %e, "udp proxy: receive from the container failed");
                    break;
                }
            },
            _ = tokio::time::sleep_until(flow.last() + idle) => {
                if flow.last() + idle <= Instant::now() {
                    break;
                }
            }
        }
    }
    flow.closed.store(true, Ordering::Relaxed);
    let _ = gone.send(client);
}
