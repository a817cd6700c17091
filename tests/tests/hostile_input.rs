//! Hostile and malformed API input (issue 19 §2): every malformed request is
//! answered with a 4xx and docker's `{"message": …}` — never a 5xx, a dropped
//! connection or a dead daemon; bodies, JSON nesting and headers are capped;
//! a slow-drip (slowloris) or idle client is disconnected while a quiet
//! `/events` stream is not; and a thousand idle connections do not stop
//! skiffd serving others.
//!
//! Requests are written as raw HTTP on the Unix socket, so nothing between
//! the test and skiffd fixes them up.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use skiff_e2e::util::{HttpResponse, parse_response, unix_http};
use skiff_e2e::{Skiffd, SkiffdOpts};

/// Longest a test waits for an answer it is owed (skiffd answers a refused
/// request at once; this only bounds a hang).
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// skiffd's header read timeout (`skiffd_api::HEADER_READ_TIMEOUT`) plus a
/// margin: how long a silent client may take to be disconnected.
const DISCONNECT_WAIT: Duration = Duration::from_secs(90);

/// Send `raw` as is and read the answer to its end. Write errors are
/// ignored: a server may answer (and close) before a large body is sent.
fn try_exchange(socket: &Path, raw: &[u8]) -> Result<HttpResponse, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(ANSWER_WAIT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(ANSWER_WAIT))
        .map_err(|e| e.to_string())?;
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        // The answer was read; the rest of an unread body reset the socket.
        Err(e) if e.kind() == ErrorKind::ConnectionReset && !out.is_empty() => {}
        Err(e) => return Err(format!("no answer: {e}")),
    }
    parse_response(&out, "skiffd").map_err(|e| format!("{e}: {:?}", String::from_utf8_lossy(&out)))
}

/// [`try_exchange`], which must succeed.
fn raw_exchange(socket: &Path, raw: &[u8]) -> HttpResponse {
    try_exchange(socket, raw).unwrap_or_else(|e| {
        panic!(
            "{e}, for {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        )
    })
}

/// A request with a JSON body.
fn request(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The `message` of docker's JSON error body, if that is what `r` carries.
fn message(r: &HttpResponse) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    let m = v.as_object()?.get("message")?.as_str()?;
    (!m.is_empty()).then(|| m.to_owned())
}

/// A tar of one member, its name written as is (`..` included).
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data).expect("tar");
    b.into_inner().expect("tar")
}

#[test]
fn malformed_requests_get_4xx_with_a_message_and_the_daemon_stays_up() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d.docker_ok(&["create", "--name", "idle", "busybox", "true"]);
    d.docker_ok(&["run", "-d", "--name", "up", "busybox", "sleep", "600"]);

    let deep = format!(
        "{{\"Image\":\"busybox\",\"Labels\":{}1{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let evil_tar = tar_of("../../../../etc/skiff-escape", b"x");
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        // Bodies that are not JSON, or not the right JSON.
        ("POST", "/containers/create".into(), b"{".to_vec()),
        ("POST", "/containers/create".into(), b"[]".to_vec()),
        (
            "POST",
            "/containers/create".into(),
            b"\xff\xfe\x00".to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":5}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":"busybox","Env":"A=1"}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":"busybox","HostConfig":{"Memory":99999999999999999999999}}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":"busybox","StopTimeout":1e400}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"bogus"}}"#.to_vec(),
        ),
        ("POST", "/containers/create".into(), deep.into_bytes()),
        (
            "POST",
            "/containers/create?name=bad/name".into(),
            br#"{"Image":"busybox"}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/create".into(),
            br#"{"Image":"Not/Lower"}"#.to_vec(),
        ),
        ("POST", "/containers/up/exec".into(), b"{".to_vec()),
        (
            "POST",
            "/containers/up/exec".into(),
            br#"{"Cmd":5}"#.to_vec(),
        ),
        (
            "POST",
            "/exec/nope/start".into(),
            br#"{"Detach":"yes"}"#.to_vec(),
        ),
        ("POST", "/auth".into(), b"{".to_vec()),
        ("POST", "/auth".into(), br#"{"username":1}"#.to_vec()),
        // Numbers: not numbers, negative, overflowing.
        ("POST", "/containers/up/stop?t=abc".into(), vec![]),
        (
            "POST",
            "/containers/up/stop?t=99999999999999999999".into(),
            vec![],
        ),
        ("POST", "/containers/up/restart?t=1.5".into(), vec![]),
        ("POST", "/containers/up/resize?h=-1&w=10".into(), vec![]),
        (
            "POST",
            "/containers/up/resize?h=99999999999&w=10".into(),
            vec![],
        ),
        ("POST", "/exec/nope/resize?h=abc&w=1".into(), vec![]),
        // Filters.
        ("GET", "/containers/json?filters=notjson".into(), vec![]),
        ("GET", "/containers/json?filters=%5B1%5D".into(), vec![]),
        (
            "GET",
            "/containers/json?filters=%7B%22status%22%3A5%7D".into(),
            vec![],
        ),
        (
            "GET",
            "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D".into(),
            vec![],
        ),
        (
            "GET",
            "/images/json?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D".into(),
            vec![],
        ),
        (
            "GET",
            "/events?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D".into(),
            vec![],
        ),
        ("POST", "/images/prune?filters=%7B".into(), vec![]),
        // Timestamps.
        ("GET", "/events?since=yesterday".into(), vec![]),
        ("GET", "/events?until=1.2.3".into(), vec![]),
        ("GET", "/events?since=99999999999999999999".into(), vec![]),
        ("GET", "/events?since=9999999999999".into(), vec![]),
        ("GET", "/events?since=-9999999999999".into(), vec![]),
        ("GET", "/events?since=1e5".into(), vec![]),
        ("GET", "/events?since=2024-13-45T99:00:00Z".into(), vec![]),
        (
            "GET",
            "/containers/up/logs?stdout=1&since=garbage".into(),
            vec![],
        ),
        (
            "GET",
            "/containers/up/logs?stdout=1&until=9999999999999".into(),
            vec![],
        ),
        // Signals and conditions.
        ("POST", "/containers/up/kill?signal=SIGFOO".into(), vec![]),
        ("POST", "/containers/up/kill?signal=99999".into(), vec![]),
        ("POST", "/containers/up/stop?signal=NOPE".into(), vec![]),
        ("POST", "/containers/idle/kill?signal=-9".into(), vec![]),
        (
            "POST",
            "/containers/idle/wait?condition=soon".into(),
            vec![],
        ),
        ("POST", "/containers/idle/rename".into(), vec![]),
        // References and platforms.
        ("POST", "/images/create?fromImage=Busybox".into(), vec![]),
        (
            "POST",
            "/images/create?fromImage=busybox&tag=bad:tag".into(),
            vec![],
        ),
        (
            "POST",
            "/images/create?fromImage=busybox%40sha256%3Azz".into(),
            vec![],
        ),
        (
            "POST",
            "/images/create?fromImage=busybox&platform=linux%2F..%2F..%2Fx".into(),
            vec![],
        ),
        ("POST", "/images/busybox/tag?repo=UPPER".into(), vec![]),
        ("POST", "/images/busybox/tag?repo=x&tag=-bad".into(), vec![]),
        ("GET", "/distribution/Bad/json".into(), vec![]),
        // Garbage tars.
        ("POST", "/images/load".into(), b"garbage".to_vec()),
        ("POST", "/images/load".into(), garbage.clone()),
        ("POST", "/images/load".into(), evil_tar.clone()),
        ("POST", "/images/create?fromSrc=-".into(), garbage.clone()),
        ("PUT", "/containers/idle/archive?path=/tmp".into(), garbage),
        ("PUT", "/containers/idle/archive".into(), evil_tar),
        // Versions and routes.
        ("GET", "/v1.x/version".into(), vec![]),
        ("GET", "/v1.99/version".into(), vec![]),
        // The later endpoint groups: networks, volumes, build, commit,
        // update, exec, system.
        ("POST", "/networks/create".into(), b"{".to_vec()),
        ("POST", "/networks/create".into(), br#"{"Name":5}"#.to_vec()),
        (
            "POST",
            "/networks/create".into(),
            br#"{"Name":"n1","IPAM":{"Config":[{"Subnet":"300.1.2.0/24"}]}}"#.to_vec(),
        ),
        (
            "POST",
            "/networks/create".into(),
            br#"{"Name":"n2","Driver":"nope"}"#.to_vec(),
        ),
        ("GET", "/networks?filters=%7Bx".into(), vec![]),
        (
            "GET",
            "/networks?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D".into(),
            vec![],
        ),
        (
            "POST",
            "/networks/bridge/connect".into(),
            br#"{"Container":7}"#.to_vec(),
        ),
        ("POST", "/volumes/create".into(), b"[1,2]".to_vec()),
        (
            "POST",
            "/volumes/create".into(),
            br#"{"Name":"a/b"}"#.to_vec(),
        ),
        (
            "POST",
            "/volumes/create".into(),
            br#"{"Name":"v1","Driver":"nope"}"#.to_vec(),
        ),
        ("GET", "/volumes?filters=%5B%5D".into(), vec![]),
        (
            "GET",
            "/volumes?filters=%7B%22dangling%22%3A%5B%22perhaps%22%5D%7D".into(),
            vec![],
        ),
        ("POST", "/volumes/prune?filters=%7B".into(), vec![]),
        ("POST", "/build".into(), b"garbage".to_vec()),
        (
            "POST",
            "/build?dockerfile=..%2F..%2Fetc%2Fpasswd".into(),
            tar_of(
                "Dockerfile",
                b"FROM busybox
",
            ),
        ),
        (
            "POST",
            "/build".into(),
            tar_of(
                "Dockerfile",
                b"FROMM busybox
",
            ),
        ),
        (
            "POST",
            "/build?buildargs=%7B".into(),
            tar_of(
                "Dockerfile",
                b"FROM busybox
",
            ),
        ),
        (
            "POST",
            "/build?memory=lots".into(),
            tar_of(
                "Dockerfile",
                b"FROM busybox
",
            ),
        ),
        ("POST", "/commit?container=up&repo=UPPER".into(), vec![]),
        ("POST", "/commit?container=nope".into(), vec![]),
        (
            "POST",
            "/commit?container=up".into(),
            br#"{"Cmd":5}"#.to_vec(),
        ),
        ("POST", "/containers/up/update".into(), b"{".to_vec()),
        (
            "POST",
            "/containers/up/update".into(),
            br#"{"Memory":-5}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/up/update".into(),
            br#"{"CpuShares":"many"}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/up/exec".into(),
            br#"{"Cmd":["true"],"User":"nobody:nogroup:extra"}"#.to_vec(),
        ),
        (
            "POST",
            "/containers/up/exec".into(),
            br#"{"Cmd":[]}"#.to_vec(),
        ),
        ("GET", "/containers/json?limit=abc".into(), vec![]),
        ("GET", "/containers/up/logs".into(), vec![]),
        ("GET", "/containers/up/archive?path=".into(), vec![]),
        (
            "POST",
            "/containers/up/attach?detachKeys=ctrl-".into(),
            vec![],
        ),
        (
            "POST",
            "/containers/prune?filters=%7B%22until%22%3A%5B%22soon%22%5D%7D".into(),
            vec![],
        ),
        ("GET", "/system/df?type=bogus".into(), vec![]),
        (
            "GET",
            "/images/json?filters=%7B%22before%22%3A%5B%22nope%3Anope%22%5D%7D".into(),
            vec![],
        ),
        ("GET", "/images/get?names=".into(), vec![]),
        ("DELETE", "/images/".into(), vec![]),
    ];
    let mut refused = 0;
    let mut wrong = Vec::new();
    for (method, path, body) in &cases {
        match try_exchange(d.socket(), &request(method, path, body)) {
            Ok(r) if (400..500).contains(&r.status) && message(&r).is_some() => refused += 1,
            Ok(r) => wrong.push(format!(
                "{method} {path} {:?}: {} {}",
                String::from_utf8_lossy(&body[..body.len().min(80)]),
                r.status,
                r.text()
            )),
            Err(e) => wrong.push(format!("{method} {path}: {e}")),
        }
        assert!(d.ping(), "skiffd stopped answering after {method} {path}");
    }
    assert!(
        wrong.is_empty(),
        "not a 4xx with a message:\n{}",
        wrong.join("\n")
    );
    eprintln!(
        "malformed requests: {} tried, {refused} answered 4xx with a message",
        cases.len()
    );
    assert!(refused >= 90, "{refused} malformed requests");
    assert!(
        !Path::new("/etc/skiff-escape").exists(),
        "a tar wrote outside the container"
    );

    // Caps: a JSON body over 16 MiB (declared or chunked), a request head
    // over 256 KiB, and requests HTTP itself refuses.
    let mut big = format!(
        "POST /containers/create HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        17 << 20
    )
    .into_bytes();
    big.extend_from_slice(b"{\"Image\":\"busybox\"");
    let r = raw_exchange(d.socket(), &big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        message(&r).is_some_and(|m| m.contains("too large")),
        "{}",
        r.text()
    );

    let mut chunked = b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw_exchange(d.socket(), &chunked);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(message(&r).is_some(), "{}", r.text());

    let huge_header = format!(
        "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(300 << 10)
    );
    let r = raw_exchange(d.socket(), huge_header.as_bytes());
    assert_eq!(r.status, 431);

    for garbage_request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /_ping HTTP/9.9\r\nHost: docker\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\nBad Header\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: -1\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        let r = raw_exchange(d.socket(), garbage_request);
        assert!(
            (400..500).contains(&r.status),
            "{:?}: {}",
            String::from_utf8_lossy(garbage_request),
            r.status
        );
        assert!(d.ping());
    }

    // Nothing was created by any of it, and the daemon is still the same one.
    let names = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["idle", "up"]);
    assert!(d.is_running());

    // Prune's filters are applied, not ignored (a bad `until` above
    // removed nothing; a good one or a label narrows what goes).
    d.docker_ok(&[
        "create",
        "--name",
        "pa",
        "--label",
        "prune=yes",
        "busybox",
        "true",
    ]);
    d.docker_ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    d.docker_ok(&["container", "prune", "-f", "--filter", "label=prune=yes"]);
    let names = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["idle", "up"]);
    d.docker_ok(&["rm", "-f", "up", "idle"]);
    // An image prune's label filter selects too (busybox, unused now, has
    // no such label and stays); an `until` it cannot apply is refused.
    d.docker_ok(&["image", "prune", "-af", "--filter", "label=skiff-nope=1"]);
    assert_ne!(d.docker_ok(&["images", "-q", "busybox"]), "");
    let (_, err) = d.docker_fail(&["image", "prune", "-af", "--filter", "until=1h"]);
    assert!(err.contains("'until' is not supported"), "{err}");
    assert_ne!(d.docker_ok(&["images", "-q", "busybox"]), "");
}

/// Connections that send part of a request head, one byte at a time, are
/// disconnected; a `/events` stream with nothing to say for longer than
/// that stays open and delivers the next event; and a thousand idle
/// connections neither stop skiffd from serving another client nor stay
/// open forever.
#[test]
fn slow_and_idle_clients_are_disconnected_without_cutting_long_streams() {
    let d = Skiffd::start(SkiffdOpts::default());
    raise_open_files_limit(4096);

    // An events follower, quiet for longer than the header timeout.
    let mut events = UnixStream::connect(d.socket()).expect("connect");
    events
        .write_all(b"GET /events?filters=%7B%22type%22%3A%5B%22image%22%5D%7D HTTP/1.1\r\nHost: docker\r\n\r\n")
        .expect("events request");
    events.set_read_timeout(Some(ANSWER_WAIT)).expect("timeout");
    let mut head = [0u8; 12];
    events.read_exact(&mut head).expect("events answer");
    assert_eq!(&head, b"HTTP/1.1 200");

    // A slowloris: the start of a request head, then a byte every second.
    let slow_socket = d.socket().to_owned();
    let slowloris = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&slow_socket).expect("connect");
        s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Slow: ")
            .expect("start");
        let started = std::time::Instant::now();
        while started.elapsed() < DISCONNECT_WAIT {
            std::thread::sleep(Duration::from_secs(1));
            if s.write_all(b"a").is_err() {
                return true;
            }
        }
        false
    });

    // A thousand idle connections: open, sending nothing.
    let idle: Vec<UnixStream> = (0..1000)
        .map(|i| {
            UnixStream::connect(d.socket()).unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
        })
        .collect();
    assert_eq!(idle.len(), 1000);
    // Others are still served, on new connections, while they idle.
    for _ in 0..5 {
        let r = unix_http(d.socket(), "GET", "/v1.45/containers/json?all=1", b"").expect("list");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(d.ping());
    }

    // Every idle connection is closed by skiffd (EOF, without an answer).
    let mut closed = 0;
    for mut c in idle {
        c.set_read_timeout(Some(DISCONNECT_WAIT)).expect("timeout");
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => closed += 1,
            Ok(n) => panic!(
                "an idle connection got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("an idle connection stayed open: {e}"),
        }
    }
    assert_eq!(closed, 1000);
    assert!(
        slowloris.join().expect("slowloris thread"),
        "a slow-drip request head was never cut off"
    );

    // The events stream outlived them all, and still delivers.
    d.docker_ok(&["pull", "-q", "busybox"]);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"pull\"") {
        let n = events.read(&mut buf).expect("events stream still open");
        assert!(n > 0, "the events stream was closed");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(d.ping());
}

/// Raise this process's soft limit on open files to at least `want` (the
/// test holds a thousand connections).
fn raise_open_files_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer to a local.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: setrlimit reads one `rlimit` through a valid pointer to a local.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
}
