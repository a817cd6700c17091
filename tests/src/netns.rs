//! The network namespace a test's skiffd runs in.
//!
//! [`TestNetns::new`] makes an empty network namespace (loopback up) held
//! by a file descriptor of the test process; [`crate::Skiffd`] starts its
//! daemon inside it (`setns` before `exec`), so the daemon's bridges, veths,
//! nftables table and published ports never reach the host's namespace,
//! and the namespace dies with the last of the descriptor, the daemon and
//! its containers.
//!
//! Tests reach into it with [`TestNetns::tcp_connect`] /
//! [`TestNetns::udp_socket`] (the socket is made on a thread that entered
//! the namespace, and keeps it) and [`TestNetns::run`]. The daemon reaches
//! host services (registries on the host's `127.0.0.1`) through
//! [`TestNetns::forward`]: a listener on the namespace's
//! `127.0.0.1:PORT` whose connections are relayed to the host's.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use skiff_net::netns::NetNs;

use crate::error::{HarnessError, IoContext, Result};

/// Makes `cmd`'s child enter `ns` before it execs. The caller keeps `ns`
/// alive until the child has been spawned.
pub fn enter_before_exec<'c>(cmd: &'c mut Command, ns: &TestNetns) -> &'c mut Command {
    let fd = ns.raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls are made:
    // setns(2) on a descriptor the parent keeps open until the child has
    // exec'd (the caller holds `ns` across the spawn).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }
}

/// A network namespace of one test daemon, and the relays into it.
#[derive(Debug)]
pub struct TestNetns {
    ns: NetNs,
    stop: Arc<AtomicBool>,
    relays: Vec<JoinHandle<()>>,
}

impl TestNetns {
    /// A new namespace with `lo` up.
    pub fn new() -> Result<TestNetns> {
        let ns = NetNs::create().map_err(|e| HarnessError::Io {
            what: "creating a network namespace".into(),
            source: io::Error::other(e),
        })?;
        let status = ns
            .run(|| {
                Command::new("ip")
                    .args(["link", "set", "lo", "up"])
                    .status()
            })
            .map_err(|e| HarnessError::Io {
                what: "entering the network namespace".into(),
                source: io::Error::other(e),
            })?
            .io_context(|| "running ip link set lo up".to_string())?;
        if !status.success() {
            return Err(HarnessError::Io {
                what: "ip link set lo up".into(),
                source: io::Error::other(format!("exited with {status}")),
            });
        }
        Ok(TestNetns {
            ns,
            stop: Arc::new(AtomicBool::new(false)),
            relays: Vec::new(),
        })
    }

    /// The namespace handle (its fd is what a child `setns`es into).
    pub fn handle(&self) -> &NetNs {
        &self.ns
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match self.ns.run(f) {
            Ok(v) => v,
            Err(e) => panic!("entering the test network namespace: {e}"),
        }
    }

    /// A descriptor of the namespace, for `setns` in a child.
    fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&self.ns))
    }

    /// A TCP connection, made inside the namespace, to `addr`.
    pub fn tcp_connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.run(|| TcpStream::connect_timeout(&addr, Duration::from_secs(10)))
    }

    /// A UDP socket bound inside the namespace to `addr`.
    pub fn udp_socket(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        self.run(|| UdpSocket::bind(addr))
    }

    /// A TCP listener bound inside the namespace to `addr`.
    pub fn tcp_listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        self.run(|| TcpListener::bind(addr))
    }

    /// A TCP port free on `ip` inside the namespace (bound, then released).
    ///
    /// # Panics
    /// If no port can be bound: the namespace is unusable for the test.
    pub fn free_port(&self, ip: Ipv4Addr) -> u16 {
        self.tcp_listen(SocketAddr::from((ip, 0)))
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("a free port on {ip} in the test namespace: {e}"))
            .port()
    }

    /// The whole response (status line, headers, body) to `GET path` over
    /// HTTP/1.0 on `addr` inside the namespace, retried while the server is
    /// starting (refused, reset, or not yet `200 OK`) for up to 20 s.
    ///
    /// # Panics
    /// If no `200 OK` arrives in time, with the last attempt's outcome.
    pub fn http_get_ok(&self, addr: SocketAddr, path: &str) -> String {
        use std::io::{Read, Write};
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let attempt = self.tcp_connect(addr).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            });
            match attempt {
                Ok(out) if out.contains("200 OK") => return out,
                other if std::time::Instant::now() >= deadline => {
                    panic!("GET {addr}{path}: {other:?}")
                }
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Makes the host's `127.0.0.1:port` reachable at the namespace's
    /// `127.0.0.1:port` (a relay thread until drop).
    pub fn forward(&mut self, port: u16) -> Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = self
            .tcp_listen(addr)
            .io_context(|| format!("listening on {addr} in the test network namespace"))?;
        listener
            .set_nonblocking(true)
            .io_context(|| "making the relay listener non-blocking".to_string())?;
        let stop = self.stop.clone();
        self.relays.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inside, _)) => {
                        let _ = inside.set_nonblocking(false);
                        if let Ok(outside) = TcpStream::connect(addr) {
                            relay(inside, outside);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        }));
        Ok(())
    }
}

/// Copies both ways on two threads; an EOF is passed on as a write shutdown.
fn relay(a: TcpStream, b: TcpStream) {
    let pipe = |from: TcpStream, to: TcpStream| {
        thread::spawn(move || {
            let (mut r, mut w) = (&from, &to);
            let _ = io::copy(&mut r, &mut w);
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    if let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) {
        pipe(a, b2);
        pipe(b, a2);
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.relays.drain(..) {
            let _ = t.join();
        }
    }
}

/// The `127.0.0.1:PORT` / `localhost:PORT` ports named in `text` (registry
/// URLs and hosts the daemon is given).
pub fn loopback_ports(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for prefix in ["127.0.0.1:", "localhost:"] {
        for (i, _) in text.match_indices(prefix) {
            let digits: String = text[i + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(port) = digits.parse::<u16>()
                && !out.contains(&port)
            {
                out.push(port);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_loopback_ports() {
        assert_eq!(
            loopback_ports(
                r#"{"registry-mirrors": ["http://127.0.0.1:5001"]} localhost:77 127.0.0.1:5001"#
            ),
            vec![5001, 77]
        );
    }
}
