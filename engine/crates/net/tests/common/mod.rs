//! Runs a test inside a network namespace of its own, so nothing it does
//! (links, addresses, routes, nftables tables, sysctls) reaches the host's.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use skiff_net::netns::NetNs;

/// Runs `f` on a current-thread runtime, on a thread that lives in a fresh
/// network namespace. Child processes (`nft`) inherit that namespace.
pub fn in_fresh_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = ()>,
{
    let ns = NetNs::create().expect("a private network namespace (run the tests as root)");
    block_on_in(&ns, f);
}

/// Runs `f`'s future to completion on a current-thread runtime of its own,
/// on a thread inside `ns`.
pub fn block_on_in<F, Fut>(ns: &NetNs, f: F)
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = ()>,
{
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    })
    .expect("enter the namespace");
}

/// `net.ipv4.ip_forward=1` in the calling thread's namespace, written by a
/// child process so it cannot be the host's.
pub fn enable_ip_forward() {
    let status = Command::new("sh")
        .args(["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
        .status()
        .expect("sh");
    assert!(status.success());
}

/// A listener inside `ns` on `ip` (an address the test gave that namespace),
/// answering each connection's first line with `reply`.
pub fn serve_in(ns: &NetNs, ip: Ipv4Addr, port: u16, reply: &'static [u8]) -> SocketAddr {
    serve_in_with(ns, ip, port, move |_| reply.to_vec())
}

/// A listener inside `ns` on `ip:port` that reads each connection's first
/// 4 bytes, then writes `answer(connection)` and closes it.
pub fn serve_in_with(
    ns: &NetNs,
    ip: Ipv4Addr,
    port: u16,
    answer: impl Fn(&TcpStream) -> Vec<u8> + Send + 'static,
) -> SocketAddr {
    let listener = ns
        .run(|| TcpListener::bind((ip, port)))
        .expect("enter")
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut buf = [0u8; 4];
            if conn.read_exact(&mut buf).is_ok() {
                let _ = conn.write_all(&answer(&conn));
            }
        }
    });
    addr
}

/// Connects from `ns` (or the calling thread's namespace) to `to`, sends
/// four bytes and returns the reply, or the error.
pub fn exchange(ns: Option<&NetNs>, to: SocketAddr, timeout: Duration) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let connect = || TcpStream::connect_timeout(&to, timeout);
    let mut stream = match ns {
        Some(ns) => ns.run(connect).expect("enter")?,
        None => connect()?,
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"ping")?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(reply)
}
