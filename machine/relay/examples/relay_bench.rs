//! Figures for `bench/socket.sh`.
//!
//! - `relay_bench local [MIB] [PINGS]`: both relay halves in this process
//!   over a socketpair, with a minimal engine: upload and download
//!   throughput of MIB MiB each, then PINGS `/_ping` round trips, each on a
//!   new connection (one yamux stream each, as the docker CLI's requests).
//! - `relay_bench ping SOCKET PINGS`: the same round trips against a real
//!   engine socket (a machine's `docker.sock`).
//! - `relay_bench concurrent SOCKET N`: N connections open at once, each
//!   sending `/_ping` before any answer is read; how many answered `OK`
//!   and how long the lot took.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("local") => {
            let mib = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
            let pings = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
            local(mib, pings).await;
        }
        Some("ping") if args.len() >= 2 => {
            let pings = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(500);
            report_pings(&ping_many(Path::new(&args[1]), pings).await);
        }
        Some("concurrent") if args.len() >= 2 => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
            concurrent(Path::new(&args[1]), n).await;
        }
        _ => {
            eprintln!(
                "usage: relay_bench local [MIB] [PINGS] | relay_bench ping SOCKET [PINGS] | relay_bench concurrent SOCKET [N]"
            );
            std::process::exit(2);
        }
    }
}

/// The bench engine: `PUT` = count the body to EOF and answer the count;
/// `GET /blob/N` = N bytes; anything else = `/_ping`'s `OK`.
async fn engine(listener: UnixListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut b).await {
                    Ok(1) => head.push(b[0]),
                    _ => return,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            if head.starts_with("PUT") {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                let body = total.to_string();
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            } else if let Some(n) = head
                .strip_prefix("GET /blob/")
                .and_then(|r| r.split(' ').next())
            {
                let n: usize = n.parse().unwrap_or(0);
                let _ = s
                    .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes())
                    .await;
                let chunk = vec![0x5au8; 256 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if s.write_all(&chunk[..k]).await.is_err() {
                        return;
                    }
                    left -= k;
                }
            } else {
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                    )
                    .await;
            }
            let _ = s.shutdown().await;
        });
    }
}

async fn local(mib: usize, pings: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine_path = dir.path().join("engine.sock");
    tokio::spawn(engine(
        UnixListener::bind(&engine_path).expect("bind engine"),
    ));
    let (h, g) = UnixStream::pair().expect("socketpair");
    let ep: PathBuf = engine_path.clone();
    tokio::spawn(async move { skiff_relay::guest::serve(g, &ep).await });
    let sock = dir.path().join("docker.sock");
    tokio::spawn(skiff_relay::host::serve(
        UnixListener::bind(&sock).expect("bind"),
        h,
    ));

    let bytes = mib * 1024 * 1024;
    // Upload.
    let started = Instant::now();
    let mut c = UnixStream::connect(&sock).await.expect("connect");
    c.write_all(b"PUT /upload HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let chunk = vec![0xa5u8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let k = left.min(chunk.len());
        c.write_all(&chunk[..k]).await.expect("write");
        left -= k;
    }
    c.shutdown().await.expect("shutdown");
    let mut answer = String::new();
    c.read_to_string(&mut answer).await.expect("read");
    let up = started.elapsed();
    assert!(answer.ends_with(&bytes.to_string()), "{answer}");
    // Download.
    let started = Instant::now();
    let mut c = UnixStream::connect(&sock).await.expect("connect");
    c.write_all(format!("GET /blob/{bytes} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    while let Ok(n) = c.read(&mut buf).await {
        if n == 0 {
            break;
        }
        total += n;
    }
    let down = started.elapsed();
    assert!(total >= bytes, "short download: {total}");
    println!(
        "relay over a socketpair: upload {:.0} MiB/s, download {:.0} MiB/s ({mib} MiB each)",
        mib as f64 / up.as_secs_f64(),
        mib as f64 / down.as_secs_f64()
    );
    report_pings(&ping_many(&sock, pings).await);
    let direct = ping_many(&engine_path, pings).await;
    print!("without the relay (engine socket directly): ");
    report_pings(&direct);
}

async fn ping_many(socket: &Path, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let mut c = UnixStream::connect(socket).await.expect("connect");
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        c.read_to_end(&mut answer).await.expect("read");
        assert!(
            answer.ends_with(b"OK"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        times.push(started.elapsed());
    }
    times
}

async fn concurrent(socket: &Path, n: usize) {
    let started = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = UnixStream::connect(socket).await.expect("connect");
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        conns.push(c);
    }
    let opened = started.elapsed();
    let readers: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut answer = Vec::new();
                c.read_to_end(&mut answer).await.is_ok() && answer.ends_with(b"OK")
            })
        })
        .collect();
    let mut ok = 0;
    for r in readers {
        if r.await.unwrap_or(false) {
            ok += 1;
        }
    }
    println!(
        "{n} concurrent connections: {ok}/{n} answered OK, all open in {:.1} ms, all answered in {:.1} ms",
        opened.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
}

fn report_pings(times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "/_ping round trips (new connection each): n={} p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs",
        sorted.len(),
        pick(0.5),
        pick(0.9),
        pick(0.99)
    );
}
