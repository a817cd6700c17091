//! Both halves of the relay against each other over a socketpair, with a
//! real HTTP engine (hyper) behind the guest half and real clients on the
//! host's Unix socket.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes_util::full;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(60);

mod bytes_util {
    use http_body_util::Full;
    use hyper::body::Bytes;

    pub fn full(data: impl Into<Bytes>) -> Full<Bytes> {
        Full::new(data.into())
    }
}

/// A relay pair over a socketpair: the host half listens on
/// `<dir>/docker.sock`, the guest half dials `<dir>/engine.sock`.
struct Relay {
    dir: tempfile::TempDir,
    host: JoinHandle<Result<(), skiff_relay::RelayError>>,
    guest: JoinHandle<Result<(), skiff_relay::RelayError>>,
}

impl Relay {
    async fn start() -> Relay {
        let dir = tempfile::tempdir().expect("tempdir");
        let (h, g) = UnixStream::pair().expect("socketpair");
        let engine = dir.path().join("engine.sock");
        let guest = tokio::spawn(async move { skiff_relay::guest::serve(g, &engine).await });
        let listener = UnixListener::bind(dir.path().join("docker.sock")).expect("bind");
        let host = tokio::spawn(skiff_relay::host::serve(listener, h));
        Relay { dir, host, guest }
    }

    fn engine_path(&self) -> PathBuf {
        self.dir.path().join("engine.sock")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    async fn connect(&self) -> UnixStream {
        UnixStream::connect(self.socket())
            .await
            .expect("connect docker.sock")
    }
}

/// The test engine: `/_ping`, `/echo/<x>`, `/sha` (sha256 of the body),
/// `/upgrade` (101, then every byte echoed upper-cased).
async fn handle(
    req: Request<Incoming>,
) -> Result<Response<http_body_util::Full<hyper::body::Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/_ping" {
        return Ok(Response::new(full("OK")));
    }
    if let Some(rest) = path.strip_prefix("/echo/") {
        return Ok(Response::new(full(rest.to_string())));
    }
    if path == "/sha" {
        let body = req.into_body().collect().await.expect("body").to_bytes();
        return Ok(Response::new(full(hex(&Sha256::digest(&body)))));
    }
    if path == "/upgrade" {
        tokio::spawn(async move {
            let upgraded = hyper::upgrade::on(req).await.expect("upgrade");
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 4096];
            loop {
                let n = io.read(&mut buf).await.expect("read upgraded");
                if n == 0 {
                    break;
                }
                let upper: Vec<u8> = buf[..n].iter().map(u8::to_ascii_uppercase).collect();
                io.write_all(&upper).await.expect("write upgraded");
            }
            io.write_all(b"BYE").await.expect("bye");
            io.shutdown().await.expect("shutdown");
        });
        let mut resp = Response::new(full(""));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut()
            .insert("connection", "Upgrade".parse().expect("header"));
        resp.headers_mut()
            .insert("upgrade", "tcp".parse().expect("header"));
        return Ok(resp);
    }
    let mut resp = Response::new(full("not found"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    Ok(resp)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn http_engine(path: &Path) -> JoinHandle<()> {
    let listener = UnixListener::bind(path).expect("bind engine");
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    })
}

async fn http_get(relay: &Relay, path: &str) -> (StatusCode, String) {
    let stream = relay.connect().await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "docker")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("send");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: timed out after {TIMEOUT:?}"),
    }
}

/// `GET /_ping` with `Connection: close`, written by hand on a connection
/// to `socket`; the whole answer (status line, headers, body).
async fn raw_ping(socket: &Path) -> String {
    let mut c = UnixStream::connect(socket).await.expect("connect");
    c.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    c.read_to_string(&mut answer).await.expect("read");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_request_and_response() {
    let relay = Relay::start().await;
    let _engine = http_engine(&relay.engine_path());
    let (status, body) = within("ping", http_get(&relay, "/_ping")).await;
    assert!(!relay.host.is_finished() && !relay.guest.is_finished());
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "OK");
    let (status, body) = within("404", http_get(&relay, "/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "not found");

    // A request body, several requests on one kept-alive connection.
    let stream = relay.connect().await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    for size in [0usize, 1, 100_000, 3_000_000] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let want = hex(&Sha256::digest(&body));
        let req = Request::post("/sha")
            .header("host", "docker")
            .body(full(body))
            .expect("request");
        within("ready", sender.ready())
            .await
            .expect("connection ready");
        let resp = within("sha", sender.send_request(req)).await.expect("send");
        let got = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(String::from_utf8_lossy(&got), want, "size {size}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_half_close_reaches_the_engine_which_still_answers() {
    let relay = Relay::start().await;
    let listener = UnixListener::bind(relay.engine_path()).expect("bind engine");
    let engine = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.expect("read to eof");
        s.write_all(format!("got {} bytes", got.len()).as_bytes())
            .await
            .expect("answer after eof");
        s.shutdown().await.expect("shutdown");
        got
    });
    let mut client = relay.connect().await;
    client.write_all(b"hello engine").await.expect("write");
    client.shutdown().await.expect("shutdown(WR)");
    let mut answer = String::new();
    within("answer", client.read_to_string(&mut answer))
        .await
        .expect("read answer");
    assert_eq!(answer, "got 12 bytes");
    assert_eq!(
        within("engine", engine).await.expect("engine"),
        b"hello engine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_half_close_reaches_the_client_which_still_writes() {
    let relay = Relay::start().await;
    let listener = UnixListener::bind(relay.engine_path()).expect("bind engine");
    let engine = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.write_all(b"greeting").await.expect("greet");
        s.shutdown().await.expect("engine shutdown(WR)");
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .await
            .expect("read after own shutdown");
        got
    });
    let mut client = relay.connect().await;
    let mut greeting = Vec::new();
    within("greeting + eof", client.read_to_end(&mut greeting))
        .await
        .expect("read");
    assert_eq!(greeting, b"greeting");
    client
        .write_all(b"still talking")
        .await
        .expect("write after eof");
    client.shutdown().await.expect("shutdown");
    assert_eq!(
        within("engine", engine).await.expect("engine"),
        b"still talking"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijacked_stream_after_an_http_upgrade() {
    let relay = Relay::start().await;
    let _engine = http_engine(&relay.engine_path());
    let mut client = relay.connect().await;
    client
        .write_all(b"POST /upgrade HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        .await
        .expect("request");
    // Read the 101 head byte by byte so no stream byte is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        let n = within("101", client.read(&mut b)).await.expect("read head");
        assert_eq!(
            n,
            1,
            "eof in the 101 head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for word in ["abc", "hello relay", "xyz"] {
        client.write_all(word.as_bytes()).await.expect("write raw");
        let mut got = vec![0u8; word.len()];
        within("echo", client.read_exact(&mut got))
            .await
            .expect("read raw");
        assert_eq!(got, word.to_uppercase().as_bytes());
    }
    client.shutdown().await.expect("shutdown(WR)");
    let mut rest = Vec::new();
    within("bye", client.read_to_end(&mut rest))
        .await
        .expect("rest");
    assert_eq!(rest, b"BYE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections() {
    const N: usize = 200;
    let relay = Relay::start().await;
    let _engine = http_engine(&relay.engine_path());
    // Hold N connections open at once, then use them all.
    let mut conns = Vec::new();
    for _ in 0..N {
        conns.push(relay.connect().await);
    }
    let mut tasks = Vec::new();
    for (i, stream) in conns.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut bodies = Vec::new();
            for round in 0..3 {
                sender.ready().await.expect("connection ready");
                let req = Request::get(format!("/echo/c{i}r{round}"))
                    .header("host", "docker")
                    .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                    .expect("request");
                let resp = sender.send_request(req).await.expect("send");
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                bodies.push(String::from_utf8_lossy(&body).into_owned());
            }
            (i, bodies)
        }));
    }
    for task in tasks {
        let (i, bodies) = within("concurrent", task).await.expect("task");
        assert_eq!(
            bodies,
            (0..3).map(|r| format!("c{i}r{r}")).collect::<Vec<_>>()
        );
    }
}

/// xorshift bytes: cheap, not compressible, reproducible.
fn fill(state: &mut u64, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transfer_both_ways_keeps_every_byte() {
    const TOTAL: usize = 256 * 1024 * 1024;
    let relay = Relay::start().await;
    // The engine echoes everything, then closes its side.
    let listener = UnixListener::bind(relay.engine_path()).expect("bind engine");
    let _engine = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let (mut r, mut w) = s.into_split();
        tokio::io::copy(&mut r, &mut w).await.expect("echo");
        w.shutdown().await.expect("shutdown");
    });
    let client = relay.connect().await;
    let (mut r, mut w) = client.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let mut hasher = Sha256::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut buf = vec![0u8; 1024 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            fill(&mut state, &mut buf);
            hasher.update(&buf);
            w.write_all(&buf).await.expect("write");
            sent += buf.len();
        }
        w.shutdown().await.expect("shutdown");
        hasher.finalize()
    });
    let reader = tokio::spawn(async move {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1024 * 1024];
        let mut total = 0;
        loop {
            let n = r.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n;
        }
        (total, hasher.finalize())
    });
    let sent = within("writer", writer).await.expect("writer");
    let (total, received) = within("reader", reader).await.expect("reader");
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "256 MiB each way through the relay in {secs:.2} s ({:.0} MiB/s per direction)",
        256.0 / secs
    );
    assert_eq!(total, TOTAL);
    assert_eq!(sent, received, "echoed bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_engine_socket_closes_the_client_connection() {
    let relay = Relay::start().await;
    // No engine listens on engine.sock.
    for _ in 0..3 {
        let mut client = relay.connect().await;
        // The write may fail once the reset arrived; either is fine.
        let _ = client
            .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let read = within("closed connection", client.read_to_end(&mut buf)).await;
        match read {
            Ok(_) => assert!(buf.is_empty(), "unexpected answer {buf:?}"),
            Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
        }
    }
    // The engine appears later: the same session now relays to it.
    let _engine = http_engine(&relay.engine_path());
    let (_, body) = within("ping", http_get(&relay, "/_ping")).await;
    assert_eq!(body, "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_halves_end_when_the_pipe_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, g) = UnixStream::pair().expect("socketpair");
    let engine = dir.path().join("engine.sock");
    let _engine = http_engine(&engine);
    let guest = tokio::spawn(async move { skiff_relay::guest::serve(g, &engine).await });
    let listener = UnixListener::bind(dir.path().join("docker.sock")).expect("bind");
    // A host session that ends after one request: the guest half must end
    // with it, and a fresh pair must work again (a reconnecting host).
    let host = tokio::spawn(skiff_relay::host::serve(listener, h));
    let answer = within("answer", raw_ping(&dir.path().join("docker.sock"))).await;
    assert!(answer.ends_with("OK"), "{answer}");
    host.abort();
    let _ = host.await;
    // Aborting the host drops its end of the pair: the guest half ends
    // (within the timeout) and reports no error for a clean EOF.
    let result = within("guest end", guest).await.expect("guest task");
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_session_skips_what_the_old_one_left_in_the_pipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = dir.path().join("engine.sock");
    let _engine = http_engine(&engine);
    let (mut h, g) = UnixStream::pair().expect("socketpair");
    // Half a yamux frame from a host that went away mid-write.
    h.write_all(&[0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0x10, 0x00, 1, 2, 3])
        .await
        .expect("stale bytes");
    let guest = tokio::spawn(async move { skiff_relay::guest::serve(g, &engine).await });
    let listener = UnixListener::bind(dir.path().join("docker.sock")).expect("bind");
    let _host = tokio::spawn(skiff_relay::host::serve(listener, h));
    let answer = within("answer", raw_ping(&dir.path().join("docker.sock"))).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!guest.is_finished(), "guest session must still run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_made_before_the_guest_answers_wait_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = dir.path().join("engine.sock");
    let _engine = http_engine(&engine);
    let (h, g) = UnixStream::pair().expect("socketpair");
    let listener = UnixListener::bind(dir.path().join("docker.sock")).expect("bind");
    let _host = tokio::spawn(skiff_relay::host::serve(listener, h));
    let sock = dir.path().join("docker.sock");
    let client = tokio::spawn(async move { raw_ping(&sock).await });
    // The guest "boots" a while later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!client.is_finished(), "client must wait for the guest");
    let _guest = tokio::spawn(async move { skiff_relay::guest::serve(g, &engine).await });
    let answer = within("answer", client).await.expect("client");
    assert!(answer.ends_with("OK"), "{answer}");
}

/// Runs `args` (no arguments: a login shell reading `input`) through the
/// relay's shell stream, with a pty of `size` when given; the exit status
/// and everything the shell wrote. `resizes` open: a terminal that could
/// send resizes; closed: none, as with `echo … | skiff machine shell`.
async fn run_shell(
    relay: &Relay,
    args: &[&str],
    pty: Option<(u16, u16, &str)>,
    input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    resizes_open: bool,
) -> (i32, String) {
    use skiff_relay::shell::{ShellRequest, client};
    let (rows, cols, term) = pty.unwrap_or((24, 80, ""));
    let request = ShellRequest {
        tty: pty.is_some(),
        rows,
        cols,
        term: term.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    if !resizes_open {
        drop(tx);
    }
    let mut out = Vec::new();
    let status = within(
        &format!("shell {args:?}"),
        client(relay.connect().await, &request, input, &mut out, rx),
    )
    .await
    .expect("shell");
    (status, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_stream_runs_a_command_in_the_guest() {
    let relay = Relay::start().await;
    // The shell works with no engine at all (debugging a broken engine).
    let script = "read x; echo \"got $x\"; echo err >&2; exit 3";
    let (status, out) = run_shell(&relay, &["sh", "-c", script], None, &b"hello\n"[..], true).await;
    assert_eq!(status, 3);
    assert!(
        out.contains("got hello\n") && out.contains("err\n"),
        "{out}"
    );

    // No terminal, so nothing sends resizes (the channel is closed, as in
    // `echo … | skiff machine shell`): stdin still flows, EOF included.
    let input = &b"echo piped in; exit 4\n"[..];
    let (status, out) = run_shell(&relay, &[], None, input, false).await;
    assert_eq!(status, 4, "{out}");
    assert!(out.contains("piped in\n"));

    // A pty: the command sees a terminal of the requested size.
    let script = "stty size; echo $TERM; test -t 0";
    let pty = Some((33, 77, "xterm"));
    let (status, out) =
        run_shell(&relay, &["sh", "-c", script], pty, tokio::io::empty(), true).await;
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("33 77") && out.contains("xterm"), "{out}");

    // An engine stream that merely starts like the magic is not a shell.
    let _engine = http_engine(&relay.engine_path());
    let (_, body) = within("ping", http_get(&relay, "/_ping")).await;
    assert_eq!(body, "OK");
}
