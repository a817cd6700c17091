//! Compose on skiffd (issue 16): the sample project of
//! `tests/fixtures/compose/` — a busybox httpd front with a published port
//! and a bind-mounted site, an api built from the project's Dockerfile with
//! build args and an anonymous volume, a db with a named volume and a
//! healthcheck, an init job, a custom network beside the default one,
//! `depends_on` on `service_healthy` and `service_completed_successfully`,
//! env files — driven by Compose v2 (`docker compose`, with
//! `DOCKER_BUILDKIT=0`: the legacy `/build`) and by Debian's Compose v1
//! (`docker-compose` 1.29.2).
//!
//! One skiffd serves the tests of this file that run at the same time
//! ([`daemon`]); each test works on a project name of its own and asserts
//! only about its project's objects. Traffic goes to the daemon's
//! namespace's `127.0.0.1` and to the project's containers; the
//! containers that resolve names have `dns: 127.0.0.1`, so nothing is
//! forwarded out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_e2e::util::wait_until;
use skiff_e2e::{CmdOutput, DockerCli, Skiffd, SkiffdOpts};

/// The daemon the running tests share: it stops when the last of them
/// drops its handle (a test that starts later gets a new one).
static DAEMON: Mutex<Weak<Skiffd>> = Mutex::new(Weak::new());

/// A bound against hangs (never a speed assertion).
const WAIT: Duration = Duration::from_secs(90);

/// The shared skiffd, with busybox pulled.
fn daemon() -> Arc<Skiffd> {
    let mut slot = DAEMON.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = slot.upgrade() {
        return d;
    }
    let d = Arc::new(Skiffd::start(SkiffdOpts::default()));
    d.docker_ok(&["pull", "-q", "busybox"]);
    *slot = Arc::downgrade(&d);
    d
}

/// `tests/fixtures/compose/compose.yaml`.
fn project_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/compose/compose.yaml")
}

/// Compose v2 on one project of one engine.
struct Compose {
    cli: DockerCli,
    project: String,
}

impl Compose {
    fn new(cli: &DockerCli, project: &str) -> Compose {
        Compose {
            cli: cli.clone().with_env("DOCKER_BUILDKIT", "0"),
            project: project.to_owned(),
        }
    }

    fn args<'a>(&'a self, file: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["compose", "-f", file, "-p", &self.project];
        all.extend_from_slice(args);
        all
    }

    fn run(&self, args: &[&str]) -> CmdOutput {
        let file = project_file();
        let file = file.to_str().expect("utf-8 path");
        self.cli.run(&self.args(file, args))
    }

    /// `docker compose ARGS`, panicking unless it exits 0; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.code, 0, "docker compose {args:?}: {out:?}");
        out.stdout
    }

    /// `docker compose ARGS` spawned with piped stdout (`logs -f`).
    fn spawn(&self, args: &[&str]) -> Child {
        let file = project_file();
        let file = file.to_str().expect("utf-8 path");
        self.cli
            .command(&self.args(file, args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawning docker compose")
    }

    /// `compose ps -a --format json`: one object per container, by name.
    fn ps(&self) -> BTreeMap<String, Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("compose ps JSON line");
                (v["Name"].as_str().unwrap_or_default().to_owned(), v)
            })
            .collect()
    }

    /// The label filter of this project's objects.
    fn label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.project)
    }

    /// Container name → id of this project's containers (all states).
    fn ids(&self) -> BTreeMap<String, String> {
        let out = self.cli.ok(&[
            "ps",
            "-a",
            "--filter",
            &self.label(),
            "--format",
            "{{.Names}} {{.ID}}",
        ]);
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, i)| (n.to_owned(), i.to_owned()))
            .collect()
    }
}

impl Compose {
    /// The full ids of this project's containers (all states).
    fn full_ids(&self) -> Vec<String> {
        let out = self
            .cli
            .ok(&["ps", "-a", "-q", "--no-trunc", "--filter", &self.label()]);
        out.lines().map(str::to_owned).collect()
    }
}

/// What removed container `id` left on the host: its directory, mounts
/// naming it (its overlay, its `/dev/shm`, …), its pinned network
/// namespace, its cgroups. Empty when nothing is left.
fn leftovers(d: &Skiffd, id: &str) -> Vec<String> {
    let mut left: Vec<String> = [
        d.data_root().join("containers").join(id),
        d.data_root().join("network/netns").join(id),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .map(|p| p.display().to_string())
    .collect();
    let mounts = skiff_mountinfo::read_self().expect("mountinfo");
    left.extend(
        mounts
            .iter()
            .map(|m| m.mount_point.display().to_string())
            .filter(|p| p.contains(id)),
    );
    left.extend(
        d.container_cgroup_dirs(id)
            .iter()
            .map(|p| p.display().to_string()),
    );
    left
}

fn inspect(cli: &DockerCli, what: &str) -> Value {
    let out = cli.ok(&["inspect", what]);
    let all: Value = serde_json::from_str(&out).expect("inspect JSON");
    all[0].clone()
}

/// `GET path` on the daemon namespace's `127.0.0.1:port`, retried while the
/// server is starting.
fn http_get(d: &Skiffd, port: u16, path: &str) -> String {
    d.netns()
        .http_get_ok(SocketAddr::from(([127, 0, 0, 1], port)), path)
}

/// The `Address:` lines of a busybox `nslookup` answer (the server's own
/// address comes first, as `Address: 127.0.0.11:53`, and is left out).
fn resolved(nslookup: &str) -> BTreeSet<String> {
    nslookup
        .lines()
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.contains(":53") && !a.starts_with("127."))
        .collect()
}

#[test]
fn compose_v2_runs_the_sample_project() {
    let d = daemon();
    if !d
        .docker()
        .has_compose_v2("compose_v2_runs_the_sample_project")
    {
        return;
    }
    let c = Compose::new(d.docker(), "sample");
    let cli = d.docker();

    // up: build, create in dependency order, wait for health and the job.
    c.ok(&["up", "-d", "--build", "--wait"]);
    let ps = c.ps();
    let names: Vec<&str> = ps.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "sample-api-1",
            "sample-db-1",
            "sample-init-1",
            "sample-web-1"
        ],
        "{ps:?}"
    );
    assert_eq!(ps["sample-db-1"]["State"], "running");
    assert_eq!(ps["sample-db-1"]["Health"], "healthy");
    assert_eq!(ps["sample-api-1"]["State"], "running");
    assert_eq!(ps["sample-web-1"]["State"], "running");
    assert_eq!(ps["sample-init-1"]["State"], "exited");
    assert_eq!(ps["sample-init-1"]["ExitCode"], 0);
    let publishers = &ps["sample-web-1"]["Publishers"];
    assert!(
        publishers.as_array().is_some_and(|p| p.iter().any(|p| {
            p["URL"] == "127.0.0.1" && p["PublishedPort"] == 8080 && p["TargetPort"] == 80
        })),
        "{publishers}"
    );

    // The front on its published port, the api through the default
    // network (build args, env file, the db over the back network), the
    // init job's copy in the db's named volume.
    let page = http_get(&d, 8080, "/");
    assert!(page.contains("skiff sample front"), "{page}");
    let info = c.ok(&[
        "exec",
        "-T",
        "web",
        "wget",
        "-qO-",
        "http://api:8000/cgi-bin/info",
    ]);
    for line in [
        "version=1.2",
        "greeting=hello from the build",
        "mode=compose",
        "seed=seeded-by-db",
    ] {
        assert!(info.lines().any(|l| l == line), "{line} in {info}");
    }
    let copied = c.ok(&["exec", "-T", "db", "cat", "/data/copied"]);
    assert_eq!(copied, "seeded-by-db\n");
    // web is not on the back network: db is not its name to resolve.
    let out = c.run(&["exec", "-T", "web", "timeout", "10", "nslookup", "db"]);
    assert_ne!(out.code, 0, "web resolves db: {out:?}");

    // --scale api=3: two more api containers, the others untouched; the
    // service name resolves to the three of them (DNS round-robin).
    let before = c.ids();
    c.ok(&["up", "-d", "--wait", "--scale", "api=3"]);
    let scaled = c.ids();
    assert_eq!(scaled.len(), 6, "{scaled:?}");
    for (name, id) in &before {
        assert_eq!(scaled.get(name), Some(id), "{name} was recreated");
    }
    let api_ips: BTreeSet<String> = (1..=3)
        .map(|i| {
            let c = inspect(cli, &format!("sample-api-{i}"));
            c["NetworkSettings"]["Networks"]["sample_default"]["IPAddress"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(api_ips.len(), 3, "{api_ips:?}");
    let answer = c.ok(&["exec", "-T", "web", "nslookup", "api"]);
    assert_eq!(resolved(&answer), api_ips, "{answer}");

    // logs: every service's lines, prefixed by its container's name.
    let logs = c.ok(&["logs", "--no-color"]);
    for (prefix, text) in [
        ("db-1", "db: ready"),
        ("init-1", "init: copied seeded-by-db"),
    ] {
        assert!(
            logs.lines()
                .any(|l| l.starts_with(prefix) && l.contains(" | ") && l.ends_with(text)),
            "{prefix} | {text} in {logs}"
        );
    }
    // logs -f follows: a request made while it runs shows up in web's log.
    follow_logs_sees_a_new_request(&d, &c);

    // restart: the same containers, started again.
    let started = |name: &str| inspect(cli, name)["State"]["StartedAt"].clone();
    let api_started = started("sample-api-2");
    c.ok(&["restart", "api"]);
    assert_ne!(started("sample-api-2"), api_started);
    assert_eq!(c.ids(), scaled);
    assert_eq!(inspect(cli, "sample-api-2")["State"]["Running"], true);

    // stop / start.
    c.ok(&["stop"]);
    for (name, row) in c.ps() {
        assert_eq!(row["State"], "exited", "{name}: {row}");
    }
    c.ok(&["start"]);
    wait_until("db healthy after start", WAIT, || {
        c.ps()["sample-db-1"]["Health"] == "healthy"
    });
    for (name, row) in c.ps() {
        if name != "sample-init-1" {
            assert_eq!(row["State"], "running", "{name}: {row}");
        }
    }
    assert_eq!(c.ids(), scaled);

    // up again, nothing changed: every container is kept.
    c.ok(&["up", "-d", "--wait", "--scale", "api=3"]);
    assert_eq!(c.ids(), scaled);
    let page = http_get(&d, 8080, "/");
    assert!(page.contains("skiff sample front"), "{page}");

    // down -v: containers, networks, the named volume and the api's
    // anonymous volumes are gone.
    let mut volumes: Vec<String> = vec!["sample_dbdata".into()];
    for i in 1..=3 {
        let api = inspect(cli, &format!("sample-api-{i}"));
        let mounts = api["Mounts"].as_array().cloned().unwrap_or_default();
        let cache = mounts
            .iter()
            .find(|m| m["Destination"] == "/cache")
            .unwrap_or_else(|| panic!("no /cache volume: {mounts:?}"));
        volumes.push(cache["Name"].as_str().unwrap_or_default().to_owned());
    }
    for v in &volumes {
        cli.ok(&["volume", "inspect", v]);
    }
    let full_ids = c.full_ids();
    assert_eq!(full_ids.len(), 6, "{full_ids:?}");
    c.ok(&["down", "-v"]);
    // Nothing leaked: no directory, mount, namespace or cgroup of any
    // of the project's containers, and the published port is closed.
    for id in &full_ids {
        let left = leftovers(&d, id);
        assert!(left.is_empty(), "container {id} left {left:?}");
    }
    let refused = d
        .netns()
        .tcp_connect(SocketAddr::from(([127, 0, 0, 1], 8080)))
        .is_err();
    assert!(refused, "127.0.0.1:8080 still answers after down -v");
    assert_eq!(c.ids(), BTreeMap::new());
    assert_eq!(c.ps(), BTreeMap::new());
    let networks = cli.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains("sample_"), "{networks}");
    let label = c.label();
    let left = cli.ok(&["network", "ls", "-q", "--filter", &label]);
    assert_eq!(left.trim(), "");
    let left = cli.ok(&["volume", "ls", "-q", "--filter", &label]);
    assert_eq!(left.trim(), "");
    let all_volumes = cli.ok(&["volume", "ls", "-q"]);
    for v in &volumes {
        assert!(
            !all_volumes.lines().any(|l| l == v),
            "{v} left: {all_volumes}"
        );
    }
}

/// `compose logs -f web` keeps following: a request made after it started
/// appears in its output, prefixed `web-1 | `. It is stopped afterwards.
fn follow_logs_sees_a_new_request(d: &Skiffd, c: &Compose) {
    let mut child = c.spawn(&["logs", "-f", "--no-color", "web"]);
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let path = "/follow-me.html";
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let mut next_request = Instant::now();
    let found = loop {
        // One request a second until its line shows (404s are logged too).
        if Instant::now() >= next_request {
            next_request = Instant::now() + Duration::from_secs(1);
            let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
            let _ = d.netns().tcp_connect(addr).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                write!(s, "GET {path} HTTP/1.0\r\n\r\n")?;
                let mut sink = Vec::new();
                s.read_to_end(&mut sink)
            });
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(path) => break Some(line),
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => break None,
        }
    };
    let still_running = matches!(child.try_wait(), Ok(None));
    // The CLI runs the plugin as a child of its own: the whole group goes.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    let _ = reader.join();
    seen.truncate(20);
    let line = found.unwrap_or_else(|| panic!("logs -f never showed {path}: {seen:?}"));
    assert!(line.starts_with("web-1") && line.contains(" | "), "{line}");
    assert!(still_running, "logs -f exited on its own");
}

/// Compose v1 (Debian's `docker-compose` 1.29.2, the Python client): the
/// same project under another name and port — `up -d --build` (v1 has no
/// `--wait`: its `depends_on` conditions make `up` wait for the db's
/// health and the init job's success), `ps`, the front and the api
/// answering, `down -v` leaving nothing of the project.
#[test]
fn compose_v1_runs_the_sample_project() {
    let d = daemon();
    let Some(bin) = skiff_e2e::util::find_program("SKIFF_COMPOSE_V1", &[], "docker-compose") else {
        eprintln!("compose_v1_runs_the_sample_project: skipped: no docker-compose (apt)");
        return;
    };
    let cli = d.docker();
    let file = project_file();
    let file = file.to_str().expect("utf-8 path");
    // WEB_PORT from the environment wins over the project's `.env`.
    let v1 = cli
        .clone()
        .with_program(bin)
        .with_env("WEB_PORT", "8081")
        .with_env("COMPOSE_DOCKER_CLI_BUILD", "0");
    let compose = |args: &[&str]| {
        let mut all = vec!["--no-ansi", "-f", file, "-p", "samplev1"];
        all.extend_from_slice(args);
        v1.ok(&all)
    };
    compose(&["up", "-d", "--build"]);
    let ps = compose(&["ps"]);
    let row = |name: &str| {
        ps.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {ps}"))
            .to_owned()
    };
    assert!(row("samplev1_db_1").contains("Up (healthy)"), "{ps}");
    assert!(row("samplev1_init_1").contains("Exit 0"), "{ps}");
    assert!(row("samplev1_api_1").contains("Up"), "{ps}");
    assert!(
        row("samplev1_web_1").contains("127.0.0.1:8081->80/tcp"),
        "{ps}"
    );
    let page = http_get(&d, 8081, "/");
    assert!(page.contains("skiff sample front"), "{page}");
    let info = cli.ok(&[
        "exec",
        "samplev1_web_1",
        "wget",
        "-qO-",
        "http://api:8000/cgi-bin/info",
    ]);
    assert!(info.lines().any(|l| l == "seed=seeded-by-db"), "{info}");
    assert!(info.lines().any(|l| l == "version=1.2"), "{info}");
    let anonymous = inspect(cli, "samplev1_api_1")["Mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["Destination"] == "/cache"))
        .and_then(|m| m["Name"].as_str())
        .expect("the api's /cache volume")
        .to_owned();

    compose(&["down", "-v"]);
    let label = "label=com.docker.compose.project=samplev1";
    for kind in ["container", "network", "volume"] {
        let mut args = vec![kind, "ls", "-q", "--filter", label];
        if kind == "container" {
            args.push("-a");
        }
        let left = cli.ok(&args);
        assert_eq!(left.trim(), "", "{kind}s left");
    }
    let volumes = cli.ok(&["volume", "ls", "-q"]);
    assert!(
        !volumes
            .lines()
            .any(|v| v == anonymous || v == "samplev1_dbdata"),
        "{volumes}"
    );
}

/// What should not depend on the engine, for every container of `c`'s
/// project: `compose ps`'s row and the parts of inspect Compose asked for
/// (its labels, networks and aliases, mounts, ports, health, init, DNS),
/// plus the project's networks and volumes. Ids, addresses, times and
/// host paths are left out; an anonymous volume's name becomes `<anon>`.
fn engine_independent_facts(c: &Compose) -> Value {
    let cli = &c.cli;
    let mut containers = serde_json::Map::new();
    for (name, row) in c.ps() {
        let i = inspect(cli, &name);
        let labels: BTreeMap<String, Value> = i["Config"]["Labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !k.ends_with(".image") && k.as_str() != "com.docker.compose.version")
            .map(|(k, v)| {
                // Compose writes its dependencies in Go's map order.
                if k == "com.docker.compose.depends_on" {
                    let mut deps: Vec<&str> = v.as_str().unwrap_or_default().split(',').collect();
                    deps.sort_unstable();
                    return (k.clone(), serde_json::json!(deps.join(",")));
                }
                (k.clone(), v.clone())
            })
            .collect();
        let networks: BTreeMap<String, Value> = i["NetworkSettings"]["Networks"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(net, ep)| {
                let mut aliases: Vec<String> = ep["Aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    // dockerd 20.10 adds the short id itself.
                    .filter(|a| !i["Id"].as_str().unwrap_or_default().starts_with(a.as_str()))
                    .collect();
                aliases.sort();
                (net.clone(), serde_json::json!(aliases))
            })
            .collect();
        let mut mounts: Vec<Value> = i["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let name = m["Name"].as_str().map(|n| {
                    if n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()) {
                        "<anon>".to_owned()
                    } else {
                        n.to_owned()
                    }
                });
                serde_json::json!({
                    "Type": m["Type"], "Name": name, "Destination": m["Destination"],
                    "RW": m["RW"], "Driver": m["Driver"],
                })
            })
            .collect();
        mounts.sort_by_key(|m| m["Destination"].to_string());
        let publishers: Vec<Value> = row["Publishers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["PublishedPort"] != 0)
            .cloned()
            .collect();
        containers.insert(
            name,
            serde_json::json!({
                "ps": {
                    "Service": row["Service"], "State": row["State"], "Health": row["Health"],
                    "ExitCode": row["ExitCode"], "Publishers": publishers,
                },
                "Labels": labels,
                "Networks": networks,
                "Mounts": mounts,
                "PortBindings": i["HostConfig"]["PortBindings"],
                "Init": i["HostConfig"]["Init"],
                "Dns": i["HostConfig"]["Dns"],
                "DnsSearch": i["HostConfig"]["DnsSearch"],
                "Healthcheck": i["Config"]["Healthcheck"],
                "HealthStatus": i["State"]["Health"]["Status"],
                "Env": i["Config"]["Env"],
                "Cmd": i["Config"]["Cmd"],
            }),
        );
    }
    let listed = |kind: &str| -> Vec<Value> {
        let out = cli.ok(&[kind, "ls", "-q", "--filter", &c.label()]);
        let mut all: Vec<Value> = out
            .lines()
            .map(|id| {
                let i = inspect(cli, id);
                serde_json::json!({"Name": i["Name"], "Labels": i["Labels"], "Driver": i["Driver"]})
            })
            .collect();
        all.sort_by_key(|v| v["Name"].to_string());
        all
    };
    serde_json::json!({
        "containers": containers,
        "networks": listed("network"),
        "volumes": listed("volume"),
    })
}

/// The same Compose v2 commands against skiffd and a private dockerd
/// 20.10 (`skiff_e2e::Dockerd`, in namespaces of its own): after `up -d
/// --build --wait`, `restart api`, `stop`, `start`, `up -d --wait --scale
/// api=3` (the name `api` resolving to 3 addresses on both), `up` again
/// (nothing recreated on either) and `down -v`, the engine-independent
/// facts ([`engine_independent_facts`]) are the same, and so are the db's
/// and the init job's `logs` and what `exec` of the front reads from the
/// api.
#[test]
fn compose_v2_matches_dockerd() {
    let d = daemon();
    if !d.docker().has_compose_v2("compose_v2_matches_dockerd") {
        return;
    }
    if !skiff_e2e::dockerd::dockerd_bin().is_file() {
        eprintln!("compose_v2_matches_dockerd: skipped: no dockerd");
        return;
    }
    let reference = skiff_e2e::Dockerd::start();
    let config = skiff_e2e::util::tempdir("skiff-compose-cli-").expect("temp dir");
    let dockerd_cli = DockerCli::new(
        format!("unix://{}", reference.socket().display()),
        config.path(),
    );
    let project = "samplediff";
    let engines = [
        (
            "skiffd",
            Compose::new(&d.docker().clone().with_env("WEB_PORT", "8082"), project),
        ),
        (
            "dockerd",
            Compose::new(&dockerd_cli.with_env("WEB_PORT", "8082"), project),
        ),
    ];
    let mut facts = Vec::new();
    for (engine, c) in &engines {
        let out = c.run(&["up", "-d", "--build", "--wait"]);
        assert_eq!(out.code, 0, "{engine}: compose up: {out:?}");
        facts.push(engine_independent_facts(c));
    }
    assert_same(&facts[0], &facts[1], "after up");
    // The db's and the init job's logs, but httpd's request lines (they
    // hold the client's address).
    let logs: Vec<Value> = engines
        .iter()
        .map(|(_, c)| {
            let mut lines: Vec<String> = c
                .ok(&["logs", "--no-color", "db", "init"])
                .lines()
                .filter(|l| !l.contains("[::ffff:"))
                // The prefixes' padding depends on which container Compose
                // attached first.
                .map(|l| match l.split_once('|') {
                    Some((name, text)) => format!("{} |{text}", name.trim_end()),
                    None => l.to_owned(),
                })
                .collect();
            lines.sort();
            serde_json::json!(lines)
        })
        .collect();
    assert_same(&logs[0], &logs[1], "logs db init");
    // exec: the api's answer through the front (build args, env files, the
    // db's seed), but its host name (the container's short id).
    let answers: Vec<Value> = engines
        .iter()
        .map(|(_, c)| {
            let info = c.ok(&[
                "exec",
                "-T",
                "web",
                "wget",
                "-qO-",
                "http://api:8000/cgi-bin/info",
            ]);
            let lines: Vec<&str> = info.lines().filter(|l| !l.starts_with("host=")).collect();
            serde_json::json!(lines)
        })
        .collect();
    assert_same(&answers[0], &answers[1], "exec web wget api");
    // restart: the same containers, started again.
    let mut restarted = Vec::new();
    for (engine, c) in &engines {
        let ids = c.ids();
        let started = || inspect(&c.cli, &format!("{project}-api-1"))["State"]["StartedAt"].clone();
        let before = started();
        let out = c.run(&["restart", "api"]);
        assert_eq!(out.code, 0, "{engine}: compose restart: {out:?}");
        assert_ne!(started(), before, "{engine}: api not restarted");
        assert_eq!(c.ids(), ids, "{engine}: restart recreated containers");
        restarted.push(engine_independent_facts(c));
    }
    assert_same(&restarted[0], &restarted[1], "after restart api");
    // stop: every container exited, with the same codes.
    let mut stopped = Vec::new();
    for (engine, c) in &engines {
        let out = c.run(&["stop"]);
        assert_eq!(out.code, 0, "{engine}: compose stop: {out:?}");
        stopped.push(engine_independent_facts(c));
    }
    assert_same(&stopped[0], &stopped[1], "after stop");
    // start: the same containers again, the db healthy, the job re-run.
    let mut started = Vec::new();
    for (engine, c) in &engines {
        let ids = c.ids();
        let out = c.run(&["start"]);
        assert_eq!(out.code, 0, "{engine}: compose start: {out:?}");
        wait_until(&format!("{engine}: db healthy, init done"), WAIT, || {
            let ps = c.ps();
            ps[&format!("{project}-db-1")]["Health"] == "healthy"
                && ps[&format!("{project}-init-1")]["State"] == "exited"
        });
        assert_eq!(c.ids(), ids, "{engine}: start recreated containers");
        started.push(engine_independent_facts(c));
    }
    assert_same(&started[0], &started[1], "after start");
    // up again, scaled: the stopped containers started, two more api
    // containers, the service name resolving to the three.
    let mut scaled = Vec::new();
    for (engine, c) in &engines {
        let out = c.run(&["up", "-d", "--wait", "--scale", "api=3"]);
        assert_eq!(out.code, 0, "{engine}: compose up --scale: {out:?}");
        let answer = c.ok(&["exec", "-T", "web", "nslookup", "api"]);
        assert_eq!(resolved(&answer).len(), 3, "{engine}: {answer}");
        scaled.push(engine_independent_facts(c));
    }
    assert_same(&scaled[0], &scaled[1], "after up --scale api=3");
    // up again, nothing changed: every container is kept, on both.
    let mut again = Vec::new();
    for (engine, c) in &engines {
        let ids = c.ids();
        let out = c.run(&["up", "-d", "--wait", "--scale", "api=3"]);
        assert_eq!(out.code, 0, "{engine}: compose up again: {out:?}");
        assert_eq!(c.ids(), ids, "{engine}: up recreated unchanged containers");
        again.push(engine_independent_facts(c));
    }
    assert_same(&again[0], &again[1], "after up again");
    let mut after = Vec::new();
    for (engine, c) in &engines {
        let out = c.run(&["down", "-v"]);
        assert_eq!(out.code, 0, "{engine}: compose down: {out:?}");
        after.push(engine_independent_facts(c));
    }
    assert_same(&after[0], &after[1], "after down -v");
    assert_eq!(after[0]["containers"], serde_json::json!({}));
}

/// Panics with both sides pretty-printed when they differ.
fn assert_same(skiffd: &Value, dockerd: &Value, when: &str) {
    if skiffd != dockerd {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        panic!(
            "{when}: skiffd and dockerd differ\n--- skiffd ---\n{}\n--- dockerd ---\n{}",
            pretty(skiffd),
            pretty(dockerd)
        );
    }
}
