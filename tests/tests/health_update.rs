//! Healthchecks and `docker update` with the real docker CLI, and a smoke
//! run of Compose v2 (`docker compose`, scripts/install-compose.sh).
//!
//! Health: a passing probe makes a container healthy, failing ones
//! unhealthy after the retries, a probe past its timeout is killed; `ps`
//! shows `(healthy)` / `(unhealthy)` / `(health: starting)` and filters on
//! `health=`; `health_status` and the probes' exec events are published;
//! inspect has `State.Health.Log`; an image's `HEALTHCHECK` runs unless
//! `--no-healthcheck`. Update: new limits reach the running container's
//! cgroup files and inspect; dockerd's refusals. Compose: `docker compose
//! version`; `up`/`ps`/`down` of a one-service project.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use skiff_e2e::util::wait_until;
use skiff_e2e::{Skiffd, SkiffdOpts};

/// How long a container may take to reach a health status (a bound
/// against a hang; probes run every 100 ms).
const HEALTH_WAIT: Duration = Duration::from_secs(60);

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn inspect(d: &Skiffd, name: &str) -> Value {
    let out = d.docker_ok(&["inspect", name]);
    let all: Value = serde_json::from_str(&out).expect("inspect JSON");
    all[0].clone()
}

fn health_status(d: &Skiffd, name: &str) -> String {
    inspect(d, name)["State"]["Health"]["Status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn wait_health(d: &Skiffd, name: &str, status: &str) -> Value {
    wait_until(&format!("{name} {status}"), HEALTH_WAIT, || {
        health_status(d, name) == status
    });
    inspect(d, name)
}

/// `docker ps` names matching `filter` (sorted).
fn ps_names(d: &Skiffd, filter: &str) -> Vec<String> {
    let out = d.docker_ok(&["ps", "--filter", filter, "--format", "{{.Names}}"]);
    let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
    names.sort();
    names
}

/// `docker ps`'s Status column of `name`.
fn ps_status(d: &Skiffd, name: &str) -> String {
    let out = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}\t")))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn healthchecks_probe_report_and_filter_like_dockerd() {
    let mut d = with_busybox();
    let run = |name: &str, health: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(health);
        args.extend_from_slice(&["busybox", "sleep", "1000"]);
        d.docker_ok(&args);
    };
    run(
        "ok",
        &["--health-cmd", "echo fine", "--health-interval", "100ms"],
    );
    run(
        "bad",
        &[
            "--health-cmd",
            "echo sick; exit 3",
            "--health-interval",
            "100ms",
            "--health-retries",
            "2",
        ],
    );
    run(
        "slow",
        &[
            "--health-cmd",
            "sleep 10",
            "--health-interval",
            "100ms",
            "--health-timeout",
            "200ms",
            "--health-retries",
            "1",
        ],
    );
    run(
        "later",
        &["--health-cmd", "true", "--health-interval", "1h"],
    );
    run("plain", &[]);

    let ok = wait_health(&d, "ok", "healthy");
    let health = &ok["State"]["Health"];
    assert_eq!(health["FailingStreak"], 0);
    let first = &health["Log"][0];
    assert_eq!(first["ExitCode"], 0);
    assert_eq!(first["Output"], "fine\n");
    assert!(first["Start"].as_str().is_some_and(|s| s.contains('T')));
    assert_eq!(
        ok["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "echo fine"])
    );

    let bad = wait_health(&d, "bad", "unhealthy");
    let health = &bad["State"]["Health"];
    assert!(health["FailingStreak"].as_i64() >= Some(2), "{health}");
    let log = health["Log"].as_array().expect("log");
    assert!(!log.is_empty() && log.len() <= 5, "{health}");
    assert_eq!(log[0]["ExitCode"], 3);
    assert_eq!(log[0]["Output"], "sick\n");

    let slow = wait_health(&d, "slow", "unhealthy");
    let first = &slow["State"]["Health"]["Log"][0];
    assert_eq!(first["ExitCode"], -1);
    assert_eq!(first["Output"], "Health check exceeded timeout (200ms)");

    // `docker ps`: the status text and the health filter.
    assert!(
        ps_status(&d, "ok").ends_with("(healthy)"),
        "{}",
        ps_status(&d, "ok")
    );
    assert!(ps_status(&d, "bad").ends_with("(unhealthy)"));
    assert!(ps_status(&d, "later").ends_with("(health: starting)"));
    assert!(!ps_status(&d, "plain").contains('('));
    assert_eq!(ps_names(&d, "health=healthy"), ["ok"]);
    assert_eq!(ps_names(&d, "health=unhealthy"), ["bad", "slow"]);
    assert_eq!(ps_names(&d, "health=starting"), ["later"]);
    assert_eq!(ps_names(&d, "health=none"), ["plain"]);
    let (_, err) = d.docker_fail(&["ps", "--filter", "health=bogus"]);
    assert!(
        err.contains("Unrecognised filter value for health: bogus"),
        "{err}"
    );

    // Events: the status changes and the probes' execs.
    let events = d.past_events(&[], "{{.Actor.Attributes.name}} {{.Action}}");
    for wanted in [
        "ok health_status: healthy",
        "bad health_status: unhealthy",
        "slow health_status: unhealthy",
        "ok exec_create: /bin/sh -c echo fine",
        "ok exec_start: /bin/sh -c echo fine",
        "ok exec_die",
    ] {
        assert!(
            events.lines().any(|l| l == wanted),
            "no {wanted:?} in:\n{events}"
        );
    }
    let filtered = d.past_events(&["event=health_status"], "{{.Action}}");
    assert!(
        filtered.lines().all(|l| l.starts_with("health_status: ")) && !filtered.is_empty(),
        "{filtered}"
    );

    // A stopped container keeps its health in inspect, `unhealthy` as
    // dockerd's stopped monitor leaves it (compose.rs compares it with
    // dockerd's), and is not shown with it in ps.
    d.docker_ok(&["stop", "-t", "1", "ok"]);
    assert!(ps_status(&d, "ok").starts_with("Exited"));
    assert_eq!(health_status(&d, "ok"), "unhealthy");

    // After a skiffd restart the running containers are probed again,
    // from `starting` (as dockerd's restore): `bad` turns unhealthy anew
    // (the event history starts empty with the new daemon).
    d.restart();
    wait_until("bad unhealthy again after the restart", HEALTH_WAIT, || {
        d.past_events(&["container=bad", "event=health_status"], "{{.Action}}")
            .contains("health_status: unhealthy")
    });
}

#[test]
fn an_images_healthcheck_runs_unless_no_healthcheck() {
    let d = with_busybox();
    // An image with a HEALTHCHECK: busybox's files imported with changes.
    d.docker_ok(&["create", "--name", "src", "busybox"]);
    let dir = skiff_e2e::util::tempdir("skiff-health-").expect("temp dir");
    let tar = dir.path().join("rootfs.tar");
    let tar_s = tar.to_str().expect("utf-8 path");
    d.docker_ok(&["export", "-o", tar_s, "src"]);
    d.docker_ok(&[
        "import",
        "--change",
        r#"CMD ["sleep", "1000"]"#,
        "--change",
        "HEALTHCHECK --interval=100ms --retries=1 CMD echo from-image",
        tar_s,
        "checked:1",
    ]);
    let image = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        "checked:1",
    ]);
    let image: Value = serde_json::from_str(&image).expect("healthcheck JSON");
    assert_eq!(
        image["Test"],
        serde_json::json!(["CMD-SHELL", "echo from-image"])
    );

    d.docker_ok(&["run", "-d", "--name", "inherits", "checked:1"]);
    let c = wait_health(&d, "inherits", "healthy");
    assert_eq!(c["State"]["Health"]["Log"][0]["Output"], "from-image\n");

    // The user's settings over the image's (the test kept, the interval
    // theirs), and none at all.
    for (name, flag) in [
        ("tuned", &["--health-interval", "1h"][..]),
        ("off", &["--no-healthcheck"][..]),
    ] {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flag);
        args.push("checked:1");
        d.docker_ok(&args);
    }
    let c = inspect(&d, "tuned");
    assert_eq!(
        c["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "echo from-image"])
    );
    assert_eq!(c["Config"]["Healthcheck"]["Interval"], 3_600_000_000_000i64);
    assert!(ps_status(&d, "tuned").ends_with("(health: starting)"));

    let c = inspect(&d, "off");
    assert_eq!(
        c["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    assert!(c["State"]["Health"].is_null(), "{}", c["State"]);
    assert!(!ps_status(&d, "off").contains('('));
    assert_eq!(ps_names(&d, "health=none"), ["off"]);
}

/// A probe (an exec: skiff-shim clones youki's processes from itself,
/// which reuse the cgroup mount points it read once) lands in its
/// container's cgroups, probe after probe: what `/proc/self/cgroup` says
/// in each logged probe is what it says for the container's own process,
/// and the container's cgroup directories are the harness's.
#[test]
fn probes_run_in_their_containers_cgroups() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "probed",
        // Full cgroup paths in /proc/self/cgroup, on any host.
        "--cgroupns",
        "host",
        "--health-cmd",
        "cat /proc/self/cgroup",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "1000",
    ]);
    wait_until("5 probes logged", HEALTH_WAIT, || {
        inspect(&d, "probed")["State"]["Health"]["Log"]
            .as_array()
            .is_some_and(|l| l.len() == 5)
    });
    let own = d.docker_ok(&["exec", "probed", "cat", "/proc/1/cgroup"]);
    assert!(!own.trim().is_empty());
    let c = inspect(&d, "probed");
    for probe in c["State"]["Health"]["Log"].as_array().into_iter().flatten() {
        assert_eq!(probe["ExitCode"], 0, "{probe}");
        assert_eq!(probe["Output"].as_str(), Some(own.as_str()), "{probe}");
    }
    let id = c["Id"].as_str().expect("id");
    assert!(!d.container_cgroup_dirs(id).is_empty(), "no cgroup of {id}");
    let parent = d.cgroup_parent().expect("the harness's cgroup parent");
    assert!(own.contains(&format!("{parent}/{id}")), "{own}");
}

/// The content of `file` in container `id`'s cgroup directories (the
/// first that has it).
fn cgroup_file(d: &Skiffd, id: &str, files: &[&str]) -> Option<(String, String)> {
    let dirs: Vec<PathBuf> = d.container_cgroup_dirs(id);
    for file in files {
        for dir in &dirs {
            if let Ok(v) = std::fs::read_to_string(dir.join(file)) {
                return Some(((*file).to_owned(), v.trim().to_owned()));
            }
        }
    }
    None
}

#[test]
fn update_reaches_the_running_cgroup_and_inspect() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "upd", "busybox", "sleep", "1000"]);
    let id = d
        .docker_ok(&["inspect", "-f", "{{.Id}}", "upd"])
        .trim()
        .to_owned();
    assert_eq!(
        d.docker_ok(&[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--restart",
            "on-failure:3",
            "upd",
        ])
        .trim(),
        "upd"
    );
    match cgroup_file(&d, &id, &["memory.limit_in_bytes", "memory.max"]) {
        Some((_, v)) => assert_eq!(v, "67108864"),
        None => panic!(
            "no memory cgroup file for {id}: {:?}",
            d.container_cgroup_dirs(&id)
        ),
    }
    match cgroup_file(&d, &id, &["cpu.cfs_quota_us", "cpu.max"]) {
        Some((f, v)) if f == "cpu.max" => assert_eq!(v, "50000 100000"),
        Some((_, v)) => assert_eq!(v, "50000"),
        None => panic!("no cpu cgroup file"),
    }
    assert_eq!(
        cgroup_file(&d, &id, &["pids.max"])
            .map(|(_, v)| v)
            .as_deref(),
        Some("20")
    );
    let c = inspect(&d, "upd");
    let h = &c["HostConfig"];
    assert_eq!(h["Memory"], 67_108_864);
    assert_eq!(h["MemorySwap"], 134_217_728);
    assert_eq!(h["NanoCpus"], 500_000_000);
    assert_eq!(h["PidsLimit"], 20);
    assert_eq!(h["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(h["RestartPolicy"]["MaximumRetryCount"], 3);
    // The limit holds in the container: 20 processes at most.
    let out = d.docker_run(&[
        "exec",
        "upd",
        "sh",
        "-c",
        "for i in $(seq 40); do sleep 30 & done; kill $(jobs -p) 2>/dev/null; true",
    ]);
    assert!(
        out.stderr.contains("can't fork"),
        "40 processes under a limit of 20: {out:?}"
    );
    let events = d.past_events(&["event=update"], "{{.Actor.Attributes.name}}");
    assert_eq!(events.trim(), "upd");

    // Limits given at create reach the cgroup through the bundle, and
    // update changes them.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pinned",
        "--cpuset-cpus",
        "0",
        "--cpu-quota",
        "50000",
        "--memory-reservation",
        "32m",
        "busybox",
        "sleep",
        "1000",
    ]);
    let pinned = d
        .docker_ok(&["inspect", "-f", "{{.Id}}", "pinned"])
        .trim()
        .to_owned();
    let value = |files: &[&str]| cgroup_file(&d, &pinned, files).map(|(_, v)| v);
    assert_eq!(value(&["cpuset.cpus"]).as_deref(), Some("0"));
    assert!(
        value(&["cpu.cfs_quota_us", "cpu.max"]).is_some_and(|v| v.starts_with("50000")),
        "{:?}",
        value(&["cpu.cfs_quota_us", "cpu.max"])
    );
    assert_eq!(
        value(&["memory.soft_limit_in_bytes", "memory.low"]).as_deref(),
        Some("33554432")
    );
    d.docker_ok(&[
        "update",
        "--cpuset-cpus",
        "0-1",
        "--cpu-shares",
        "512",
        "pinned",
    ]);
    assert_eq!(value(&["cpuset.cpus"]).as_deref(), Some("0-1"));
    assert!(
        value(&["cpu.shares", "cpu.weight"]).is_some_and(|v| v == "512" || v == "20"),
        "{:?}",
        value(&["cpu.shares", "cpu.weight"])
    );

    // dockerd's refusals.
    let (_, err) = d.docker_fail(&["update", "--memory", "1m", "upd"]);
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    d.docker_ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "gone-soon",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (_, err) = d.docker_fail(&["update", "--restart", "always", "gone-soon"]);
    assert!(
        err.contains(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        ),
        "{err}"
    );
    let (_, err) = d.docker_fail(&["update", "--memory", "64m", "nope"]);
    assert!(err.contains("No such container: nope"), "{err}");
    d.docker_ok(&["rm", "-f", "gone-soon"]);
}

#[test]
fn compose_v2_answers_its_version() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker().has_compose_v2("compose_v2_answers_its_version");
}

/// Compose v2 on its project's default network: `up` creates the network
/// and the container (Compose reads `NetworkSettings.Networks` of the
/// container it just created), `ps` lists it, `down` removes both.
#[test]
fn compose_v2_up_ps_down() {
    let d = with_busybox();
    if !d.docker().has_compose_v2("compose_v2_up_ps_down") {
        return;
    }
    let dir = skiff_e2e::util::tempdir("skiff-compose-").expect("temp dir");
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "services:\n  box:\n    image: busybox\n    command: [\"sleep\", \"1000\"]\n",
    )
    .expect("compose file");
    let f = file.to_str().expect("utf-8 path");
    let compose = |args: &[&str]| {
        let mut all = vec!["compose", "-f", f, "-p", "smoke"];
        all.extend_from_slice(args);
        d.docker_run(&all)
    };
    let up = compose(&["up", "-d"]);
    assert_eq!(up.code, 0, "compose up: {up:?}");
    let ps = compose(&["ps", "--format", "{{.Name}} {{.State}}"]);
    assert_eq!(ps.code, 0, "compose ps: {ps:?}");
    assert_eq!(ps.stdout.trim(), "smoke-box-1 running");
    let networks = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(networks.lines().any(|n| n == "smoke_default"), "{networks}");
    let attached = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
        "smoke-box-1",
    ]);
    assert_eq!(attached.trim(), "smoke_default");
    let down = compose(&["down"]);
    assert_eq!(down.code, 0, "compose down: {down:?}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    let networks = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !networks.lines().any(|n| n == "smoke_default"),
        "{networks}"
    );
}
