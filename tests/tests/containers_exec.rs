//! `docker exec` with the real docker CLI (and the raw Engine API where the
//! CLI hides things): output, exit codes, env/user/workdir, stdin, a tty,
//! detached execs and `/exec/{id}/json`, events, errors, and the time of one
//! `docker exec cx true`.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use skiff_e2e::util::{HttpResponse, unix_http};
use skiff_e2e::{Skiffd, SkiffdOpts};

/// A daemon with busybox and a running container `cx` (env `FROM_RUN=1`).
fn with_container() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "cx",
        "-e",
        "FROM_RUN=1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d
}

fn api(d: &Skiffd, method: &str, path: &str, body: &str) -> HttpResponse {
    unix_http(d.socket(), method, path, body.as_bytes()).expect("api request")
}

fn json(resp: &HttpResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("{e}: {}", resp.text()))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn exec_output_exit_codes_env_user_workdir_and_stdin() {
    let d = with_container();
    assert_eq!(d.docker_ok(&["exec", "cx", "echo", "hi"]), "hi\n");
    for (args, code) in [
        (vec!["exec", "cx", "true"], 0),
        (vec!["exec", "cx", "sh", "-c", "exit 7"], 7),
        (vec!["exec", "cx", "sh", "-c", "kill -9 $$"], 137),
    ] {
        let out = d.docker_run(&args);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
    }
    // stdout and stderr stay apart.
    let out = d.docker_run(&["exec", "cx", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("out\n", "err\n")
    );
    // The container's env, the exec's own, user, working directory.
    let out = d.docker_ok(&[
        "exec",
        "-e",
        "A=1",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "cx",
        "sh",
        "-c",
        "echo $A $FROM_RUN; id -u; pwd; echo $HOME; hostname",
    ]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "cx"]);
    assert_eq!(out, format!("1 1\n65534\n/tmp\n/home\n{}\n", &id[..12]));
    assert_eq!(
        d.docker_ok(&["exec", "cx", "sh", "-c", "id -u; pwd; echo $HOME"]),
        "0\n/\n/root\n"
    );
    let out = d.docker_ok(&["exec", "-u", "1234:5678", "cx", "id"]);
    assert!(out.starts_with("uid=1234 gid=5678"), "{out}");
    let (code, err) = d.docker_fail(&["exec", "-u", "mallory", "cx", "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("unable to find user mallory"), "{err}");
    // --privileged: every capability; otherwise the container's.
    let caps = |args: &[&str]| {
        let out = d.docker_ok(args);
        let hex = out
            .trim()
            .rsplit('\t')
            .next()
            .unwrap_or_default()
            .to_owned();
        u64::from_str_radix(&hex, 16).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let plain = caps(&["exec", "cx", "grep", "CapEff", "/proc/self/status"]);
    let privileged = caps(&[
        "exec",
        "--privileged",
        "cx",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(plain, 0xa80425fb, "docker's 14 default capabilities");
    assert!(
        privileged.count_ones() >= 38 && privileged & plain == plain,
        "{privileged:x}"
    );
    // stdin: piped, and closed when the client's input ends.
    let out = d
        .docker()
        .run_with_stdin(&["exec", "-i", "cx", "cat"], b"x\ny\n");
    assert_eq!(
        (out.stdout.as_str(), out.code),
        ("x\ny\n", 0),
        "{}",
        out.stderr
    );
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = d
        .docker()
        .run_with_stdin(&["exec", "-i", "cx", "wc", "-c"], &big);
    assert_eq!(out.stdout.trim(), "200000", "{}", out.stderr);
    // Without -i the process's stdin is empty.
    let out = d
        .docker()
        .run_with_stdin(&["exec", "cx", "cat"], b"ignored\n");
    assert_eq!((out.stdout.as_str(), out.code), ("", 0));
}

#[test]
fn exec_with_a_tty() {
    let d = with_container();
    let docker = d.docker().bin().display().to_string();
    for cmd in [
        format!("{docker} exec -it cx tty"),
        format!("{docker} exec -t cx sh -c 'tty; stty size'"),
    ] {
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("DOCKER_HOST", d.docker_host())
            .env("DOCKER_CONFIG", d.docker().config_dir())
            .env("COLUMNS", "100")
            .env("LINES", "30")
            .output()
            .expect("script");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("/dev/pts/"), "{cmd}: {text}");
        assert_eq!(out.status.code(), Some(0), "{cmd}: {text}");
    }
    // The exit code comes through a tty too.
    let cmd = format!("{docker} exec -t cx sh -c 'exit 5'");
    let status = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_HOST", d.docker_host())
        .env("DOCKER_CONFIG", d.docker().config_dir())
        .output()
        .expect("script")
        .status;
    assert_eq!(status.code(), Some(5));
    // A tty without a terminal on the client: still a pty in the container.
    let out = d.docker_run(&["exec", "-t", "cx", "tty"]);
    assert!(out.stdout.starts_with("/dev/pts/"), "{out:?}");
}

#[test]
fn detached_execs_and_exec_inspect() {
    let d = with_container();
    d.docker_ok(&[
        "exec",
        "-d",
        "cx",
        "sh",
        "-c",
        "sleep 0.2; echo done > /tmp/detached",
    ]);
    let t = Instant::now();
    loop {
        let out = d.docker_run(&["exec", "cx", "cat", "/tmp/detached"]);
        if out.stdout == "done\n" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "detached exec never ran: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The raw API: create, start detached, inspect while it runs and after.
    let cid = d
        .docker_ok(&["inspect", "-f", "{{.Id}}", "cx"])
        .trim()
        .to_owned();
    let resp = api(
        &d,
        "POST",
        "/containers/cx/exec",
        r#"{"Cmd":["sh","-c","sleep 0.5; exit 3"],"User":"nobody","AttachStdout":true}"#,
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let exec_id = json(&resp)["Id"].as_str().expect("Id").to_owned();
    assert_eq!(exec_id.len(), 64);
    assert!(exec_id.bytes().all(|b| b.is_ascii_hexdigit()));
    let before = json(&api(&d, "GET", &format!("/exec/{exec_id}/json"), ""));
    assert_eq!(before["Running"], false);
    assert_eq!(before["ExitCode"], Value::Null);
    assert_eq!(before["Pid"], 0);
    let resp = api(
        &d,
        "POST",
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!((resp.status, resp.body.len()), (200, 0), "{}", resp.text());
    let running = json(&api(&d, "GET", &format!("/exec/{exec_id}/json"), ""));
    assert_eq!(running["ID"], exec_id.as_str());
    assert_eq!(running["Running"], true, "{running}");
    assert_eq!(running["ExitCode"], Value::Null);
    assert!(running["Pid"].as_i64().expect("Pid") > 0, "{running}");
    assert_eq!(running["ContainerID"], cid.as_str());
    assert_eq!(running["OpenStdout"], true);
    assert_eq!(running["OpenStdin"], false);
    assert_eq!(running["OpenStderr"], false);
    assert_eq!(running["CanRemove"], false);
    assert_eq!(running["DetachKeys"], "");
    assert_eq!(
        running["ProcessConfig"],
        serde_json::json!({"tty": false, "entrypoint": "sh", "arguments": ["-c", "sleep 0.5; exit 3"], "privileged": false, "user": "nobody"})
    );
    // A second start is refused.
    let resp = api(
        &d,
        "POST",
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert_eq!(
        json(&resp)["message"],
        format!("exec command {exec_id} is already running")
    );
    let t = Instant::now();
    let done = loop {
        let v = json(&api(&d, "GET", &format!("/exec/{exec_id}/json"), ""));
        if v["Running"] == false {
            break v;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["ExitCode"], 3, "{done}");
    let resp = api(
        &d,
        "POST",
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!(
        json(&resp)["message"],
        format!("exec command {exec_id} has already run")
    );

    // Unknown execs; bad requests; resize.
    let resp = api(&d, "GET", "/exec/nope/json", "");
    assert_eq!(
        (resp.status, json(&resp)["message"].clone()),
        (404, "No such exec instance: nope".into())
    );
    assert_eq!(api(&d, "POST", "/exec/nope/start", "{}").status, 404);
    assert_eq!(
        api(&d, "POST", "/exec/nope/resize?h=10&w=10", "").status,
        404
    );
    let resp = api(&d, "POST", "/containers/cx/exec", r#"{"Cmd":[]}"#);
    assert_eq!(
        (resp.status, json(&resp)["message"].clone()),
        (400, "No exec command specified".into())
    );
    let resp = api(
        &d,
        "POST",
        "/containers/cx/exec",
        r#"{"Cmd":["sleep","5"],"Tty":true}"#,
    );
    let tty_exec = json(&resp)["Id"].as_str().expect("Id").to_owned();
    assert_eq!(
        api(
            &d,
            "POST",
            &format!("/exec/{tty_exec}/start"),
            r#"{"Detach":true,"Tty":true}"#
        )
        .status,
        200
    );
    let resp = api(
        &d,
        "POST",
        &format!("/exec/{tty_exec}/resize?h=40&w=120"),
        "",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());

    // Removing the container forgets its execs.
    d.docker_ok(&["rm", "-f", "cx"]);
    assert_eq!(
        api(&d, "GET", &format!("/exec/{exec_id}/json"), "").status,
        404
    );
}

#[test]
fn exec_errors_and_events() {
    let d = with_container();
    let since = format!("{:.6}", now());
    assert_eq!(d.docker_ok(&["exec", "cx", "echo", "hi"]), "hi\n");
    // A missing executable: dockerd's message (on stdout) and 127.
    let out = d.docker_run(&["exec", "cx", "nope"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert_eq!(
        out.stdout.trim_end(),
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"
    );
    let out = d.docker_run(&["exec", "cx", "/etc/passwd"]);
    assert_eq!(out.code, 126, "{out:?}");
    assert!(
        out.stdout
            .contains("exec: \"/etc/passwd\": permission denied"),
        "{out:?}"
    );
    let out = d.docker_run(&["exec", "-w", "/gone", "cx", "true"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert!(out.stdout.contains("chdir to cwd (\"/gone\")"), "{out:?}");
    // Detached, the error is the answer to the start.
    let (code, err) = d.docker_fail(&["exec", "-d", "cx", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("exec: \"nope\": executable file not found in $PATH"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(50));
    let until = format!("{:.6}", now());
    let events = d.docker_ok(&[
        "events", "--since", &since, "--until", &until, "--filter", "container=cx", "--format",
        "{{.Action}}|{{index .Actor.Attributes \"exitCode\"}}|{{index .Actor.Attributes \"name\"}}|{{len (index .Actor.Attributes \"execID\")}}",
    ]);
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(
        &lines[..7],
        [
            "exec_create: echo hi||cx|64",
            "exec_start: echo hi||cx|64",
            "exec_die|0|cx|64",
            "exec_create: nope ||cx|64",
            "exec_start: nope ||cx|64",
            "exec_die|127|cx|64",
            "exec_create: /etc/passwd ||cx|64",
        ],
        "{events}"
    );

    // Killing the container ends its execs: attached and detached.
    let mut attached = d
        .docker()
        .command(&["exec", "cx", "sleep", "1000"])
        .spawn()
        .expect("docker exec");
    d.docker_ok(&["exec", "-d", "cx", "sleep", "1001"]);
    let t = Instant::now();
    while !d.docker_ok(&["exec", "cx", "ps"]).contains("sleep 1001") {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = d
        .docker_ok(&["inspect", "-f", "{{.Id}}", "cx"])
        .trim()
        .to_owned();
    let since = format!("{:.6}", now());
    d.docker_ok(&["kill", "cx"]);
    d.docker_ok(&["wait", "cx"]);
    assert_eq!(attached.wait().expect("wait").code(), Some(137));
    std::thread::sleep(Duration::from_millis(200));
    let until = format!("{:.6}", now());
    let events = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=cx",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}",
    ]);
    assert_eq!(events.matches("exec_die 137").count(), 2, "{events}");

    // A stopped container: 409 from create, the CLI prints it.
    let (code, err) = d.docker_fail(&["exec", "cx", "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("Container {id} is not running")),
        "{err}"
    );
    let resp = api(&d, "POST", "/containers/cx/exec", r#"{"Cmd":["true"]}"#);
    assert_eq!(resp.status, 409);
    assert_eq!(
        json(&resp)["message"],
        format!("Container {id} is not running")
    );
    // Unknown containers: 404.
    let resp = api(&d, "POST", "/containers/nope/exec", r#"{"Cmd":["true"]}"#);
    assert_eq!(
        (resp.status, json(&resp)["message"].clone()),
        (404, "No such container: nope".into())
    );
    let (_, err) = d.docker_fail(&["exec", "nope", "true"]);
    assert!(err.contains("No such container: nope"), "{err}");
}

/// Median wall time of `docker ARGS` over `n` runs (the process is waited
/// for directly: the harness's runner polls every 20 ms).
fn median_ms(d: &Skiffd, args: &[&str], n: usize) -> f64 {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let out = d.docker().command(args).output().expect("docker");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

#[test]
fn exec_latency() {
    let d = with_container();
    d.docker_ok(&["exec", "cx", "true"]);
    let exec = median_ms(&d, &["exec", "cx", "true"], 20);
    let inspect = median_ms(&d, &["inspect", "cx"], 20);
    eprintln!(
        "FIGURE docker exec cx true: median {exec:.1} ms over 20 (docker inspect cx, the CLI's own cost: {inspect:.1} ms)"
    );
    assert!(exec < 2000.0, "{exec} ms");
}

#[test]
fn exec_through_bollard() {
    use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;

    let d = with_container();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let docker = d.bollard();
        let id = docker
            .create_exec(
                "cx",
                CreateExecOptions {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(vec!["sh", "-c", "cat; echo to-stderr >&2; exit 9"]),
                    ..Default::default()
                },
            )
            .await
            .expect("create exec")
            .id;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = docker
            .start_exec(&id, Some(StartExecOptions::default()))
            .await
            .expect("start exec")
        else {
            panic!("not attached");
        };
        input.write_all(b"from stdin\n").await.expect("write stdin");
        input.shutdown().await.expect("close stdin");
        let (mut stdout, mut stderr) = (String::new(), String::new());
        while let Some(chunk) = output.next().await {
            match chunk.expect("output") {
                bollard::container::LogOutput::StdOut { message } => {
                    stdout.push_str(&String::from_utf8_lossy(&message));
                }
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            (stdout.as_str(), stderr.as_str()),
            ("from stdin\n", "to-stderr\n")
        );
        let inspect = docker.inspect_exec(&id).await.expect("inspect exec");
        assert_eq!((inspect.running, inspect.exit_code), (Some(false), Some(9)));
        assert_eq!(inspect.open_stdin, Some(true));
        let pc = inspect.process_config.expect("ProcessConfig");
        assert_eq!(pc.entrypoint.as_deref(), Some("sh"));
    });
}
