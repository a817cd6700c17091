//! Published ports through a relay session: host and guest halves in one
//! process over an in-memory pipe. The "guest" services listen on
//! 127.0.0.1 at ports of their own; the guest half's redirect maps each
//! published port to its service, since host and "guest" share one network
//! namespace here. All traffic stays on 127.0.0.1.

#![cfg(unix)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use skiff_relay::port_table::{PortChange, PortTable};
use skiff_relay::ports::{Proto, Publication};
use skiff_relay::{GuestPorts, PortForwarder, PortStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Guards against a hang; no assertion depends on it.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no progress in 30 s"),
    }
}

/// A port number free on 127.0.0.1 for TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Vm {
    table: PortTable,
    forwarder: Arc<PortForwarder>,
    status: watch::Receiver<Vec<PortStatus>>,
    guest: JoinHandle<()>,
    host: JoinHandle<()>,
    // Keeps the host's docker.sock acceptor open.
    _conns: mpsc::Sender<UnixStream>,
}

impl Vm {
    /// Host and guest halves over a pipe; `redirect` maps published ports
    /// to the ports the "guest" services listen on.
    fn start(redirect: HashMap<u16, u16>) -> Vm {
        let (h, g) = tokio::io::duplex(1 << 20);
        let table = PortTable::new();
        let ports = GuestPorts {
            table: table.clone(),
            redirect: Some(Arc::new(move |addr: SocketAddr| {
                let port = redirect.get(&addr.port()).copied().unwrap_or(addr.port());
                // The services listen on 127.0.0.1 only (skiffd's proxy for
                // `::` would listen on [::]).
                SocketAddr::from(([127, 0, 0, 1], port))
            })),
        };
        let guest = tokio::spawn(async move {
            let engine = Path::new("/nonexistent/skiff-relay-test/docker.sock");
            let _ = skiff_relay::guest::serve_with_ports(g, engine, ports).await;
        });
        let forwarder = Arc::new(PortForwarder::new());
        let status = forwarder.status();
        let (conns, mut rx) = mpsc::channel::<UnixStream>(1);
        let host = {
            let forwarder = forwarder.clone();
            tokio::spawn(async move {
                let _ = skiff_relay::host::serve_session_with_ports(&mut rx, h, &forwarder).await;
            })
        };
        Vm {
            table,
            forwarder,
            status,
            guest,
            host,
            _conns: conns,
        }
    }

    fn publish(&self, container: &str, ports: Vec<Publication>) {
        self.table.apply(PortChange::Published {
            container: container.into(),
            ports,
        });
    }

    /// Waits until the status of (proto, port) satisfies `pred`.
    async fn wait_port(
        &mut self,
        proto: Proto,
        port: u16,
        pred: impl Fn(Option<&PortStatus>) -> bool,
    ) -> Option<PortStatus> {
        let status = within("port status", async {
            self.status
                .wait_for(|all| pred(all.iter().find(|s| s.proto == proto && s.port == port)))
                .await
                .expect("forwarder alive")
                .clone()
        })
        .await;
        status
            .into_iter()
            .find(|s| s.proto == proto && s.port == port)
    }
}

fn publication(proto: Proto, ip: Option<&str>, port: u16) -> Publication {
    Publication {
        proto,
        host_ip: ip.map(|ip| ip.parse().expect("ip")),
        port,
    }
}

/// A TCP service that reads until EOF, then answers `got <bytes>` and
/// closes.
async fn counting_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut data = Vec::new();
                if conn.read_to_end(&mut data).await.is_ok() {
                    let answer = format!("got {}", String::from_utf8_lossy(&data));
                    let _ = conn.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    port
}

/// A TCP service that greets, shuts its write side down, then reports what
/// it reads until EOF on `heard`.
async fn greeting_server(heard: mpsc::Sender<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let heard = heard.clone();
            tokio::spawn(async move {
                let _ = conn.write_all(b"hello from the guest").await;
                let _ = conn.shutdown().await;
                let mut data = Vec::new();
                let _ = conn.read_to_end(&mut data).await;
                let _ = heard.send(data).await;
            });
        }
    });
    port
}

/// A UDP service echoing every datagram.
async fn udp_echo() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let port = socket.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    port
}

#[tokio::test]
async fn tcp_both_ways_with_half_close_then_unpublish_closes_the_listener() {
    let (heard_tx, mut heard) = mpsc::channel(4);
    let counting = counting_server().await;
    let greeting = greeting_server(heard_tx).await;
    let (p1, p2) = (free_port(), free_port());
    let mut vm = Vm::start([(p1, counting), (p2, greeting)].into());
    // docker's usual pair for `-p P:80`: both share one host listener.
    vm.publish(
        "c1",
        vec![
            publication(Proto::Tcp, Some("0.0.0.0"), p1),
            publication(Proto::Tcp, Some("::"), p1),
            publication(Proto::Tcp, Some("127.0.0.1"), p2),
        ],
    );
    let s1 = vm
        .wait_port(Proto::Tcp, p1, |s| {
            s.is_some_and(|s| s.publications.len() == 2)
        })
        .await
        .expect("status");
    assert_eq!(s1.error, None, "{s1:?}");
    let v4: SocketAddr = ([127, 0, 0, 1], p1).into();
    assert!(s1.listening.contains(&v4), "{s1:?}");
    vm.wait_port(Proto::Tcp, p2, |s| s.is_some()).await;

    // Client → guest half-close: the service sees EOF and still answers.
    for addr in &s1.listening {
        let mut conn = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        conn.write_all(b"ping pong").await.expect("write");
        conn.shutdown().await.expect("shutdown");
        let mut answer = String::new();
        within("answer", conn.read_to_string(&mut answer))
            .await
            .expect("read");
        assert_eq!(answer, "got ping pong", "through {addr}");
    }

    // Guest → client half-close: the client reads EOF and still writes.
    let mut conn = within("connect", TcpStream::connect(("127.0.0.1", p2)))
        .await
        .expect("connect");
    let mut greeting_text = String::new();
    within("greeting", conn.read_to_string(&mut greeting_text))
        .await
        .expect("read");
    assert_eq!(greeting_text, "hello from the guest");
    conn.write_all(b"still talking")
        .await
        .expect("write after EOF");
    conn.shutdown().await.expect("shutdown");
    let got = within("heard", heard.recv()).await.expect("heard");
    assert_eq!(got, b"still talking");

    // Unpublishing one of the pair keeps the listener; the container's end
    // closes it.
    vm.publish(
        "c1",
        vec![
            publication(Proto::Tcp, Some("::"), p1),
            publication(Proto::Tcp, Some("127.0.0.1"), p2),
        ],
    );
    vm.wait_port(Proto::Tcp, p1, |s| {
        s.is_some_and(|s| s.publications.len() == 1)
    })
    .await;
    let mut conn = TcpStream::connect(v4).await.expect("still forwarded");
    conn.write_all(b"x").await.expect("write");
    conn.shutdown().await.expect("shutdown");
    let mut answer = String::new();
    within("answer", conn.read_to_string(&mut answer))
        .await
        .expect("read");
    assert_eq!(answer, "got x");

    vm.table.apply(PortChange::Gone {
        container: "c1".into(),
    });
    vm.wait_port(Proto::Tcp, p1, |s| s.is_none()).await;
    vm.wait_port(Proto::Tcp, p2, |s| s.is_none()).await;
    let refused = TcpStream::connect(v4).await;
    assert!(refused.is_err(), "{p1} still listens after unpublish");
    vm.guest.abort();
    vm.host.abort();
}

#[tokio::test]
async fn udp_datagrams_both_ways_per_client() {
    let echo = udp_echo().await;
    let port = free_port();
    let mut vm = Vm::start([(port, echo)].into());
    vm.publish("c1", vec![publication(Proto::Udp, None, port)]);
    let status = vm
        .wait_port(Proto::Udp, port, |s| s.is_some())
        .await
        .expect("status");
    assert_eq!(status.error, None, "{status:?}");
    let mut clients = Vec::new();
    for _ in 0..2 {
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        client.connect(("127.0.0.1", port)).await.expect("connect");
        clients.push(client);
    }
    let mut buf = vec![0u8; 65536];
    for round in 0..3 {
        for (i, client) in clients.iter().enumerate() {
            let message = format!("client {i} round {round}");
            client.send(message.as_bytes()).await.expect("send");
            let n = within("udp answer", client.recv(&mut buf))
                .await
                .expect("recv");
            assert_eq!(&buf[..n], message.as_bytes());
        }
    }
    // A large datagram keeps its boundary.
    let big = vec![0x5a; 60_000];
    clients[0].send(&big).await.expect("send");
    let n = within("udp answer", clients[0].recv(&mut buf))
        .await
        .expect("recv");
    assert_eq!(&buf[..n], &big[..]);

    vm.table.apply(PortChange::Gone {
        container: "c1".into(),
    });
    vm.wait_port(Proto::Udp, port, |s| s.is_none()).await;
    // The host port is free again.
    within("rebind", async {
        loop {
            if UdpSocket::bind(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    vm.guest.abort();
    vm.host.abort();
}

#[tokio::test]
async fn a_taken_host_port_is_reported_and_other_addresses_are_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let other = free_port();
    let mut vm = Vm::start(HashMap::new());
    vm.publish(
        "c1",
        vec![
            publication(Proto::Tcp, Some("0.0.0.0"), port),
            publication(Proto::Tcp, Some("10.0.2.15"), other),
        ],
    );
    let status = vm
        .wait_port(Proto::Tcp, port, |s| s.is_some())
        .await
        .expect("status");
    let error = status.error.clone().expect("a taken port is reported");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(
        !status.listening.contains(&([127, 0, 0, 1], port).into()),
        "{status:?}"
    );
    let status = vm
        .wait_port(Proto::Tcp, other, |s| s.is_some())
        .await
        .expect("status");
    let error = status
        .error
        .clone()
        .expect("a non-loopback address is reported");
    assert!(error.contains("10.0.2.15"), "{error}");
    assert!(status.listening.is_empty(), "{status:?}");
    drop(taken);
    vm.guest.abort();
    vm.host.abort();
}

#[tokio::test]
async fn the_end_of_the_session_closes_every_listener() {
    let counting = counting_server().await;
    let port = free_port();
    let mut vm = Vm::start([(port, counting)].into());
    vm.publish("c1", vec![publication(Proto::Tcp, None, port)]);
    vm.wait_port(Proto::Tcp, port, |s| s.is_some()).await;
    // The VM goes away: the pipe closes under both halves.
    vm.guest.abort();
    within("host session end", &mut vm.host)
        .await
        .expect("host");
    assert!(vm.forwarder.status().borrow().is_empty());
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}
