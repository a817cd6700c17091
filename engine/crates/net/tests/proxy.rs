//! The userland proxy on 127.0.0.1: both the listener and the backends are
//! ports these tests open there.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use skiff_net::Protocol;
use skiff_net::proxy::{self, ProxyError, ProxySpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// An echo backend: writes back whatever it reads, closes after EOF.
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind(LOCAL).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn tcp_proxy_to(backend: SocketAddr) -> proxy::ProxyHandle {
    proxy::start(ProxySpec::new(Protocol::Tcp, LOCAL, backend))
        .await
        .expect("proxy")
}

#[tokio::test]
async fn tcp_bytes_round_trip() {
    let proxy = tcp_proxy_to(echo_backend().await).await;
    let mut client = TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = client.split();
    let send = async {
        w.write_all(&payload).await.expect("write");
        w.shutdown().await.expect("shutdown");
    };
    let mut back = Vec::new();
    let recv = r.read_to_end(&mut back);
    let ((), read) = tokio::join!(send, recv);
    read.expect("read");
    assert!(
        back == payload,
        "{} bytes back of {}",
        back.len(),
        payload.len()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn client_half_close_reaches_the_backend_and_replies_still_flow() {
    // The backend answers only once it has seen the client's EOF.
    let listener = TcpListener::bind(LOCAL).await.expect("bind");
    let backend = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.expect("read to EOF");
        conn.write_all(format!("got {} bytes", got.len()).as_bytes())
            .await
            .expect("reply");
    });
    let proxy = tcp_proxy_to(backend).await;
    let mut client = TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    client.write_all(b"hello world").await.expect("write");
    client.shutdown().await.expect("half-close");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut reply))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(reply, "got 11 bytes");
}

#[tokio::test]
async fn backend_half_close_reaches_the_client_and_the_client_can_still_send() {
    let listener = TcpListener::bind(LOCAL).await.expect("bind");
    let backend = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        conn.write_all(b"banner").await.expect("banner");
        conn.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.expect("read");
        let _ = tx.send(got);
    });
    let proxy = tcp_proxy_to(backend).await;
    let mut client = TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    let mut banner = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut banner))
        .await
        .expect("EOF")
        .expect("read");
    assert_eq!(banner, b"banner");
    client.write_all(b"after EOF").await.expect("write");
    client.shutdown().await.expect("shutdown");
    let got = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("in time")
        .expect("backend");
    assert_eq!(got, b"after EOF");
}

#[tokio::test]
async fn many_connections_at_once() {
    let proxy = tcp_proxy_to(echo_backend().await).await;
    let addr = proxy.local_addr();
    let clients = (0..64u32).map(|i| {
        tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            let msg = format!("client {i} says hi");
            c.write_all(msg.as_bytes()).await.expect("write");
            c.shutdown().await.expect("shutdown");
            let mut back = String::new();
            c.read_to_string(&mut back).await.expect("read");
            assert_eq!(back, msg);
        })
    });
    for c in clients {
        c.await.expect("client");
    }
    // Every forwarded connection is closed once both sides are done.
    for _ in 0..50 {
        if proxy.active() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.active(), 0);
}

#[tokio::test]
async fn stop_closes_the_listener_and_open_connections() {
    let proxy = tcp_proxy_to(echo_backend().await).await;
    let addr = proxy.local_addr();
    let mut open = TcpStream::connect(addr).await.expect("connect");
    open.write_all(b"x").await.expect("write");
    let mut one = [0u8; 1];
    open.read_exact(&mut one).await.expect("echo");
    proxy.stop().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), open.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    assert!(
        n.map(|n| n == 0).unwrap_or(true),
        "the forwarded connection is closed"
    );
}

#[tokio::test]
async fn a_taken_port_fails_with_dockerds_wording() {
    let taken = std::net::TcpListener::bind(LOCAL).expect("bind");
    let addr = taken.local_addr().expect("addr");
    let err = proxy::start(ProxySpec::new(Protocol::Tcp, addr, LOCAL))
        .await
        .expect_err("taken");
    assert!(matches!(err, ProxyError::AddressInUse { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "Error starting userland proxy: listen tcp4 127.0.0.1:{}: bind: address already in use",
            addr.port()
        )
    );
    let taken_udp = std::net::UdpSocket::bind(LOCAL).expect("bind");
    let addr = taken_udp.local_addr().expect("addr");
    let err = proxy::start(ProxySpec::new(Protocol::Udp, addr, LOCAL))
        .await
        .expect_err("taken");
    assert_eq!(
        err.to_string(),
        format!(
            "Error starting userland proxy: listen udp4 127.0.0.1:{}: bind: address already in use",
            addr.port()
        )
    );
}

/// Sends `msg` to the proxy at `target` and returns the reply.
async fn ask(client: &UdpSocket, target: SocketAddr, msg: &[u8]) -> Vec<u8> {
    client.send_to(msg, target).await.expect("send");
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("reply")
        .expect("recv");
    assert_eq!(from, target, "replies come from the published address");
    buf[..n].to_vec()
}

#[tokio::test]
async fn udp_echo_per_client_flows_and_idle_timeout() {
    let backend = UdpSocket::bind(LOCAL).await.expect("bind");
    let backend_addr = backend.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = backend.recv_from(&mut buf).await {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = backend.send_to(&reply, from).await;
        }
    });
    let spec = ProxySpec {
        udp_idle: Duration::from_millis(300),
        ..ProxySpec::new(Protocol::Udp, LOCAL, backend_addr)
    };
    let proxy = proxy::start(spec).await.expect("proxy");
    let target = proxy.local_addr();

    let one = UdpSocket::bind(LOCAL).await.expect("client 1");
    let two = UdpSocket::bind(LOCAL).await.expect("client 2");
    assert_eq!(ask(&one, target, b"a").await, b"echo:a");
    assert_eq!(ask(&two, target, b"b").await, b"echo:b");
    assert_eq!(ask(&one, target, b"c").await, b"echo:c");
    assert_eq!(proxy.active(), 2, "one flow per client");

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(proxy.active(), 0, "idle flows are dropped");
    assert_eq!(
        ask(&one, target, b"d").await,
        b"echo:d",
        "a new flow after the idle timeout"
    );
    proxy.stop().await;
}
