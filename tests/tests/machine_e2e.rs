//! `skiff machine` end to end: a real VM under QEMU (TCG here: the KVM
//! probe says no on machines where guests hang), the real docker CLI on
//! the forwarded socket, images pulled inside the VM from the test registry
//! on the host's loopback (through QEMU's guestfwd), stop/start with the
//! data disk kept, a QEMU killed with SIGKILL mid-write (a pull, a
//! volume write) and recovered (`machine_e2e/crash.rs`), and `rm`;
//! in the same boot, a host folder shared into the VM (virtiofs) bound
//! with `-v` both ways and a folder outside the shares refused, a port
//! published in the VM answering on the host's 127.0.0.1 and linked by the
//! desktop app's Ports column, and `skiff machine set --memory` applied at
//! the next start; file modes and owner through the share; `docker build`
//! of a context on the host (outside the shares) whose image runs. The first boot runs with `--network restricted`
//! (pulls from the test registry only); `set --network nat` makes the
//! second boot Docker Desktop's default, where a listener on the host's
//! 127.0.0.1 answers at `host.docker.internal`, a host-side edit reaches
//! an inotify watcher in a container, and the guest clock is right again
//! after the VM was paused for 20 s (QMP `stop`/`cont`) — no traffic leaves
//! the host: nothing resolves or reaches an outside name.
//!
//! Needs the VM image (`vm-image/build.sh` → `target/vm-image/amd64/`); the
//! test builds it when it is missing. `SKIFF_BIN` overrides the `skiff`
//! binary (default: `target/debug/skiff`, built by `cargo build --bins`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use skiff_e2e::util::{self, workspace_root};
use skiff_e2e::{DockerCli, Registry};

#[path = "machine_e2e/crash.rs"]
mod crash;
#[path = "machine_e2e/day.rs"]
mod day;
#[path = "machine_e2e/user.rs"]
mod user;

/// One VM at a time: the machine has two cores.
static VM: Mutex<()> = Mutex::new(());

fn skiff_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SKIFF_BIN") {
        return PathBuf::from(bin);
    }
    let bin = util::target_dir().join("debug/skiff");
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "skiff-machine", "--bin", "skiff"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo build skiff");
        assert!(status.success(), "building skiff failed");
    }
    bin
}

/// The VM image directory, built if missing.
fn image_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SKIFF_IMAGE_DIR") {
        return PathBuf::from(dir);
    }
    let dir = workspace_root().join("target/vm-image/amd64");
    if !dir.join("manifest.json").is_file() {
        let status = Command::new(workspace_root().join("vm-image/build.sh"))
            .current_dir(workspace_root())
            .status()
            .expect("running vm-image/build.sh");
        assert!(status.success(), "vm-image/build.sh failed");
    }
    assert!(
        dir.join("manifest.json").is_file(),
        "no VM image in {}",
        dir.display()
    );
    dir
}

/// A private SKIFF_HOME and DOCKER_CONFIG, and `skiff` run in them (as
/// this test's user, or as `user`: uid, gid).
struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    docker_config: PathBuf,
    bin: PathBuf,
    user: Option<(u32, u32)>,
}

/// A test that fails half-way leaves no VM behind: the machine is stopped
/// and whatever still runs from the test's directory (the supervisor,
/// QEMU) is killed.
impl Drop for Env {
    fn drop(&mut self) {
        // Not `self.skiff`: nothing here may panic (this may run while
        // unwinding).
        let _ = Command::new(&self.bin)
            .args(["machine", "stop"])
            .env("SKIFF_HOME", &self.home)
            .output();
        skiff_e2e::skiffd::kill_processes_under(&self.home);
    }
}

impl Env {
    fn new() -> Env {
        let tmp = util::tempdir("skm-").expect("tempdir");
        let home = tmp.path().join("h");
        let docker_config = tmp.path().join("dc");
        std::fs::create_dir_all(&docker_config).expect("mkdir");
        Env {
            home,
            docker_config,
            bin: skiff_bin(),
            _tmp: tmp,
            user: None,
        }
    }

    fn skiff(&self, args: &[&str]) -> Output {
        let mut command = match self.user {
            None => Command::new(&self.bin),
            Some((uid, gid)) => {
                let mut setpriv = Command::new("setpriv");
                setpriv
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .args(["--clear-groups", "--"])
                    .arg(&self.bin)
                    .env("HOME", self._tmp.path());
                setpriv
            }
        };
        command
            .args(args)
            .env("SKIFF_HOME", &self.home)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("SKIFF_BIN", &self.bin)
            .env_remove("SKIFF_IMAGE_DIR")
            .output()
            .expect("running skiff")
    }

    fn skiff_ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        if !out.status.success() {
            self.dump();
            panic!(
                "`skiff {}` failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `skiff machine create` of a 2-CPU machine (`memory` MiB, a `disk`
    /// GiB data disk) booting `image`, pulling from `mirror` only
    /// (`--network restricted`), with `share` its one shared folder; its
    /// stdout.
    fn create(&self, memory: &str, disk: &str, mirror: &str, image: &str, share: &str) -> String {
        self.skiff_ok(&[
            "machine",
            "create",
            "--cpus",
            "2",
            "--memory",
            memory,
            "--disk",
            disk,
            "--registry-mirror",
            mirror,
            "--image-dir",
            image,
            "--mount",
            share,
            "--network",
            "restricted",
        ])
    }

    fn machine_dir(&self) -> PathBuf {
        self.home.join("machines/default")
    }

    fn socket(&self) -> PathBuf {
        self.machine_dir().join("docker.sock")
    }

    fn docker(&self) -> DockerCli {
        DockerCli::new(
            format!("unix://{}", self.socket().display()),
            &self.docker_config,
        )
        .with_timeout(Duration::from_secs(300))
    }

    fn status(&self) -> String {
        self.skiff_ok(&["machine", "status"]).trim().to_string()
    }

    fn dump(&self) {
        let dir = self.machine_dir();
        for name in ["supervisor.log", "qemu.log", "console.log", "run.json"] {
            util::print_tail(name, &dir.join(name), 40);
        }
    }
}

/// 64 connections open at once on the forwarded socket, each answering.
/// The TCP sockets in LISTEN state that process `pid` holds, as
/// `/proc/net/tcp{,6}` lines (socket inodes matched against its fds).
fn tcp_listeners_of(pid: u64) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    assert!(!inodes.is_empty(), "process {pid} holds no socket at all");
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // st 0A = LISTEN; column 9 is the inode.
            if cols.get(3) == Some(&"0A")
                && cols.get(9).is_some_and(|i| inodes.iter().any(|x| x == i))
            {
                found.push(line.trim().to_string());
            }
        }
    }
    found
}

fn concurrent_pings(socket: &Path) {
    let mut conns: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(socket).expect("connect docker.sock"))
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let path = if i % 2 == 0 { "/_ping" } else { "/version" };
        c.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
    }
    for (i, mut c) in conns.into_iter().enumerate() {
        let mut answer = String::new();
        c.read_to_string(&mut answer).expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "connection {i}: {answer}"
        );
        if i % 2 == 0 {
            assert!(answer.ends_with("OK"), "connection {i}: {answer}");
        } else {
            assert!(
                answer.contains("\"ApiVersion\""),
                "connection {i}: {answer}"
            );
        }
    }
}

/// `-v HOST:/src` of a shared folder binds the host's own files (read and
/// written both ways); a folder outside every share is refused (docker's
/// exit code 125), not created empty in the VM.
fn host_folders_through_the_vm(docker: &DockerCli, share: &Path, outside: &Path) {
    std::fs::write(share.join("in.txt"), "written on the host\n").expect("write in.txt");
    let out = day::in_share(
        docker,
        share,
        "cat /src/in.txt && echo written-in-the-container > /src/out.txt",
    );
    assert_eq!(out, "written on the host\n");
    assert_eq!(
        std::fs::read_to_string(share.join("out.txt")).expect("out.txt on the host"),
        "written-in-the-container\n"
    );
    // A missing source inside the share is created there, on the host.
    let new = share.join("made/by/docker");
    let bind = format!("{}:/x", new.display());
    docker.ok(&["run", "--rm", "-v", &bind, "busybox", "touch", "/x/f"]);
    assert!(new.join("f").is_file(), "{} not on the host", new.display());

    let bind = format!("{}:/x", outside.display());
    let (code, stderr) = docker.fail(&["run", "--rm", "-v", &bind, "busybox", "true"]);
    assert_eq!(code, 125, "{stderr}");
    let want = format!(
        "bind source path {} is not shared with the Skiff VM (shared folders: {})",
        outside.display(),
        share.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
    assert!(
        !outside.exists(),
        "the refused source was created on the host"
    );
}

/// `-p 127.0.0.1:H:80` of a busybox httpd in the VM answers on the host's
/// 127.0.0.1:H, and the desktop app's Ports column links to it
/// ([`day::desktop_ports_column_links`], through `socket`); removing the
/// container closes the host's listener.
fn published_port_on_the_hosts_loopback(docker: &DockerCli, socket: &Path) {
    let port = util::free_port().expect("free port");
    let publish = format!("127.0.0.1:{port}:80");
    let id = docker.ok(&[
        "run",
        "-d",
        "-e",
        "BODY=served-from-the-vm",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo $BODY > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let id = id.trim();
    let addr = format!("127.0.0.1:{port}");
    let mut last = String::new();
    util::wait_until(
        "the published port on the host",
        Duration::from_secs(60),
        || match util::http_get(&addr, "/", &[]) {
            Ok(resp) if resp.status == 200 => {
                last = resp.text();
                true
            }
            Ok(resp) => {
                last = format!("HTTP {}", resp.status);
                false
            }
            Err(e) => {
                last = e.to_string();
                false
            }
        },
    );
    assert_eq!(last, "served-from-the-vm\n");
    day::desktop_ports_column_links(socket, id, port, "served-from-the-vm\n");
    docker.ok(&["rm", "-f", id]);
    util::wait_until(
        "the host's listener to close",
        Duration::from_secs(30),
        || std::net::TcpStream::connect(&addr).is_err(),
    );
}

#[test]
fn machine_lifecycle_with_the_docker_cli() {
    let _vm = VM.lock().unwrap_or_else(|e| e.into_inner());
    let image = image_dir();
    let registry = Registry::start();
    let env = Env::new();
    let image_arg = image.display().to_string();
    let mirror = registry.url();
    // The one host folder shared into the VM (instead of the default, the
    // user's home), and a folder beside it that is not shared.
    let share = env.home.with_file_name("share");
    let outside = env.home.with_file_name("outside");
    std::fs::create_dir_all(&share).expect("mkdir share");
    let share_arg = format!("{}", share.display());

    // create + start (TCG where KVM does not really work).
    let out = env.create("1536", "8", &mirror, &image_arg, &share_arg);
    assert!(out.contains("created machine default"), "{out}");
    assert_eq!(env.status(), "default: stopped");
    let started = Instant::now();
    let start = env.skiff(&["machine", "start"]);
    if !start.status.success() {
        env.dump();
        panic!("start failed: {}", String::from_utf8_lossy(&start.stderr));
    }
    let progress = String::from_utf8_lossy(&start.stderr);
    eprintln!("first start: {:.1} s", started.elapsed().as_secs_f64());
    for phase in ["launching:", "ready:"] {
        assert!(progress.contains(phase), "{progress}");
    }
    assert_eq!(env.status(), "default: running");
    let mode = std::fs::metadata(env.socket()).expect("docker.sock");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    // Nothing of the machine listens on TCP: neither the supervisor nor QEMU
    // (the registry is reached through a guestfwd `cmd:`, not a listener).
    let run: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.machine_dir().join("run.json")).expect("run.json"),
    )
    .expect("json");
    for key in ["supervisor_pid", "vm_pid"] {
        let pid = run[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {run}"));
        let listening = tcp_listeners_of(pid);
        assert!(
            listening.is_empty(),
            "{key} {pid} listens on TCP: {listening:?}"
        );
    }

    // eval "$(skiff env)"; docker run --rm hello-world — pulled in the VM
    // from the registry on the host's loopback.
    let script = format!(
        "eval \"$({} env)\" && {} run --rm hello-world",
        env.bin.display(),
        skiff_e2e::docker::docker_bin().display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("SKIFF_HOME", &env.home)
        .env("DOCKER_CONFIG", &env.docker_config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Hello from Docker!"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docker = env.docker();
    docker.ok(&["pull", "-q", "busybox"]);
    let ps = docker.ok(&["ps", "-a"]);
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");

    // The docker context `skiff`, in docker's own format.
    let ctx = Command::new(skiff_e2e::docker::docker_bin())
        .args([
            "--context",
            "skiff",
            "version",
            "--format",
            "{{.Server.Version}}",
        ])
        .env("DOCKER_CONFIG", &env.docker_config)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("docker --context");
    assert!(
        ctx.status.success(),
        "{}",
        String::from_utf8_lossy(&ctx.stderr)
    );
    let ctx = Command::new(skiff_e2e::docker::docker_bin())
        .args(["context", "ls", "--format", "{{.Name}} {{.DockerEndpoint}}"])
        .env("DOCKER_CONFIG", &env.docker_config)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("docker context ls");
    let listed = String::from_utf8_lossy(&ctx.stdout);
    assert!(
        listed.contains(&format!("skiff unix://{}", env.socket().display())),
        "{listed}"
    );

    // Many connections at once, and hijacked streams (attach, exec).
    concurrent_pings(&env.socket());
    let out = docker.run_with_stdin(
        &["run", "--rm", "-i", "busybox", "cat"],
        b"through\nthe relay\n",
    );
    assert_eq!(out.stdout, "through\nthe relay\n", "{}", out.stderr);
    let id = docker.ok(&["run", "-d", "busybox", "sleep", "600"]);
    let id = id.trim();
    let out = docker.run_with_stdin(
        &["exec", "-i", id, "sh", "-c", "cat; echo done"],
        b"exec in\n",
    );
    assert_eq!(out.stdout, "exec in\ndone\n", "{}", out.stderr);
    docker.ok(&["rm", "-f", id]);

    host_folders_through_the_vm(&docker, &share, &outside);
    day::modes_and_owner_round_trip(&docker, &share);
    published_port_on_the_hosts_loopback(&docker, &env.socket());
    let build_started = Instant::now();
    day::build_with_a_host_context(&docker, &env.home.with_file_name("build-context"));
    eprintln!(
        "docker build with a host context through the VM: {:.1} s",
        build_started.elapsed().as_secs_f64()
    );

    // A shell in the guest, through the relay (the image's busybox sh):
    // a command's output and exit status come back, and so does piped
    // stdin's.
    let out = env.skiff(&["machine", "shell", "--", "uname", "-a"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("Linux "), "{text}");
    let out = env.skiff(&[
        "machine",
        "shell",
        "--",
        "sh",
        "-c",
        "echo in-vm $(readlink /proc/1/exe) $(pidof skiffd >/dev/null && echo skiffd); exit 3",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("in-vm /init skiffd"), "{text}");
    let out = env.skiff(&["machine", "shell", "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    let mut piped = Command::new(&env.bin)
        .args(["machine", "shell"])
        .env("SKIFF_HOME", &env.home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("skiff machine shell");
    piped
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"echo piped $((6 * 7)); exit 5\n")
        .expect("write stdin");
    let out = piped.wait_with_output().expect("shell output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("piped 42"), "{text}");

    // The guest console.
    let logs = env.skiff_ok(&["machine", "logs"]);
    assert!(logs.contains("skiff-init"), "{logs}");

    // stop, start: the image is still there (the data disk persists).
    env.skiff_ok(&["machine", "stop"]);
    assert_eq!(env.status(), "default: stopped");
    assert!(!env.socket().exists(), "docker.sock outlived the machine");
    env.skiff_ok(&["machine", "stop"]); // idempotent
    // `skiff machine set` while stopped: the next boot has the new memory.
    let out = env.skiff_ok(&["machine", "set", "--memory", "1792", "--network", "nat"]);
    assert!(out.contains("2 CPUs, 1792 MiB"), "{out}");
    // Two starts at once: both return when the engine answers, and the
    // instance lock lets only one of them boot a VM.
    let started = Instant::now();
    let racer = {
        let bin = env.bin.clone();
        let (home, dc) = (env.home.clone(), env.docker_config.clone());
        std::thread::spawn(move || {
            Command::new(bin)
                .args(["machine", "start"])
                .env("SKIFF_HOME", home)
                .env("DOCKER_CONFIG", dc)
                .output()
                .expect("racing start")
        })
    };
    env.skiff_ok(&["machine", "start"]);
    let raced = racer.join().expect("racer");
    assert!(
        raced.status.success(),
        "{}",
        String::from_utf8_lossy(&raced.stderr)
    );
    eprintln!("second start: {:.1} s", started.elapsed().as_secs_f64());
    let disk = env.machine_dir().join("disk.img");
    let qemus = Command::new("pgrep")
        .args(["-f", &format!("file={},", disk.display())])
        .output()
        .expect("pgrep");
    assert_eq!(
        String::from_utf8_lossy(&qemus.stdout).lines().count(),
        1,
        "QEMU processes"
    );
    let out = env.skiff(&[
        "machine",
        "shell",
        "--",
        "grep",
        "MemTotal",
        "/proc/meminfo",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("MemTotal in {text:?}"));
    assert!(
        kib > 1600 * 1024,
        "the guest has {kib} KiB after set --memory 1792"
    );
    let images = docker.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(images.lines().any(|l| l == "busybox"), "{images}");
    assert!(images.lines().any(|l| l == "hello-world"), "{images}");

    // The developer's day, with NAT networking (no pull from here on).
    let day_started = Instant::now();
    day::host_services_at_host_docker_internal(&docker);
    let latency = day::host_edits_reach_an_inotify_watcher(&docker, &share);
    eprintln!(
        "host edit -> inotify event in a container: {} ms",
        latency.as_millis()
    );
    let (synced, off) = day::clock_after_a_pause(
        &docker,
        &env.machine_dir().join("qmp.sock"),
        Duration::from_secs(20),
    );
    eprintln!(
        "clock after a 20 s pause: within 1 s of the host {} ms after cont (off by {off:.3} s)",
        synced.as_millis()
    );
    eprintln!(
        "developer's day checks: {:.1} s",
        day_started.elapsed().as_secs_f64()
    );
    let compose_started = Instant::now();
    day::compose_through_the_vm(&docker, &share);
    eprintln!(
        "compose up --build --wait + down -v through the VM: {:.1} s",
        compose_started.elapsed().as_secs_f64()
    );

    // kill -9 of QEMU mid-write: status says so, and start recovers.
    let writes = crash::start(&docker);
    let run: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.machine_dir().join("run.json")).expect("run.json"),
    )
    .expect("json");
    let qemu = run["vm_pid"].as_i64().expect("vm_pid") as i32;
    // SAFETY: kill takes no pointers; the pid is QEMU's.
    assert_eq!(unsafe { libc::kill(qemu, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = env.status();
        if !status.contains("running") && !status.contains("starting") {
            break status;
        }
        assert!(Instant::now() < deadline, "status still {status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.starts_with("default: broken") && status.contains("signal 9"),
        "{status}"
    );
    writes.pull_ended();
    let start = env.skiff(&["machine", "start"]);
    let progress = String::from_utf8_lossy(&start.stderr).into_owned();
    if !start.status.success() {
        env.dump();
        panic!("start after the kill failed: {progress}");
    }
    assert_eq!(env.status(), "default: running");
    crash::recovered(|args| env.skiff(args), &docker, &progress);
    let out = docker.ok(&["run", "--rm", "busybox", "echo", "recovered"]);
    assert_eq!(out, "recovered\n");

    // rm removes every file (and the docker context).
    env.skiff_ok(&["machine", "rm"]);
    assert!(!env.machine_dir().exists(), "machine directory left behind");
    let list = env.skiff_ok(&["machine", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    let contexts = Command::new(skiff_e2e::docker::docker_bin())
        .args(["context", "ls", "--format", "{{.Name}}"])
        .env("DOCKER_CONFIG", &env.docker_config)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("docker context ls");
    assert!(
        !String::from_utf8_lossy(&contexts.stdout)
            .lines()
            .any(|l| l == "skiff"),
        "context left behind"
    );
}
