//! The host's side of [`crate::ports`]: listeners on the host's loopback
//! for the ports the guest publishes.
//!
//! A port published in the guest on no address, a wildcard (`0.0.0.0`,
//! `::`) or a loopback address is forwarded from `127.0.0.1:<port>` and
//! `[::1]:<port>` (when the host has IPv6 loopback) on the host, as Docker
//! Desktop does; docker's usual pair `0.0.0.0:P` + `[::]:P` shares one pair
//! of listeners. Other addresses are not forwarded, and say so. A host
//! port already taken is reported in the [`PortStatus`] and the log, never
//! dropped silently. Listeners close on `unpublish` and when the session
//! ends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::host::Opener;
use crate::pipe::relay;
use crate::ports::{self, PortEvent, PortRequest, Proto, Publication};

/// What the host does for one published port (protocol + port number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// TCP or UDP.
    pub proto: Proto,
    /// The port number, in the guest and on the host.
    pub port: u16,
    /// The guest's publications forwarded here (e.g. `0.0.0.0` and `::`).
    pub publications: Vec<Publication>,
    /// The host addresses listened on.
    pub listening: Vec<SocketAddr>,
    /// Why (part of) it is not forwarded: the host port is taken, the
    /// address is not forwarded, ...
    pub error: Option<String>,
}

/// Forwards the ports the guest publishes, session after session. Its
/// [`PortForwarder::status`] lists what is forwarded now.
#[derive(Debug)]
pub struct PortForwarder {
    status: watch::Sender<Vec<PortStatus>>,
}

impl Default for PortForwarder {
    fn default() -> Self {
        PortForwarder::new()
    }
}

/// The guest address dialled for a forwarded port; shared with its
/// listeners, which read it per connection.
type Target = Arc<Mutex<SocketAddr>>;

/// One forwarded (proto, port).
struct Forward {
    publications: BTreeSet<Publication>,
    target: Target,
    listening: Vec<SocketAddr>,
    error: Option<String>,
    /// The accept loops; dropping them closes the listeners.
    _tasks: JoinSet<()>,
}

impl PortForwarder {
    /// A forwarder with nothing forwarded.
    pub fn new() -> PortForwarder {
        PortForwarder {
            status: watch::Sender::new(Vec::new()),
        }
    }

    /// Watches what is forwarded (every publication, incl. those that
    /// failed, with their error).
    pub fn status(&self) -> watch::Receiver<Vec<PortStatus>> {
        self.status.subscribe()
    }

    /// Serves one session's publications: opens the publication stream and
    /// follows it until it ends; everything forwarded stops when this
    /// returns or is dropped.
    pub(crate) async fn run(&self, opener: Opener) {
        let mut forwards: BTreeMap<(Proto, u16), Forward> = BTreeMap::new();
        let _clear = ClearOnDrop(&self.status);
        let Some(mut stream) = opener.open().await else {
            return;
        };
        if let Err(err) = stream.write_all(ports::PORTS_MAGIC).await {
            tracing::warn!("opening the port publication stream: {err}");
            return;
        }
        let mut lines = tokio::io::BufReader::new(stream);
        loop {
            let line = match ports::read_event_line(&mut lines).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(err) => {
                    tracing::debug!("port publication stream: {err}");
                    break;
                }
            };
            match PortEvent::decode(&line) {
                Some(PortEvent::Publish(p)) => publish(&mut forwards, p, &opener).await,
                Some(PortEvent::Unpublish(p)) => unpublish(&mut forwards, p),
                None => {
                    tracing::debug!("ignoring port publication line {line:?}");
                    continue;
                }
            }
            self.status.send_replace(snapshot(&forwards));
        }
    }
}

/// Clears the status when a session's forwarding ends.
struct ClearOnDrop<'a>(&'a watch::Sender<Vec<PortStatus>>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.send_replace(Vec::new());
    }
}

fn snapshot(forwards: &BTreeMap<(Proto, u16), Forward>) -> Vec<PortStatus> {
    forwards
        .iter()
        .map(|(&(proto, port), f)| PortStatus {
            proto,
            port,
            publications: f.publications.iter().copied().collect(),
            listening: f.listening.clone(),
            error: f.error.clone(),
        })
        .collect()
}

async fn publish(forwards: &mut BTreeMap<(Proto, u16), Forward>, p: Publication, opener: &Opener) {
    if let Some(forward) = forwards.get_mut(&(p.proto, p.port)) {
        forward.publications.insert(p);
        return;
    }
    let target: Target = Arc::new(Mutex::new(p.guest_target()));
    let mut forward = Forward {
        publications: [p].into(),
        target: target.clone(),
        listening: Vec::new(),
        error: None,
        _tasks: JoinSet::new(),
    };
    if !p.forwarded_on_loopback() {
        let why = format!(
            "port {p} is not forwarded to the host: only ports published on 0.0.0.0, :: or a loopback address are"
        );
        tracing::warn!("{why}");
        forward.error = Some(why);
        forwards.insert((p.proto, p.port), forward);
        return;
    }
    let mut errors = Vec::new();
    for ip in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        let addr = SocketAddr::new(ip, p.port);
        match listen(&mut forward._tasks, p.proto, addr, &target, opener).await {
            Ok(()) => forward.listening.push(addr),
            // No IPv6 loopback on this host: IPv4 only.
            Err(err) if ip.is_ipv6() && no_such_address(&err) => {
                tracing::debug!("not forwarding {addr}: {err}");
            }
            Err(err) => {
                tracing::warn!(
                    "forwarding port {p}: cannot listen on {addr}/{}: {err}",
                    p.proto
                );
                errors.push(format!("cannot listen on {addr}/{}: {err}", p.proto));
            }
        }
    }
    if !errors.is_empty() {
        forward.error = Some(errors.join("; "));
    }
    if !forward.listening.is_empty() {
        tracing::info!("forwarding port {p} from {:?}", forward.listening);
    }
    forwards.insert((p.proto, p.port), forward);
}

fn unpublish(forwards: &mut BTreeMap<(Proto, u16), Forward>, p: Publication) {
    let key = (p.proto, p.port);
    let Some(forward) = forwards.get_mut(&key) else {
        return;
    };
    forward.publications.remove(&p);
    match forward.publications.first() {
        Some(other) => {
            if let Ok(mut target) = forward.target.lock() {
                *target = other.guest_target();
            }
        }
        None => {
            forwards.remove(&key);
            tracing::info!("stopped forwarding port {p}");
        }
    }
}

fn no_such_address(err: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if err.raw_os_error() == Some(libc::EAFNOSUPPORT) {
        return true;
    }
    err.kind() == io::ErrorKind::AddrNotAvailable
}

/// Binds `addr` and spawns its accept loop into `tasks`.
async fn listen(
    tasks: &mut JoinSet<()>,
    proto: Proto,
    addr: SocketAddr,
    target: &Target,
    opener: &Opener,
) -> io::Result<()> {
    match proto {
        Proto::Tcp => {
            let listener = TcpListener::bind(addr).await?;
            tasks.spawn(accept_tcp(listener, target.clone(), opener.clone()));
        }
        Proto::Udp => {
            let socket = UdpSocket::bind(addr).await?;
            tasks.spawn(serve_udp(socket, target.clone(), opener.clone()));
        }
    }
    Ok(())
}

fn current(target: &Target) -> Option<SocketAddr> {
    target.lock().ok().map(|t| *t)
}

async fn accept_tcp(listener: TcpListener, target: Target, opener: Opener) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(err) => {
                tracing::debug!("accepting a forwarded connection: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(target) = current(&target) else {
            return;
        };
        let opener = opener.clone();
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Some(mut stream) = opener.open().await else {
                return;
            };
            let request = PortRequest {
                proto: Proto::Tcp,
                target,
            };
            match stream.write_all(&request.encode()).await {
                Ok(()) => relay(client, stream).await,
                Err(err) => tracing::debug!("opening a forwarded connection: {err}"),
            }
        });
    }
}

/// Datagrams queued per UDP flow before new ones are dropped.
const UDP_QUEUE: usize = 64;

async fn serve_udp(socket: UdpSocket, target: Target, opener: Opener) {
    let socket = Arc::new(socket);
    let mut flows: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; ports::MAX_DATAGRAM];
    loop {
        let (n, client) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!("forwarded UDP port: {err}");
                continue;
            }
        };
        let datagram = buf[..n].to_vec();
        if let Some(flow) = flows.get(&client) {
            match flow.try_send(datagram) {
                Ok(()) => continue,
                // A full queue drops the datagram, as a busy network would.
                Err(mpsc::error::TrySendError::Full(_)) => continue,
                Err(mpsc::error::TrySendError::Closed(d)) => {
                    flows.remove(&client);
                    new_flow(&mut flows, client, d, &socket, &target, &opener);
                    continue;
                }
            }
        }
        if flows.len() >= 1024 {
            flows.retain(|_, flow| !flow.is_closed());
        }
        new_flow(&mut flows, client, datagram, &socket, &target, &opener);
    }
}

fn new_flow(
    flows: &mut HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    client: SocketAddr,
    first: Vec<u8>,
    socket: &Arc<UdpSocket>,
    target: &Target,
    opener: &Opener,
) {
    let Some(target) = current(target) else {
        return;
    };
    let (tx, rx) = mpsc::channel(UDP_QUEUE);
    if tx.try_send(first).is_err() {
        return;
    }
    flows.insert(client, tx);
    tokio::spawn(udp_flow(rx, client, socket.clone(), target, opener.clone()));
}

/// One client's UDP flow: its datagrams go to the guest as frames on one
/// stream, the guest's answers back to it; ends when the listener closes,
/// the stream ends, or after [`ports::UDP_IDLE`] without a datagram.
async fn udp_flow(
    mut rx: mpsc::Receiver<Vec<u8>>,
    client: SocketAddr,
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    opener: Opener,
) {
    let Some(stream) = opener.open().await else {
        return;
    };
    let (mut r, mut w) = tokio::io::split(stream);
    let request = PortRequest {
        proto: Proto::Udp,
        target,
    };
    if w.write_all(&request.encode()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; ports::MAX_DATAGRAM];
    loop {
        tokio::select! {
            datagram = rx.recv() => match datagram {
                Some(d) => {
                    if ports::write_datagram(&mut w, &d).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            frame = ports::read_datagram(&mut r, &mut buf) => match frame {
                Ok(Some(n)) => {
                    if let Err(err) = socket.send_to(&buf[..n], client).await {
                        tracing::debug!("UDP answer to {client}: {err}");
                    }
                }
                _ => return,
            },
            _ = tokio::time::sleep(ports::UDP_IDLE) => return,
        }
    }
}
