//! `docker events` for containers: the lifecycle (create, attach, start,
//! die, destroy, exec_*, pause, rename, kill, stop, resize, cp, export) in
//! `--since`/`--until` windows, the `container=`, `event=`, `type=` and
//! `image=` filters, and `exec_detach` — which dockerd publishes only when
//! it reads the detach keys itself (a raw API client on a TTY exec): the
//! docker CLI catches them on its side, so `docker exec -it` never makes one.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use skiff_e2e::util::unix_http;
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn now() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    format!("{t:.6}")
}

/// `docker events --since S --until U [FILTERS] --format FORMAT`, one line
/// per event.
fn events(d: &Skiffd, since: &str, until: &str, filters: &[&str], format: &str) -> Vec<String> {
    let mut args = vec!["events", "--since", since, "--until", until];
    for f in filters {
        args.extend(["--filter", f]);
    }
    args.extend(["--format", format]);
    d.docker_ok(&args).lines().map(str::to_owned).collect()
}

#[test]
fn container_lifecycle_events_and_filters() {
    let d = with_busybox();
    let since = now();
    d.docker_ok(&["run", "--rm", "--name", "once", "busybox", "true"]);
    d.docker_ok(&["run", "-d", "--name", "ev", "busybox", "sleep", "1000"]);
    d.docker_ok(&["exec", "ev", "true"]);
    d.docker_ok(&["pause", "ev"]);
    d.docker_ok(&["unpause", "ev"]);
    d.docker_ok(&["rename", "ev", "ev2"]);
    d.docker_ok(&["kill", "-s", "USR1", "ev2"]);
    d.docker_ok(&[
        "cp",
        "ev2:/etc/hostname",
        d.dir().join("hn").to_str().expect("utf8"),
    ]);
    d.docker_ok(&["stop", "-t", "1", "ev2"]);
    d.docker_ok(&["rm", "ev2"]);
    std::thread::sleep(Duration::from_millis(100));
    let until = now();

    let once = events(&d, &since, &until, &["container=once"], "{{.Action}}");
    assert_eq!(
        once,
        ["create", "attach", "start", "die", "destroy"],
        "{once:?}"
    );

    let all = events(
        &d,
        &since,
        &until,
        &["type=container"],
        "{{.Action}} {{.Actor.Attributes.name}}",
    );
    let ev: Vec<&str> = all
        .iter()
        .filter(|l| l.ends_with(" ev") || l.ends_with(" ev2"))
        .map(|l| l.rsplit_once(' ').map_or(l.as_str(), |(a, _)| a))
        .collect();
    let expected = [
        "create",
        "start",
        "exec_create: true ",
        "exec_start: true ",
        "exec_die",
        "pause",
        "unpause",
        "rename",
        "kill",
        "archive-path",
        "kill",
        "die",
        "stop",
        "destroy",
    ];
    // `stop` sends SIGTERM (a kill event), then SIGKILL after the timeout
    // (another one): sleep as pid 1 ignores SIGTERM.
    let mut want = expected.to_vec();
    want.insert(11, "kill");
    assert_eq!(ev, want, "{all:#?}");

    // Prefix filters: `container=` on ids and names, `exec_create` on
    // `exec_create: <command>`.
    let by_prefix = events(&d, &since, &until, &["container=ev"], "{{.Action}}");
    assert!(by_prefix.contains(&"rename".to_owned()), "{by_prefix:?}");
    let exec = events(
        &d,
        &since,
        &until,
        &["event=exec_create", "event=exec_die"],
        "{{.Action}} {{len (index .Actor.Attributes \"execID\")}}",
    );
    assert_eq!(exec, ["exec_create: true  64", "exec_die 64"]);
    let died = events(
        &d,
        &since,
        &until,
        &["event=die"],
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    );
    assert_eq!(died, ["once 0", "ev2 137"]);
    assert_eq!(
        events(&d, &since, &until, &["type=image"], "{{.Action}}"),
        Vec::<String>::new()
    );
    let by_image = events(
        &d,
        &since,
        &until,
        &["image=busybox", "event=start"],
        "{{.Actor.Attributes.name}}",
    );
    assert_eq!(by_image, ["once", "ev"]);
    assert!(events(&d, &since, &until, &["image=alpine"], "{{.Action}}").is_empty());
    let renamed = events(
        &d,
        &since,
        &until,
        &["event=rename"],
        "{{.Actor.Attributes.oldName}}",
    );
    assert_eq!(renamed, ["/ev"]);
    // A window before anything happened is empty.
    assert!(events(&d, "1", "2", &[], "{{.Action}}").is_empty());
}

/// Starts exec `id` with a TTY on a hijacked connection and sends docker's
/// default detach keys (ctrl-p ctrl-q); returns what came back.
fn detach_raw(d: &Skiffd, id: &str) -> String {
    let body = r#"{"Detach":false,"Tty":true}"#;
    let (mut s, head) = skiff_e2e::util::unix_hijack(
        d.socket(),
        &format!(
            "POST /exec/{id}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .expect("hijacked exec start");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"\x10\x11").expect("detach keys");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    String::from_utf8_lossy(&rest).into_owned()
}

#[test]
fn exec_detach_and_exec_die() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "dx", "busybox", "sleep", "1000"]);
    let since = now();
    let created = unix_http(
        d.socket(),
        "POST",
        "/containers/dx/exec",
        br#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"AttachStdout":true}"#,
    )
    .expect("exec create");
    let v: Value = serde_json::from_slice(&created.body).expect("json");
    let exec_id = v["Id"].as_str().expect("id").to_owned();
    detach_raw(&d, &exec_id);
    std::thread::sleep(Duration::from_millis(200));
    // Detached, not ended: the shell still runs.
    let inspect =
        unix_http(d.socket(), "GET", &format!("/exec/{exec_id}/json"), b"").expect("inspect");
    let v: Value = serde_json::from_slice(&inspect.body).expect("json");
    assert_eq!(v["Running"], true, "{v}");
    // The CLI's own detach never reaches the daemon: a plain exec ends.
    assert_eq!(d.docker_run(&["exec", "dx", "sh", "-c", "exit 3"]).code, 3);
    let until = now();
    let detached = events(
        &d,
        &since,
        &until,
        &["event=exec_detach"],
        "{{.Action}} {{index .Actor.Attributes \"execID\"}}",
    );
    assert_eq!(detached, [format!("exec_detach {exec_id}")]);
    let died = events(
        &d,
        &since,
        &until,
        &["event=exec_die", "container=dx"],
        "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}",
    );
    assert_eq!(died, ["exec_die 3"]);
}
