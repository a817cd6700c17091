//! The host's relay session (`skiff_relay::host::serve_session`) fed a
//! hostile guest's yamux input: the guest answers the handshake properly
//! (it knows the nonce: it reads the host's HELLO), then writes whatever
//! the fuzzer gives — frames for streams the host opened, streams of its
//! own, pings, window updates, go-aways, garbage — in any chunking, while
//! up to three host connections are being relayed. The session must end
//! (with a result or an error) once the guest's bytes end: never a panic,
//! never a hang.
//!
//! Input: byte 0 = host connections (low 2 bits, 0–3) and the chunk size
//! of the guest's writes (high 6 bits + 1); the rest is what the guest
//! writes after the handshake.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use skiff_relay::handshake::MAGIC;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest a session may take to end after the guest's EOF (a hang bound,
/// far above the milliseconds it takes; under libFuzzer's own 10 s timeout).
const BOUND: Duration = Duration::from_secs(8);

/// Plays the guest: answers the handshake, writes `hostile` in `chunk`-byte
/// writes, then closes its side; drains what the host writes meanwhile.
async fn guest(port: tokio::io::DuplexStream, hostile: Vec<u8>, chunk: usize) {
    let (r, mut w) = tokio::io::split(port);
    let mut r = BufReader::new(r);
    let hello = format!("{MAGIC} HELLO ");
    let start = format!("{MAGIC} START ");
    let mut line = String::new();
    // HELLO <nonce> → OK <nonce>; then wait for START.
    let nonce = loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if let Some(nonce) = line.trim_end().strip_prefix(&hello) {
            break nonce.to_owned();
        }
    };
    let ok = format!("\n{MAGIC} OK {nonce}\n");
    if w.write_all(ok.as_bytes()).await.is_err() {
        return;
    }
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if line.trim_end().starts_with(&start) {
            break;
        }
    }
    let drain = tokio::spawn(async move {
        let mut sink = tokio::io::sink();
        let _ = tokio::io::copy(&mut r, &mut sink).await;
    });
    for piece in hostile.chunks(chunk) {
        if w.write_all(piece).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
    let _ = drain.await;
}

/// A host client: sends a request, reads until its connection closes.
async fn client(mut conn: tokio::io::DuplexStream) {
    let _ = conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n").await;
    let mut buf = vec![0u8; 4096];
    while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, hostile)) = data.split_first() else {
        return;
    };
    let connections = usize::from(head & 3);
    let chunk = usize::from(head >> 2) + 1;
    // A runtime per input: whatever a session leaves behind dies with it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (host_port, guest_port) = tokio::io::duplex(64 * 1024);
        let (tx, mut acceptor) = tokio::sync::mpsc::channel(4);
        for _ in 0..connections {
            let (conn, served) = tokio::io::duplex(64 * 1024);
            tx.send(served).await.expect("queue a connection");
            tokio::spawn(client(conn));
        }
        let guest = tokio::spawn(guest(guest_port, hostile.to_vec(), chunk));
        let session = skiff_relay::host::serve_session(&mut acceptor, host_port);
        let ended = tokio::time::timeout(BOUND, session).await;
        assert!(ended.is_ok(), "the host's session did not end after the guest's EOF");
        // `tx` lives to here: a closed acceptor would be an accept error.
        drop(tx);
        let _ = guest.await;
    });
});
