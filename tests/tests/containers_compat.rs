//! What SDKs and the docker CLI read, answered as dockerd answers it
//! (issue 11; the field-by-field comparison is `differential.rs`): inspect
//! keys read through `--format`, `--group-add` (also of execs), refused
//! creates, `ps -n`, an attach that only replays the log, and the detach
//! keys of an attach.

use std::io::{Read, Write};

use serde_json::Value;
use skiff_e2e::util::{HttpResponse, unix_hijack, unix_http};
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn api(d: &Skiffd, method: &str, path: &str, body: &str) -> HttpResponse {
    unix_http(d.socket(), method, path, body.as_bytes()).expect("api request")
}

/// `POST /containers/<name>/attach?<query>` without a body.
fn attach_api(d: &Skiffd, name: &str, query: &str) -> HttpResponse {
    api(d, "POST", &format!("/containers/{name}/attach?{query}"), "")
}

fn json(resp: &HttpResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("{e}: {}", resp.text()))
}

#[test]
fn inspect_has_dockerds_keys_for_format_templates() {
    let d = with_busybox();
    d.docker_ok(&["create", "--name", "c1", "busybox", "sleep", "1000"]);
    let out = d.docker_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.LogConfig.Type}} {{.HostConfig.Runtime}} {{.HostConfig.RestartPolicy.Name}}| \
         {{.Config.Tty}} {{.Config.User}}| {{.AppArmorProfile}}| {{len .HostConfig.MaskedPaths}}",
        "c1",
    ]);
    assert!(out.starts_with("json-file runc no| false | |"), "{out}");
    // Image inspect: the keys of a config that does not set them.
    let out = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Tty}} {{.Config.WorkingDir}}|{{.Parent}}|{{.DockerVersion}}",
        "busybox",
    ]);
    assert!(out.starts_with("false |"), "{out}");
    // Paused is running too.
    d.docker_ok(&["start", "c1"]);
    d.docker_ok(&["pause", "c1"]);
    let state = d.docker_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.Running}} {{.State.Paused}}",
        "c1",
    ]);
    assert_eq!(state.trim(), "paused true true");
    d.docker_ok(&["unpause", "c1"]);
    d.docker_ok(&["rm", "-f", "c1"]);
    // /info names what skiffd has.
    let info = json(&api(&d, "GET", "/info", ""));
    assert_eq!(info["DefaultRuntime"], "runc");
    assert_eq!(info["Plugins"]["Log"], serde_json::json!(["json-file"]));
    assert!(info["NFd"].as_u64().is_some_and(|n| n > 0), "{info}");
    assert!(info["SystemTime"].as_str().is_some_and(|t| !t.is_empty()));
}

#[test]
fn group_add_and_refused_creates() {
    let d = with_busybox();
    // A named group of the image, other than root's.
    let etc_group = d.docker_ok(&["run", "--rm", "busybox", "cat", "/etc/group"]);
    let (name, gid) = etc_group
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            Some((name.to_owned(), f.nth(1)?.to_owned()))
        })
        .find(|(_, gid)| gid != "0")
        .unwrap_or_else(|| panic!("no group besides root's in {etc_group:?}"));
    let groups = d.docker_ok(&[
        "run",
        "--rm",
        "--group-add",
        "4242",
        "--group-add",
        &name,
        "busybox",
        "id",
        "-G",
    ]);
    let groups: Vec<&str> = groups.split_whitespace().collect();
    assert!(groups.contains(&"4242"), "{groups:?}");
    assert!(
        groups.contains(&gid.as_str()),
        "{name} is {gid}: {groups:?}"
    );
    // Execs get the container's groups too, as its own user or another
    // (dockerd adds GroupAdd to every process of the container).
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "grouped",
        "--group-add",
        "1234",
        "busybox",
        "sleep",
        "1000",
    ]);
    for user in [&[][..], &["-u", "nobody"][..]] {
        let mut args = vec!["exec"];
        args.extend_from_slice(user);
        args.extend_from_slice(&["grouped", "id", "-G"]);
        let groups = d.docker_ok(&args);
        assert!(
            groups.split_whitespace().any(|g| g == "1234"),
            "exec {user:?}: {groups:?}"
        );
    }
    d.docker_ok(&["rm", "-f", "grouped"]);
    let (code, err) = d.docker_fail(&["run", "--rm", "--group-add", "nope", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Unable to find group nope"), "{err}");

    let (_, err) = d.docker_fail(&["create", "--log-driver", "nope", "busybox"]);
    assert!(err.contains("plugin \"nope\" not found"), "{err}");
    // (The CLI refuses --rm with --restart itself.)
    let resp = api(
        &d,
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        json(&resp)["message"],
        "can't create 'AutoRemove' container with restart policy"
    );
    let resp = api(
        &d,
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#,
    );
    assert_eq!(resp.status, 400);
    assert_eq!(json(&resp)["message"], "invalid restart policy 'sometimes'");
    let (_, err) = d.docker_fail(&["create", "--runtime", "kata", "busybox"]);
    assert!(err.contains("Unknown runtime specified kata"), "{err}");
    // Options skiffd does not apply are refused by name, not ignored.
    let (_, err) = d.docker_fail(&["create", "--shm-size", "1g", "busybox"]);
    assert!(
        err.contains("skiffd does not support --shm-size (HostConfig.ShmSize)"),
        "{err}"
    );
    let (_, err) = d.docker_fail(&["create", "--ulimit", "nofile=10:10", "busybox"]);
    assert!(
        err.contains("skiffd does not support --ulimit (HostConfig.Ulimits)"),
        "{err}"
    );
    // Nothing was created.
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    // What it applies: a read-only root, the host's PID namespace.
    let out = d.docker_run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    let pid1 = d.docker_ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "busybox",
        "cat",
        "/proc/1/comm",
    ]);
    let host_pid1 = std::fs::read_to_string("/proc/1/comm").expect("host pid 1");
    assert_eq!(pid1, host_pid1);
}

#[test]
fn ps_limit_attach_logs_and_prune() {
    let d = with_busybox();
    for n in ["p1", "p2", "p3"] {
        d.docker_ok(&[
            "run",
            "--name",
            n,
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ]);
    }
    // -n: the newest, stopped ones included.
    assert_eq!(
        d.docker_ok(&["ps", "-n", "1", "--format", "{{.Names}}"])
            .trim(),
        "p3"
    );
    // stream=0&logs=1: the log, then the end (no upgrade needed).
    let resp = attach_api(&d, "p1", "stream=0&logs=1&stdout=1&stderr=1");
    assert_eq!(resp.status, 200);
    let text = resp.text();
    assert!(text.contains("out\n") && text.contains("err\n"), "{text:?}");
    let stdout_only = attach_api(&d, "p1", "stream=0&logs=1&stdout=1");
    assert!(
        !stdout_only.text().contains("err"),
        "{:?}",
        stdout_only.text()
    );
    // `rm --link`: no legacy links here, and never the container itself.
    let (_, err) = d.docker_fail(&["rm", "--link", "p1/db"]);
    assert!(err.contains("No such container: p1/db"), "{err}");
    let (_, err) = d.docker_fail(&["rm", "--link", "p1"]);
    assert!(err.contains("cannot remove the default link name"), "{err}");
    assert!(
        d.docker_ok(&["ps", "-aq"]).lines().count() == 3,
        "p1 is still there"
    );
    // prune reports what it removed, and the space.
    d.docker_ok(&[
        "run",
        "--name",
        "big",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/big",
        "bs=1024",
        "count=512",
    ]);
    let pruned = json(&api(&d, "POST", "/containers/prune", ""));
    assert_eq!(
        pruned["ContainersDeleted"].as_array().map(Vec::len),
        Some(4)
    );
    assert!(
        pruned["SpaceReclaimed"]
            .as_u64()
            .is_some_and(|n| n >= 512 * 1024),
        "{pruned}"
    );
}

/// Attaches to `name` (a TTY container with stdin) on a hijacked
/// connection with `query`, sends `keys`, and returns whether the server
/// closed the connection.
fn attach_and_type(d: &Skiffd, name: &str, query: &str, keys: &[u8]) -> bool {
    let (mut s, head) = unix_hijack(
        d.socket(),
        &format!(
            "POST /containers/{name}/attach?stream=1&stdin=1&stdout=1{query} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    .expect("hijacked attach");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(keys).expect("keys");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).is_ok()
}

#[test]
fn attach_detach_keys_leave_the_container_running() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "-it", "--name", "tty", "busybox", "sh"]);
    // Ctrl-P Ctrl-Q: the attach ends, the shell runs on.
    assert!(attach_and_type(&d, "tty", "", b"\x10\x11"));
    let running = |d: &Skiffd| {
        d.docker_ok(&["inspect", "--format", "{{.State.Running}}", "tty"])
            .trim()
            .to_owned()
    };
    assert_eq!(running(&d), "true");
    // Keys of the client's choice.
    assert!(attach_and_type(&d, "tty", "&detachKeys=ctrl-x", b"\x18"));
    assert_eq!(running(&d), "true");
    let resp = attach_api(&d, "tty", "stream=1&stdin=1&detachKeys=ctrl-");
    assert_eq!(resp.status, 400);
    assert_eq!(
        json(&resp)["message"],
        "Invalid detach keys (ctrl-) provided"
    );
    d.docker_ok(&["rm", "-f", "tty"]);
}

#[test]
fn layers_with_absolute_names_are_rooted() {
    // `umoci insert … /` and `tar -P` write absolute names (`/bin/busybox`,
    // `/etc/x`): dockerd roots them in the layer.
    let d = Skiffd::start(SkiffdOpts::default());
    let src = d.dir().join("abs-rootfs");
    std::fs::create_dir_all(src.join("bin")).expect("mkdir bin");
    std::fs::create_dir_all(src.join("etc")).expect("mkdir etc");
    std::fs::copy("/bin/busybox", src.join("bin/busybox")).expect("copy busybox");
    std::fs::write(src.join("etc/x"), "rooted\n").expect("write");
    let tar = d.dir().join("abs.tar");
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&src)
        .args(["-P", "--transform", "s,^,/,", "-cf"])
        .arg(&tar)
        .args(["bin", "etc"])
        .status()
        .expect("tar");
    assert!(status.success());
    let listing = std::process::Command::new("tar")
        .arg("-tPf")
        .arg(&tar)
        .output()
        .expect("tar -t");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.lines().any(|l| l == "/etc/x"), "{listing}");
    d.docker_ok(&["import", tar.to_str().expect("utf8"), "abs:1"]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "abs:1", "/bin/busybox", "cat", "/etc/x"]),
        "rooted\n"
    );
}
