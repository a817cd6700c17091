//! A developer's day through the VM (issue 15), checked in the one boot
//! of `machine_e2e`: file modes through a shared folder, the host's
//! loopback services at `host.docker.internal`, a host-side edit heard by
//! an inotify watcher in a container, and the guest clock after the VM was
//! paused (QMP `stop`/`cont`, the stand-in for a host that slept).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use skiff_e2e::DockerCli;

/// `sh -c script` in a busybox container with `share` bound at `/src`
/// through the VM; its stdout.
pub fn in_share(docker: &DockerCli, share: &Path, script: &str) -> String {
    let bind = format!("{}:/src", share.display());
    docker.ok(&["run", "--rm", "-v", &bind, "busybox", "sh", "-c", script])
}

/// A file a container writes (as root) through the share belongs on the
/// host to the user who runs skiff (here: this test's user), with the mode
/// the container gave it; a mode set on the host is what the container
/// sees.
pub fn modes_and_owner_round_trip(docker: &DockerCli, share: &Path) {
    in_share(
        docker,
        share,
        "echo x > /src/mode.txt && chmod 640 /src/mode.txt",
    );
    let meta = std::fs::metadata(share.join("mode.txt")).expect("mode.txt on the host");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    // SAFETY: geteuid takes no arguments and cannot fail.
    let me = unsafe { libc::geteuid() };
    assert_eq!(meta.uid(), me, "owner of a file the container wrote");
    let host_file = share.join("host-mode.txt");
    std::fs::write(&host_file, "y\n").expect("write");
    std::fs::set_permissions(&host_file, std::fs::Permissions::from_mode(0o751)).expect("chmod");
    let out = in_share(docker, share, "stat -c %a /src/host-mode.txt");
    assert_eq!(out.trim(), "751");
}

/// A listener on the host's 127.0.0.1 answers a container that asks for
/// `host.docker.internal`, and both of Docker Desktop's names are in the
/// container's `/etc/hosts`.
pub fn host_services_at_host_docker_internal(docker: &DockerCli) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false).expect("blocking");
                    conn.set_read_timeout(Some(Duration::from_secs(30)))
                        .expect("timeout");
                    let mut head = [0u8; 1024];
                    let _ = conn.read(&mut head);
                    let _ = conn.write_all(
                        b"HTTP/1.0 200 OK\r\nContent-Length: 20\r\n\r\nhello-from-the-host\n",
                    );
                    return true;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        false
    });
    let script = format!(
        "grep docker.internal /etc/hosts && wget -q -O- http://host.docker.internal:{port}/"
    );
    let out = docker.ok(&["run", "--rm", "busybox", "sh", "-c", &script]);
    assert!(
        out.contains("10.0.2.2\thost.docker.internal gateway.docker.internal\n"),
        "{out}"
    );
    assert!(out.ends_with("hello-from-the-host\n"), "{out}");
    assert!(
        server.join().expect("server"),
        "no connection reached the host"
    );
}

/// A file edited on the host under a share reaches an inotify watcher in a
/// container (`inotify_watch.c`, built static into the share: the fixture
/// busybox has no `inotifyd`); returns the latency seen, from the host's
/// write to the event on the container's stdout.
pub fn host_edits_reach_an_inotify_watcher(docker: &DockerCli, share: &Path) -> Duration {
    let file = share.join("watched.txt");
    std::fs::write(&file, "v0\n").expect("write");
    let watcher = share.join(".inotify-watch");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/machine_e2e/inotify_watch.c");
    let built = std::process::Command::new("gcc")
        .args(["-static", "-Os", "-s", "-o"])
        .arg(&watcher)
        .arg(&source)
        .output()
        .expect("running gcc");
    assert!(
        built.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::set_permissions(&watcher, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bind = format!("{}:/src", share.display());
    let name = format!("skiff-e2e-watch-{}", std::process::id());
    let mut child = docker
        .command(&[
            "run",
            "--rm",
            "--name",
            &name,
            "-v",
            &bind,
            "busybox",
            "/src/.inotify-watch",
            "/src/watched.txt",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("docker run inotifyd");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let Ok((_, ready)) = rx.recv_timeout(Duration::from_secs(120)) else {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        }
        panic!("the watcher in the container did not start: {err}");
    };
    assert_eq!(ready, "watching");
    // One edit should do; a few more before failing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 1;
    let latency = loop {
        assert!(
            Instant::now() < deadline,
            "no inotify event in the container for host edits of {}",
            file.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .expect("open");
        let written = Instant::now();
        writeln!(f, "v{n}").expect("append");
        drop(f);
        n += 1;
        if let Ok((at, line)) = rx.recv_timeout(Duration::from_secs(3)) {
            assert!(line.starts_with("event "), "{line}");
            break at.duration_since(written);
        }
    };
    let _ = docker.run(&["rm", "-f", &name]);
    let _ = child.wait();
    latency
}

/// One QMP command on `socket` (a connection of its own), checked.
fn qmp(socket: &Path, command: &str) {
    let stream = UnixStream::connect(socket).expect("connect qmp.sock");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).expect("QMP greeting");
    for cmd in ["qmp_capabilities", command] {
        writeln!(writer, "{{\"execute\":\"{cmd}\"}}").expect("write QMP");
        loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("QMP answer");
            assert!(n > 0, "QMP closed");
            if line.contains("\"return\"") {
                break;
            }
            assert!(!line.contains("\"error\""), "QMP {cmd}: {line}");
        }
    }
}

/// `time.tv_sec` + `time.tv_usec` of busybox `adjtimex`'s output.
fn adjtimex_time(out: &str) -> Option<f64> {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some(field("time.tv_sec:")? + field("time.tv_usec:")? / 1e6)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Pauses the VM for `pause` (QMP `stop`, then `cont`): its clock stood
/// still meanwhile. Within a minute of `cont` a container's clock is back
/// within 1 s of the host's; returns how long after `cont` that was seen
/// and the guest clock's distance from the host's bracket then.
pub fn clock_after_a_pause(
    docker: &DockerCli,
    qmp_socket: &Path,
    pause: Duration,
) -> (Duration, f64) {
    let id = docker.ok(&["run", "-d", "busybox", "sleep", "600"]);
    let id = id.trim().to_string();
    qmp(qmp_socket, "stop");
    std::thread::sleep(pause);
    qmp(qmp_socket, "cont");
    let resumed = Instant::now();
    let mut last = String::new();
    loop {
        assert!(
            resumed.elapsed() < Duration::from_secs(60),
            "guest clock still off a minute after resuming: {last}"
        );
        let before = unix_now();
        // The fixture busybox's date has no %N; adjtimex(2) (read-only)
        // gives the time to the microsecond.
        let out = docker.run(&["exec", &id, "busybox", "adjtimex"]);
        let after = unix_now();
        let Some(guest) = adjtimex_time(&out.stdout) else {
            last = format!("adjtimex said {:?} {:?}", out.stdout, out.stderr);
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let off = if guest < before {
            before - guest
        } else if guest > after {
            guest - after
        } else {
            0.0
        };
        last = format!("guest {guest:.3}, host {before:.3}..{after:.3}, off by {off:.3} s");
        if off < 1.0 {
            let _ = docker.run(&["rm", "-f", &id]);
            return (resumed.elapsed(), off);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// Issue 16 through the VM: the sample Compose project (copied into the
/// shared folder: its `./web` bind comes from the host) comes up with
/// `up -d --build --wait` on skiff's socket, its published port answers
/// on the host's 127.0.0.1, and `down -v` removes every container, volume
/// and network of the project and closes the host's listener. Skipped
/// (with a line saying so) without the Compose v2 plugin.
pub fn compose_through_the_vm(docker: &DockerCli, share: &Path) {
    if !docker.has_compose_v2("compose through the VM") {
        return;
    }
    let project = share.join("compose");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compose"),
        &project,
    );
    let port = skiff_e2e::util::free_port().expect("free port");
    let cli = docker
        .clone()
        .with_env("DOCKER_BUILDKIT", "0")
        .with_env("WEB_PORT", port.to_string());
    let file = project.join("compose.yaml");
    let file = file.to_str().expect("utf-8 path");
    let compose = |args: &[&str]| {
        let mut all = vec!["compose", "-f", file, "-p", "vmsample"];
        all.extend_from_slice(args);
        cli.ok(&all)
    };
    compose(&["up", "-d", "--build", "--wait"]);
    let addr = format!("127.0.0.1:{port}");
    let mut page = String::new();
    skiff_e2e::util::wait_until(
        "the project's published port on the host",
        Duration::from_secs(60),
        || match skiff_e2e::util::http_get(&addr, "/", &[]) {
            Ok(resp) if resp.status == 200 => {
                page = resp.text();
                true
            }
            _ => false,
        },
    );
    assert!(page.contains("skiff sample front"), "{page}");
    compose(&["down", "-v"]);
    let label = "label=com.docker.compose.project=vmsample";
    for what in [
        vec!["ps", "-a", "-q", "--filter", label],
        vec!["volume", "ls", "-q", "--filter", label],
        vec!["network", "ls", "-q", "--filter", label],
    ] {
        let left = cli.ok(&what);
        assert!(left.trim().is_empty(), "{what:?} left {left}");
    }
    skiff_e2e::util::wait_until(
        "the host's listener to close",
        Duration::from_secs(30),
        || std::net::TcpStream::connect(&addr).is_err(),
    );
}

/// `docker build` through the VM with its context on the host, in a
/// folder that is *not* shared (the CLI sends the context as a tar over
/// skiff's forwarded socket; nothing is read through virtiofs): the built
/// image runs, its command is the context's executable script (mode kept)
/// printing the context's file, and `.dockerignore` kept the ignored file
/// out.
pub fn build_with_a_host_context(docker: &DockerCli, context: &Path) {
    std::fs::create_dir_all(context.join("bin")).expect("mkdir context");
    std::fs::write(context.join("from-the-host.txt"), "context of the host\n").expect("write");
    std::fs::write(context.join("secret.txt"), "ignored\n").expect("write");
    std::fs::write(context.join(".dockerignore"), "secret.txt\n").expect("write");
    let script = context.join("bin/hello.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat /ctx/from-the-host.txt\ntest ! -e /ctx/secret.txt && echo ignored-left-out\n",
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nCOPY . /ctx/\nCMD [\"/ctx/bin/hello.sh\"]\n",
    )
    .expect("write");
    let tag = "skiff-e2e/host-context:1";
    let cli = docker.clone().with_env("DOCKER_BUILDKIT", "0");
    let dir = context.to_str().expect("utf-8 path");
    cli.ok(&["build", "-q", "-t", tag, dir]);
    let out = docker.ok(&["run", "--rm", tag]);
    assert_eq!(out, "context of the host\nignored-left-out\n");
    docker.ok(&["rmi", tag]);
}

/// The desktop app's Ports column for container `id`, published at
/// `127.0.0.1:port:80` in the VM: its row, as the app reads it
/// (skiff-desktop-core's `containers::list`, through the machine's
/// forwarded `socket`), shows the mapping and offers the port as a link
/// (`containers::port_url`, what the row's link and `open_port` open), and
/// that link's page answers on the host with `body`.
pub fn desktop_ports_column_links(socket: &Path, id: &str, port: u16, body: &str) {
    use skiff_desktop_core::engine::{Engine, containers};
    let engine = Engine::fixed(format!("unix://{}", socket.display()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime
        .block_on(containers::list(&engine))
        .expect("the desktop's container list through the VM");
    let row = rows
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("container {id} not in the desktop's list: {rows:?}"));
    assert_eq!(row.ports, format!("127.0.0.1:{port}->80/tcp"), "{row:?}");
    assert_eq!(row.published, [port], "{row:?}");
    let url = containers::port_url(row.published[0]).expect("a link for the port");
    assert_eq!(url, format!("http://localhost:{port}"));
    let (addr, path) = url
        .strip_prefix("http://")
        .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
        .expect("an http URL");
    let resp = skiff_e2e::util::http_get(addr, &format!("/{path}"), &[])
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(resp.status, 200, "GET {url}");
    assert_eq!(resp.text(), body, "GET {url}");
}
