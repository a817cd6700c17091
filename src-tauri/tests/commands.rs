//! The commands through Tauri's IPC (the mock runtime) against a real
//! skiffd with its own seeded registry: pull with progress events, list,
//! run, inspect, logs events, stop, remove, remove_image, the background
//! `/events` follower, and the error shape when no engine answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skiff_desktop::engine::Engine;
use skiff_desktop::engine::events::{self as engine_events, EngineEvent, Sinks};
use skiff_desktop::machine::{Machine, Unavailable};
use skiff_e2e::{Skiffd, SkiffdOpts};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};

/// The app with the real command set, on the mock runtime, talking to
/// `endpoint`.
struct TestApp {
    app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
}

impl TestApp {
    fn new(endpoint: &str) -> TestApp {
        let machine = Machine::new(Arc::new(Unavailable));
        let app = skiff_desktop::with_commands(mock_builder(), Engine::fixed(endpoint), machine)
            .build(mock_context(noop_assets()))
            .expect("building the app");
        let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("creating the webview");
        TestApp { app, webview }
    }

    fn for_skiffd(d: &Skiffd) -> TestApp {
        TestApp::new(&d.docker_host())
    }

    /// Invokes `cmd` with `args` as the UI would; the JSON answer or the
    /// JSON error.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.webview,
            tauri::webview::InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: tauri::ipc::InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().expect("a JSON answer"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        match self.invoke(cmd, args.clone()) {
            Ok(value) => value,
            Err(err) => panic!("{cmd} {args}: {err}"),
        }
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        match self.invoke(cmd, args.clone()) {
            Ok(value) => panic!("{cmd} {args} succeeded: {value}"),
            Err(err) => err,
        }
    }

    /// Collects the payloads of `event`.
    fn record(&self, event: &str) -> Recorder {
        let recorder = Recorder::default();
        let events = recorder.0.clone();
        self.app.listen_any(event, move |e| {
            let payload: Value = serde_json::from_str(e.payload()).expect("JSON payload");
            events.lock().expect("lock").push(payload);
        });
        recorder
    }
}

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

impl Recorder {
    fn all(&self) -> Vec<Value> {
        self.0.lock().expect("lock").clone()
    }

    /// Waits until a payload satisfies `pred`; panics with what came.
    fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.all().into_iter().find(|v| pred(v)) {
                return found;
            }
            if Instant::now() > deadline {
                panic!("no {what} among {:#?}", self.all());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|item| item[key] == value)
}

fn tags_contain(list: &Value, tag: &str) -> bool {
    list.as_array().expect("a list").iter().any(|image| {
        image["repoTags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| t == tag))
    })
}

#[test]
fn pull_list_and_remove_images() {
    let d = Skiffd::start(SkiffdOpts::default());
    let app = TestApp::for_skiffd(&d);
    let progress = app.record("pull-progress");
    let done = app.record("pull-done");

    assert_eq!(
        app.ok("pull_image", json!({ "reference": "busybox" })),
        Value::Null
    );
    let lines = progress.all();
    assert!(
        lines.iter().all(|l| l["reference"] == "busybox"),
        "{lines:#?}"
    );
    // A layer went through its steps, with byte counts while downloading.
    assert!(
        lines
            .iter()
            .any(|l| l["layer"].is_string() && l["status"] == "Pull complete"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["current"].is_number() && l["total"].is_number()),
        "{lines:#?}"
    );
    assert_eq!(
        done.all(),
        [json!({ "reference": "busybox", "error": null })]
    );
    // The engine has it.
    assert!(
        d.docker_ok(&["images", "-q", "busybox:latest"])
            .trim()
            .len()
            >= 12
    );

    let images = app.ok("list_images", json!({}));
    let busybox = images
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["repoTags"] == json!(["busybox:latest"]))
        .unwrap_or_else(|| panic!("busybox in {images:#}"));
    assert!(busybox["id"].as_str().expect("id").starts_with("sha256:"));
    assert!(busybox["size"].as_i64().expect("size") > 0);
    assert!(busybox["created"].as_i64().expect("created") > 0);
    assert_eq!(busybox["inUse"], false);

    // A reference the registry does not have: the command and pull-done
    // both say so.
    let err = app.err("pull_image", json!({ "reference": "busybox:no-such-tag" }));
    assert_eq!(err["kind"], "not_found", "{err}");
    let message = err["message"].as_str().expect("message");
    assert!(message.contains("busybox:no-such-tag"), "{message}");
    let failed = done.wait_for("a failed pull", |v| v["reference"] == "busybox:no-such-tag");
    assert_eq!(failed["error"], message);

    assert_eq!(
        app.ok(
            "remove_image",
            json!({ "id": "busybox:latest", "force": false })
        ),
        Value::Null
    );
    assert!(!tags_contain(
        &app.ok("list_images", json!({})),
        "busybox:latest"
    ));
    assert_eq!(d.docker_ok(&["images", "-q", "busybox"]).trim(), "");
    let err = app.err(
        "remove_image",
        json!({ "id": "busybox:latest", "force": true }),
    );
    assert_eq!(err["kind"], "not_found", "{err}");
}

#[test]
fn run_inspect_logs_stop_and_remove_a_container() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let app = TestApp::for_skiffd(&d);

    let id = app.ok(
        "run_container",
        json!({ "request": {
            "image": "busybox",
            "name": "web",
            "env": ["GREETING=hello there"],
            "cmd": "sh -c 'echo \"$GREETING\"; echo oops >&2; while true; do sleep 1; done'",
            "autoRemove": false
        }}),
    );
    let id = id.as_str().expect("an id").to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}} {{.Name}}", &id])
            .trim(),
        "true /web"
    );

    let list = app.ok("list_containers", json!({}));
    let row = find(&list, "id", &id).unwrap_or_else(|| panic!("{id} in {list:#}"));
    assert_eq!(row["name"], "web");
    assert_eq!(row["image"], "busybox");
    assert_eq!(row["state"], "running");
    assert!(
        row["status"].as_str().expect("status").starts_with("Up"),
        "{row}"
    );
    assert!(row["created"].as_i64().expect("created") > 1_600_000_000);
    assert_eq!(row["ports"], "");

    let doc = app.ok("inspect_container", json!({ "id": id }));
    assert_eq!(doc["Id"], id.as_str());
    assert_eq!(doc["State"]["Running"], true);
    assert!(
        doc["Config"]["Env"]
            .as_array()
            .expect("env")
            .contains(&json!("GREETING=hello there")),
        "{doc:#}"
    );
    assert_eq!(doc["Config"]["Cmd"][0], "sh");

    let images = app.ok("list_images", json!({}));
    let busybox = find_image(&images, "busybox:latest");
    assert_eq!(busybox["inUse"], true);

    let logs = app.record("container-log");
    assert_eq!(app.ok("follow_logs", json!({ "id": id })), Value::Null);
    logs.wait_for("the stdout line", |v| {
        v["id"] == id.as_str() && v["stream"] == "stdout" && v["line"] == "hello there"
    });
    logs.wait_for("the stderr line", |v| {
        v["stream"] == "stderr" && v["line"] == "oops"
    });
    assert_eq!(app.ok("stop_logs", json!({ "id": id })), Value::Null);

    // After stop_logs, a restart prints again but no line arrives.
    assert_eq!(
        app.ok("container_action", json!({ "id": id, "action": "restart" })),
        Value::Null
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", &id])
            .trim(),
        "true"
    );
    let before = logs.all().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(logs.all().len(), before, "stop_logs left a follower");

    assert_eq!(
        app.ok("container_action", json!({ "id": id, "action": "stop" })),
        Value::Null
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &id])
            .trim(),
        "exited"
    );
    let list = app.ok("list_containers", json!({}));
    assert_eq!(
        find(&list, "id", &id).expect("still listed")["state"],
        "exited"
    );

    assert_eq!(
        app.ok("container_action", json!({ "id": id, "action": "start" })),
        Value::Null
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", &id])
            .trim(),
        "true"
    );

    // Remove is forced: the container is running.
    assert_eq!(
        app.ok("container_action", json!({ "id": id, "action": "remove" })),
        Value::Null
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    assert!(find(&app.ok("list_containers", json!({})), "id", &id).is_none());

    // Errors keep their shape.
    let err = app.err("container_action", json!({ "id": id, "action": "stop" }));
    assert_eq!(err["kind"], "not_found", "{err}");
    assert!(err["message"].as_str().expect("message").ends_with('.'));
    let err = app.err("inspect_container", json!({ "id": "nope" }));
    assert_eq!(err["kind"], "not_found", "{err}");
    let err = app.err("follow_logs", json!({ "id": "nope" }));
    assert_eq!(err["kind"], "not_found", "{err}");
    let err = app.err(
        "run_container",
        json!({ "request": { "image": "busybox", "name": null, "env": [], "cmd": "echo 'unbalanced", "autoRemove": true }}),
    );
    assert_eq!(err["kind"], "invalid_request", "{err}");
    let err = app.err(
        "run_container",
        json!({ "request": { "image": "no-such-image:1", "name": null, "env": [], "cmd": null, "autoRemove": true }}),
    );
    assert_eq!(err["kind"], "not_found", "{err}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn auto_remove_and_short_lived_containers() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let app = TestApp::for_skiffd(&d);
    let logs = app.record("container-log");
    let id = app.ok(
        "run_container",
        json!({ "request": { "image": "busybox", "name": null, "env": [], "cmd": "echo bye", "autoRemove": false }}),
    );
    let id = id.as_str().expect("id").to_string();
    // The logs of an exited container: its lines, then the follower ends.
    wait_until("the container exits", || {
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &id])
            .trim()
            == "exited"
    });
    app.ok("follow_logs", json!({ "id": id }));
    logs.wait_for("bye", |v| v["line"] == "bye");

    let id = app.ok(
        "run_container",
        json!({ "request": { "image": "busybox", "name": "gone", "env": [], "cmd": "true", "autoRemove": true }}),
    );
    let id = id.as_str().expect("id").to_string();
    wait_until("--rm removes it", || {
        !d.docker_ok(&["ps", "-aq", "--no-trunc"]).contains(&id)
    });
}

#[test]
fn no_engine_gives_readable_errors() {
    let app = TestApp::new("unix:///nonexistent/skiff/docker.sock");
    let status = app.ok("engine_status", json!({}));
    assert_eq!(status["reachable"], false);
    assert_eq!(status["endpoint"], "unix:///nonexistent/skiff/docker.sock");
    assert_eq!(status["version"], Value::Null);
    assert!(
        status["error"]
            .as_str()
            .expect("error")
            .contains("not reachable")
    );

    let err = app.err("list_containers", json!({}));
    assert_eq!(
        err,
        json!({
            "kind": "engine_unreachable",
            "message": "The container engine at unix:///nonexistent/skiff/docker.sock is not reachable (there is no socket at /nonexistent/skiff/docker.sock)."
        })
    );
    for (cmd, args) in [
        ("list_images", json!({})),
        ("inspect_container", json!({ "id": "x" })),
        ("pull_image", json!({ "reference": "busybox" })),
    ] {
        assert_eq!(app.err(cmd, args)["kind"], "engine_unreachable", "{cmd}");
    }

    // No machine manager in this build: no machine, and a clear refusal.
    assert_eq!(app.ok("machine_info", json!({})), Value::Null);
    let err = app.err("machine_start", json!({}));
    assert_eq!(err["kind"], "machine_unavailable", "{err}");
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .starts_with("This build")
    );
}

#[test]
fn engine_status_of_a_running_skiffd() {
    let d = Skiffd::start(SkiffdOpts::default());
    let app = TestApp::for_skiffd(&d);
    let status = app.ok("engine_status", json!({}));
    assert_eq!(status["reachable"], true, "{status}");
    assert_eq!(status["endpoint"], d.docker_host());
    assert_eq!(status["error"], Value::Null);
    let expected = d.docker_ok(&["version", "-f", "{{.Server.Version}}"]);
    assert_eq!(status["version"], expected.trim());
}

#[test]
fn the_events_follower_reports_events_and_reachability() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let events = Arc::new(Mutex::new(Vec::<EngineEvent>::new()));
    let states = Arc::new(Mutex::new(Vec::<(bool, String)>::new()));
    let (seen_events, seen_states) = (events.clone(), states.clone());
    let sinks = Sinks {
        event: Arc::new(move |e| seen_events.lock().expect("lock").push(e)),
        state: Arc::new(move |s| {
            seen_states
                .lock()
                .expect("lock")
                .push((s.reachable, s.endpoint))
        }),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let engine = Engine::fixed(d.docker_host());
    let task = runtime.spawn(engine_events::watch(
        engine,
        sinks,
        Arc::new(tokio::sync::Notify::new()),
    ));
    wait_until("reachable", || states.lock().expect("lock").len() == 1);
    assert_eq!(states.lock().expect("lock")[0], (true, d.docker_host()));

    let id = d.docker_ok(&["run", "-d", "--name", "evt", "busybox", "true"]);
    let id = id.trim().to_string();
    wait_until("container events", || {
        let events = events.lock().expect("lock");
        ["create", "start", "die"].iter().all(|action| {
            events
                .iter()
                .any(|e| e.typ == "container" && e.action == *action && e.actor.id == id)
        })
    });
    {
        let events = events.lock().expect("lock");
        let start = events
            .iter()
            .find(|e| e.action == "start")
            .expect("start event");
        assert_eq!(
            start.actor.attributes.get("name").map(String::as_str),
            Some("evt")
        );
        assert!(start.time > 1_600_000_000);
    }

    d.stop();
    wait_until("unreachable", || states.lock().expect("lock").len() == 2);
    assert!(!states.lock().expect("lock")[1].0);
    d.restart();
    wait_until("reachable again", || {
        states.lock().expect("lock").len() == 3
    });
    assert!(states.lock().expect("lock")[2].0);
    // Following resumes on the new daemon.
    d.docker_ok(&["rm", "evt"]);
    wait_until("the destroy event", || {
        events
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.action == "destroy" && e.actor.id == id)
    });
    task.abort();
}

fn find_image<'a>(list: &'a Value, tag: &str) -> &'a Value {
    list.as_array()
        .expect("list")
        .iter()
        .find(|i| {
            i["repoTags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == tag))
        })
        .unwrap_or_else(|| panic!("{tag} in {list:#}"))
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn volumes_create_list_with_users_remove_and_prune() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let app = TestApp::for_skiffd(&d);

    let name = app.ok(
        "create_volume",
        json!({ "request": { "name": "app-data", "driver": null, "labels": ["team=web"] } }),
    );
    assert_eq!(name, "app-data");
    assert_eq!(
        d.docker_ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Driver}} {{.Labels.team}}",
            "app-data"
        ])
        .trim(),
        "local web"
    );
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        "app-data:/data",
        "busybox",
        "sleep",
        "600",
    ]);
    let list = app.ok("list_volumes", json!({}));
    let row = find(&list, "name", "app-data").unwrap_or_else(|| panic!("app-data in {list:#}"));
    assert_eq!(row["usedBy"], json!(["user"]), "{row}");
    assert_eq!(row["driver"], "local");
    assert!(
        row["created"]
            .as_str()
            .is_some_and(|c| c.starts_with("20") && c.contains('T') && c.ends_with('Z')),
        "{row}"
    );

    // In use: the engine's refusal comes back as a conflict.
    let err = app.err(
        "remove_volume",
        json!({ "name": "app-data", "force": false }),
    );
    assert_eq!(err["kind"], "conflict", "{err}");
    d.docker_ok(&["rm", "-f", "user"]);
    app.ok(
        "remove_volume",
        json!({ "name": "app-data", "force": false }),
    );
    assert!(find(&app.ok("list_volumes", json!({})), "name", "app-data").is_none());

    // Prune: anonymous volumes only, unless `all`.
    d.docker_ok(&["volume", "create", "kept"]);
    let anonymous = d.docker_ok(&["volume", "create"]).trim().to_string();
    let pruned = app.ok("prune_volumes", json!({ "all": false }));
    assert_eq!(pruned["removed"], json!([anonymous]), "{pruned}");
    let pruned = app.ok("prune_volumes", json!({ "all": true }));
    assert_eq!(pruned["removed"], json!(["kept"]), "{pruned}");
    let err = app.err(
        "create_volume",
        json!({ "request": { "name": "x", "labels": ["=v"] } }),
    );
    assert_eq!(err["kind"], "invalid_request");
}

#[test]
fn networks_create_list_with_addresses_and_remove() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let app = TestApp::for_skiffd(&d);
    let _cleanup = RemoveNetwork(&d, "desk-net");

    let id = app.ok(
        "create_network",
        json!({ "request": { "name": "desk-net", "subnet": "10.213.9.0/24", "gateway": "10.213.9.1" } }),
    );
    let id = id.as_str().expect("an id").to_string();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "on-net",
        "--network",
        "desk-net",
        "busybox",
        "sleep",
        "600",
    ]);
    let list = app.ok("list_networks", json!({}));
    let row = find(&list, "id", &id).unwrap_or_else(|| panic!("{id} in {list:#}"));
    assert_eq!(row["name"], "desk-net");
    assert_eq!(row["driver"], "bridge");
    assert_eq!(row["subnets"], json!(["10.213.9.0/24"]));
    assert_eq!(row["gateways"], json!(["10.213.9.1"]));
    assert_eq!(row["predefined"], false);
    let attached = &row["containers"][0];
    assert_eq!(attached["name"], "on-net", "{row}");
    assert!(
        attached["ipv4"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.213.9.") && ip.ends_with("/24")),
        "{row}"
    );
    assert_eq!(
        find(&list, "name", "bridge").expect("bridge")["predefined"],
        true
    );

    let err = app.err("remove_network", json!({ "id": "desk-net" }));
    assert_ne!(err["kind"], "engine_unreachable", "{err}");
    d.docker_ok(&["rm", "-f", "on-net"]);
    app.ok("remove_network", json!({ "id": id }));
    assert!(find(&app.ok("list_networks", json!({})), "name", "desk-net").is_none());
}

/// Removes a network when the test ends, passed or failed (a bridge on the
/// host otherwise outlives the test).
struct RemoveNetwork<'a>(&'a Skiffd, &'static str);

impl Drop for RemoveNetwork<'_> {
    fn drop(&mut self) {
        let out = self.0.docker_run(&["ps", "-aq"]);
        let mut args = vec!["rm", "-f"];
        args.extend(out.stdout.split_whitespace());
        if args.len() > 2 {
            let _ = self.0.docker_run(&args);
        }
        let _ = self.0.docker_run(&["network", "rm", self.1]);
    }
}

#[test]
fn compose_projects_act_together_and_rows_carry_their_labels() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let app = TestApp::for_skiffd(&d);
    for service in ["web", "db"] {
        let name = format!("shop-{service}-1");
        let label = format!("com.docker.compose.service={service}");
        d.docker_ok(&[
            "create",
            "--name",
            &name,
            "--label",
            "com.docker.compose.project=shop",
            "--label",
            &label,
            "busybox",
            "sleep",
            "600",
        ]);
    }
    d.docker_ok(&["create", "--name", "loner", "busybox", "sleep", "600"]);

    let list = app.ok("list_containers", json!({}));
    let web = find(&list, "name", "shop-web-1").expect("shop-web-1");
    assert_eq!(
        (&web["project"], &web["service"]),
        (&json!("shop"), &json!("web"))
    );
    assert_eq!(web["health"], Value::Null);
    assert_eq!(web["published"], json!([]));
    assert_eq!(
        find(&list, "name", "loner").expect("loner")["project"],
        Value::Null
    );

    let running = |name: &str| {
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", name])
            .trim()
            == "true"
    };
    app.ok(
        "project_action",
        json!({ "project": "shop", "action": "start" }),
    );
    assert!(running("shop-web-1") && running("shop-db-1") && !running("loner"));
    app.ok(
        "project_action",
        json!({ "project": "shop", "action": "stop" }),
    );
    assert!(!running("shop-web-1") && !running("shop-db-1"));
    app.ok(
        "project_action",
        json!({ "project": "shop", "action": "remove" }),
    );
    let names = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.trim(), "loner");
    let err = app.err(
        "project_action",
        json!({ "project": "shop", "action": "start" }),
    );
    assert_eq!(err["kind"], "invalid_request", "{err}");
    d.docker_ok(&["rm", "-f", "loner"]);
}
