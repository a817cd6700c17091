//! The embedded DNS server in a network namespace of the test's own (the
//! "container"), queried from inside it with hickory's client over UDP and
//! TCP, forwarding to fake upstream resolvers this test runs on 127.0.0.1:
//! one in the container's namespace (a `--dns` server) and one in the
//! "host" namespace (another fresh namespace the whole test runs in), so no
//! query ever leaves the test's namespaces. Needs root; skipped otherwise.

#[allow(dead_code)] // each test file uses part of the helpers
mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use skiff_net::dns::{self, DnsConfig, Endpoint, NameTable, Upstream};
use skiff_net::link::{Netlink, Rtnl};
use skiff_net::netns::NetNs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Which fake upstream answers: the container's `--dns` one answers
/// `container.test` only and refuses the rest; the host's answers
/// `example.test`, NXDOMAIN for other names, nothing at all for
/// `silent.example.test`, and a TXT set too large for UDP for
/// `big.example.test` (truncated over UDP, whole over TCP).
#[derive(Clone, Copy)]
enum Fake {
    Container,
    Host,
}

const BIG_TXT: usize = 40;

fn fake_answer(who: Fake, q: &Message, tcp: bool) -> Option<Message> {
    let query = q.queries.first()?;
    let name = query.name().to_ascii().to_ascii_lowercase();
    let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
    resp.metadata.recursion_available = true;
    resp.add_queries(q.queries.iter().cloned());
    let a =
        |ip: [u8; 4]| Record::from_rdata(query.name().clone(), 60, RData::A(A(Ipv4Addr::from(ip))));
    match (who, name.as_str()) {
        (Fake::Container, "container.test.") => {
            resp.add_answer(a([192, 0, 2, 2]));
        }
        (Fake::Container, _) => resp.metadata.response_code = ResponseCode::Refused,
        (Fake::Host, "example.test.") => {
            resp.add_answer(a([192, 0, 2, 1]));
        }
        (Fake::Host, "silent.example.test.") => return None,
        (Fake::Host, "big.example.test.") if tcp => {
            for i in 0..BIG_TXT {
                let txt = TXT::new(vec![format!("record {i} {}", "x".repeat(40))]);
                resp.add_answer(Record::from_rdata(
                    query.name().clone(),
                    60,
                    RData::TXT(txt),
                ));
            }
        }
        (Fake::Host, "big.example.test.") => resp.metadata.truncation = true,
        (Fake::Host, _) => resp.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(resp)
}

/// Serves `who` on sockets bound (by the caller, in its namespace) to the
/// same 127.0.0.1 port, on the current runtime, until the test ends.
fn serve_fake(who: Fake, udp: std::net::UdpSocket, tcp: std::net::TcpListener) {
    udp.set_nonblocking(true).expect("nonblocking");
    tcp.set_nonblocking(true).expect("nonblocking");
    let udp = tokio::net::UdpSocket::from_std(udp).expect("udp");
    let tcp = tokio::net::TcpListener::from_std(tcp).expect("tcp");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if let Some(r) = fake_answer(who, &q, false) {
                let _ = udp.send_to(&r.to_vec().expect("encode"), peer).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let Ok(len) = conn.read_u16().await else {
                    return;
                };
                let mut buf = vec![0u8; usize::from(len)];
                if conn.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Ok(q) = Message::from_vec(&buf) else {
                    return;
                };
                if let Some(r) = fake_answer(who, &q, true) {
                    let bytes = r.to_vec().expect("encode");
                    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&bytes);
                    let _ = conn.write_all(&framed).await;
                }
            });
        }
    });
}

fn bind_local() -> (std::net::UdpSocket, std::net::TcpListener) {
    let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp");
    let port = udp.local_addr().expect("addr").port();
    let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind tcp");
    (udp, tcp)
}

const ME: &str = "c0ffee000000aaaa1111";

fn names() -> Arc<NameTable> {
    let t = NameTable::new();
    let ep = |net: &str, id: &str, name: &str, aliases: &[&str], ip: [u8; 4]| {
        let aliases: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
        Endpoint {
            network: net.into(),
            container: id.into(),
            name: name.into(),
            names: Endpoint::dns_names(name, &aliases, id),
            links: Vec::new(),
            addresses: vec![IpAddr::from(ip)],
        }
    };
    let mut me = ep("appnet", ME, "me", &[], [10, 77, 0, 2]);
    me.links = vec![("db-link".into(), "db".into())];
    t.set(me);
    t.set(ep(
        "appnet",
        "1eb1000000000000",
        "web1",
        &["web"],
        [10, 77, 0, 3],
    ));
    t.set(ep(
        "appnet",
        "1eb2000000000000",
        "web2",
        &["web"],
        [10, 77, 0, 4],
    ));
    t.set(ep("appnet", "db00000000000000", "db", &[], [10, 77, 0, 5]));
    t.set(ep(
        "othernet",
        "0e4e000000000000",
        "hidden",
        &[],
        [10, 78, 0, 9],
    ));
    Arc::new(t)
}

type Dns = Client<TokioRuntimeProvider>;

async fn udp_client(server: SocketAddr) -> Dns {
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(10)))
        .build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    tokio::spawn(bg);
    client
}

async fn tcp_client(server: SocketAddr) -> Dns {
    let (stream, sender) = TcpClientStream::new(
        server,
        None,
        Some(Duration::from_secs(10)),
        TokioRuntimeProvider::default(),
    );
    let stream = stream.await.expect("tcp connect to the embedded server");
    let (client, bg) =
        Client::<TokioRuntimeProvider>::with_timeout(stream, sender, Duration::from_secs(10));
    tokio::spawn(bg);
    client
}

async fn ask(client: &mut Dns, name: &str, t: RecordType) -> Message {
    let resp = client
        .query(Name::from_str(name).expect("name"), DNSClass::IN, t)
        .await
        .unwrap_or_else(|e| panic!("query {name} {t}: {e}"));
    let msg: &Message = &resp;
    assert_eq!(msg.metadata.message_type, MessageType::Response);
    msg.clone()
}

fn v4s(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

/// Everything a container sees, queried from inside its namespace.
async fn container_queries(server: SocketAddr) {
    let mut udp = udp_client(server).await;

    // Names, aliases, links, short ids of its network; NOERROR, RA.
    let web1 = ask(&mut udp, "web1.", RecordType::A).await;
    assert_eq!(web1.metadata.response_code, ResponseCode::NoError);
    assert!(web1.metadata.recursion_available);
    assert_eq!(v4s(&web1), vec![ip4("10.77.0.3")]);
    assert_eq!(
        v4s(&ask(&mut udp, "db-link.", RecordType::A).await),
        vec![ip4("10.77.0.5")]
    );
    assert_eq!(
        v4s(&ask(&mut udp, "1eb200000000.", RecordType::A).await),
        vec![ip4("10.77.0.4")]
    );
    assert_eq!(
        v4s(&ask(&mut udp, "web2.appnet.", RecordType::A).await),
        vec![ip4("10.77.0.4")]
    );

    // A scaled alias: both addresses, each first in turn.
    let mut firsts = BTreeSet::new();
    for _ in 0..2 {
        let web = v4s(&ask(&mut udp, "web.", RecordType::A).await);
        assert_eq!(web.len(), 2);
        firsts.insert(web[0]);
    }
    assert_eq!(firsts, BTreeSet::from([ip4("10.77.0.3"), ip4("10.77.0.4")]));

    // Reverse lookup of a container address.
    let ptr = ask(&mut udp, "3.0.77.10.in-addr.arpa.", RecordType::PTR).await;
    match &ptr.answers[0].data {
        RData::PTR(p) => assert_eq!(p.0.to_ascii(), "web1.appnet."),
        other => panic!("{other:?}"),
    }

    // A name on a network it is not attached to is not answered locally:
    // forwarded, and the host's upstream says NXDOMAIN.
    let hidden = ask(&mut udp, "hidden.", RecordType::A).await;
    assert_eq!(hidden.metadata.response_code, ResponseCode::NXDomain);
    assert!(hidden.answers.is_empty());

    // Forwarding: the container-side upstream first, then the host's.
    assert_eq!(
        v4s(&ask(&mut udp, "container.test.", RecordType::A).await),
        vec![ip4("192.0.2.2")]
    );
    assert_eq!(
        v4s(&ask(&mut udp, "example.test.", RecordType::A).await),
        vec![ip4("192.0.2.1")]
    );
    let nx = ask(&mut udp, "nx.example.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    // No upstream answers: SERVFAIL after the timeouts.
    let silent = ask(&mut udp, "silent.example.test.", RecordType::A).await;
    assert_eq!(silent.metadata.response_code, ResponseCode::ServFail);
    // A reply too large for UDP comes truncated over UDP …
    let cut = ask(&mut udp, "big.example.test.", RecordType::TXT).await;
    assert!(cut.metadata.truncation);

    // … and whole over TCP, which answers local names too.
    let mut tcp = tcp_client(server).await;
    let big = ask(&mut tcp, "big.example.test.", RecordType::TXT).await;
    assert!(!big.metadata.truncation);
    assert_eq!(big.answers.len(), BIG_TXT);
    assert_eq!(
        v4s(&ask(&mut tcp, "web1.", RecordType::A).await),
        vec![ip4("10.77.0.3")]
    );
}

/// Runs `f`'s future on a runtime of its own on a thread inside `ns`, while
/// the caller's runtime keeps serving.
async fn inside<F, Fut>(ns: Arc<NetNs>, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    tokio::task::spawn_blocking(move || common::block_on_in(&ns, f))
        .await
        .expect("the container side panicked");
}

#[test]
fn embedded_dns_in_a_container_namespace() {
    if !is_root() {
        eprintln!(
            "skipping embedded_dns_in_a_container_namespace: needs root (network namespaces)"
        );
        return;
    }
    common::in_fresh_netns(|| async {
        // The "host": this fresh namespace, with lo up for its upstream.
        Rtnl::current()
            .expect("netlink")
            .set_up("lo")
            .await
            .expect("lo up");
        let (udp, tcp) = bind_local();
        let host_upstream = udp.local_addr().expect("addr");
        serve_fake(Fake::Host, udp, tcp);

        // The "container": another namespace, lo up, its own upstream.
        let container = Arc::new(NetNs::create().expect("container namespace"));
        Rtnl::in_netns(&container)
            .expect("netlink")
            .set_up("lo")
            .await
            .expect("lo up in the container");
        let (udp, tcp) = container.run(bind_local).expect("enter");
        let container_upstream = udp.local_addr().expect("addr");
        serve_fake(Fake::Container, udp, tcp);

        let mut config = DnsConfig::new(
            ME,
            names(),
            vec![
                Upstream {
                    addr: container_upstream,
                    from_host: false,
                },
                Upstream {
                    addr: host_upstream,
                    from_host: true,
                },
            ],
        );
        config.timeout = Duration::from_millis(500);
        let server = dns::start(Some(&container), config).await.expect("start");
        let addr = server.udp_addr();
        assert_eq!(addr, SocketAddr::from((dns::EMBEDDED_DNS_IP, 53)));
        assert_eq!(server.tcp_addr(), addr);

        inside(container.clone(), move || container_queries(addr)).await;

        // Stopped: nothing listens on 127.0.0.11:53 in the container.
        server.stop().await;
        let refused = container
            .run(move || std::net::TcpStream::connect(addr))
            .expect("enter");
        assert_eq!(
            refused.map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused)
        );
    });
}

#[test]
fn start_brings_lo_up_in_a_fresh_namespace() {
    if !is_root() {
        eprintln!(
            "skipping start_brings_lo_up_in_a_fresh_namespace: needs root (network namespaces)"
        );
        return;
    }
    common::in_fresh_netns(|| async {
        // lo is down in a new namespace: 127.0.0.11 would bind but be
        // unreachable. No upstream: local names only.
        let container = Arc::new(NetNs::create().expect("container namespace"));
        let config = DnsConfig::new(ME, names(), Vec::new());
        let server = dns::start(Some(&container), config).await.expect("start");
        let addr = server.udp_addr();
        inside(container.clone(), move || async move {
            let mut udp = udp_client(addr).await;
            assert_eq!(
                v4s(&ask(&mut udp, "web1.", RecordType::A).await),
                vec![ip4("10.77.0.3")]
            );
            // Nowhere to forward to: SERVFAIL.
            let other = ask(&mut udp, "example.test.", RecordType::A).await;
            assert_eq!(other.metadata.response_code, ResponseCode::ServFail);
        })
        .await;
        drop(server);
    });
}
