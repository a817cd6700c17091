//! `docker top`, `docker stats`, TTY resize and the containers of `docker
//! system df`, with the real docker CLI, the raw API and bollard.

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use skiff_e2e::util::{HttpResponse, unix_http};
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn api(d: &Skiffd, method: &str, path: &str) -> HttpResponse {
    unix_http(d.socket(), method, path, b"").expect("api request")
}

fn json(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

#[test]
fn top_lists_the_processes_of_the_container() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "t1",
        "busybox",
        "sh",
        "-c",
        "sleep 1001 & exec sleep 1002",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let pid = d
        .docker_ok(&["inspect", "-f", "{{.State.Pid}}", "t1"])
        .trim()
        .to_owned();
    let out = d.docker_ok(&["top", "t1"]);
    let mut lines = out.lines();
    let titles: Vec<&str> = lines.next().expect("titles").split_whitespace().collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().any(|r| r.contains("sleep 1001")), "{out}");
    let main = rows
        .iter()
        .find(|r| r.contains("sleep 1002"))
        .expect("the init process");
    let cols: Vec<&str> = main.split_whitespace().collect();
    assert_eq!((cols[0], cols[1], cols[5]), ("root", pid.as_str(), "?"));
    assert!(cols[6].len() == 8 && cols[6].contains(':'), "{main}");

    // An exec is one of the container's processes too.
    d.docker_ok(&["exec", "-d", "t1", "sleep", "1003"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.docker_ok(&["top", "t1"]).contains("sleep 1003"));

    // ps arguments run the host's ps, filtered to the container.
    let out = d.docker_ok(&["top", "t1", "-o", "pid,comm"]);
    let mut lines = out.lines();
    assert_eq!(
        lines
            .next()
            .expect("titles")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert_eq!(lines.count(), 3, "{out}");

    // The raw answer, and the errors.
    let r = api(&d, "GET", "/containers/t1/top");
    assert_eq!(r.status, 200);
    let v = json(&r);
    assert_eq!(v["Titles"].as_array().expect("titles").len(), 8);
    assert_eq!(v["Processes"].as_array().expect("rows").len(), 3);
    d.docker_ok(&["stop", "-t", "0", "t1"]);
    let r = api(&d, "GET", "/containers/t1/top");
    assert_eq!(r.status, 409);
    assert!(r.text().contains("is not running"), "{}", r.text());
    assert_eq!(api(&d, "GET", "/containers/nope/top").status, 404);
    let (_, err) = d.docker_fail(&["top", "t1"]);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn stats_once_streamed_and_stopped() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "s1",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        // Half a core: busy enough to measure, without taking a whole core
        // from the tests running beside it.
        "--cpus",
        "0.5",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    d.docker_ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"]);
    d.docker_ok(&["create", "--name", "never", "busybox"]);

    let out = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}",
        "s1",
        "idle",
        "never",
    ]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    let busy = rows.iter().find(|r| r[0] == "s1").expect("s1");
    let cpu: f64 = busy[1].trim_end_matches('%').parse().expect("cpu %");
    assert!(cpu > 5.0, "a busy loop uses CPU: {out}");
    assert!(busy[2].ends_with("/ 64MiB"), "the memory limit: {out}");
    assert_eq!(busy[3], "1");
    let idle = rows.iter().find(|r| r[0] == "idle").expect("idle");
    assert!(!idle[2].starts_with("0B"), "some memory is used: {out}");
    assert!(
        !idle[2].ends_with("/ 0B"),
        "the host's memory is the limit: {out}"
    );
    let never = rows.iter().find(|r| r[0] == "never").expect("never");
    assert_eq!(
        (never[1], never[2], never[3]),
        ("0.00%", "0B / 0B", "0"),
        "{out}"
    );

    // The raw document: docker's fields.
    let r = api(&d, "GET", "/containers/s1/stats?stream=0");
    assert_eq!(r.status, 200);
    let v = json(&r);
    assert_eq!(v["name"], "/s1");
    assert!(
        v["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .expect("total")
            > 0
    );
    assert!(
        v["precpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .expect("pre")
            > 0
    );
    assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().expect("system") > 0);
    assert!(v["cpu_stats"]["online_cpus"].as_u64().expect("cpus") >= 1);
    assert_eq!(v["memory_stats"]["limit"], 64 << 20);
    assert!(v["memory_stats"]["stats"].is_object());
    assert_eq!(v["pids_stats"]["current"], 1);
    assert_eq!(v["pids_stats"]["limit"], 50);
    assert!(v["networks"]["lo"]["rx_bytes"].is_u64());
    assert_ne!(v["read"], v["preread"]);
    let r = api(&d, "GET", "/containers/s1/stats?stream=1&one-shot=1");
    assert_eq!(r.status, 400);
    assert_eq!(
        api(&d, "GET", "/containers/nope/stats?stream=0").status,
        404
    );

    // Streamed through bollard: one sample a second, each with the
    // previous one's CPU counters.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let samples = rt.block_on(async {
        let docker = d.bollard();
        let opts = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(true)
            .build();
        let mut stream = docker.stats("s1", Some(opts));
        let mut out = Vec::new();
        while let Some(s) = stream.next().await {
            out.push(s.expect("sample"));
            if out.len() == 3 {
                break;
            }
        }
        out
    });
    assert_eq!(samples.len(), 3);
    let total = |s: &bollard::models::ContainerStatsResponse| {
        s.cpu_stats
            .as_ref()
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let pre = |s: &bollard::models::ContainerStatsResponse| {
        s.precpu_stats
            .as_ref()
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    assert_eq!(pre(&samples[1]), total(&samples[0]));
    assert_eq!(pre(&samples[2]), total(&samples[1]));
    assert!(total(&samples[2]) > total(&samples[0]));
    let (t0, t2) = (
        samples[0].read.expect("read"),
        samples[2].read.expect("read"),
    );
    let gap = (t2 - t0).as_seconds_f64();
    assert!((1.5..4.0).contains(&gap), "a sample a second: {gap}");

    // A stopped container: zeros, at once.
    d.docker_ok(&["kill", "s1"]);
    let r = api(&d, "GET", "/containers/s1/stats?stream=0");
    let v = json(&r);
    assert_eq!(v["read"], "0001-01-01T00:00:00Z");
    assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert_eq!(v["id"].as_str().map(str::len), Some(64));
}

#[test]
fn resize_sets_the_tty_size() {
    let d = with_busybox();
    // Through the API: resize while it sleeps, then it reports its size.
    let id = d
        .docker_ok(&["create", "-t", "busybox", "sh", "-c", "sleep 1; stty size"])
        .trim()
        .to_owned();
    d.docker_ok(&["start", &id]);
    let r = api(&d, "POST", &format!("/containers/{id}/resize?h=41&w=101"));
    assert_eq!(r.status, 200, "{}", r.text());
    d.docker_ok(&["wait", &id]);
    assert_eq!(d.docker_ok(&["logs", &id]).trim(), "41 101");
    // Stopped: a conflict; bad sizes: bad requests.
    let r = api(&d, "POST", &format!("/containers/{id}/resize?h=41&w=101"));
    assert_eq!(r.status, 409);
    assert!(r.text().contains("is not running"));
    let r = api(&d, "POST", &format!("/containers/{id}/resize?h=x&w=1"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid syntax"), "{}", r.text());
    assert_eq!(
        api(&d, "POST", "/containers/nope/resize?h=1&w=1").status,
        404
    );
    // Without a TTY, accepted (as dockerd's runtime does) and nothing changes.
    d.docker_ok(&["run", "-d", "--name", "notty", "busybox", "sleep", "1000"]);
    assert_eq!(
        api(&d, "POST", "/containers/notty/resize?h=10&w=10").status,
        200
    );

    // `docker run -t` under a terminal: the CLI sends its size.
    let cmd = format!(
        "stty rows 33 cols 91; {} run --rm -t busybox sh -c 'sleep 0.5; stty size'",
        d.docker().bin().display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_HOST", d.docker_host())
        .env("DOCKER_CONFIG", d.docker().config_dir())
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("33 91"), "{text}");
}

#[test]
fn system_df_counts_containers() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/data bs=1000 count=300 2>/dev/null",
    ]);
    d.docker_ok(&["run", "-d", "--name", "small", "busybox", "sleep", "1000"]);
    let r = api(&d, "GET", "/system/df");
    assert_eq!(r.status, 200);
    let v = json(&r);
    let containers = v["Containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 2);
    let big = containers
        .iter()
        .find(|c| c["Names"][0] == "/big")
        .expect("big");
    let rw = big["SizeRw"].as_i64().expect("SizeRw");
    assert!((300_000..400_000).contains(&rw), "{big}");
    assert!(big["SizeRootFs"].as_i64().expect("SizeRootFs") > rw + 1_000_000);
    assert_eq!(big["State"], "exited");
    assert_eq!(v["Images"][0]["Containers"], 2);

    let out = d.docker_ok(&["system", "df"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Containers"))
        .expect("containers line");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((cols[1], cols[2]), ("2", "1"), "{out}");
    assert_eq!(cols[3], "300kB", "{out}");
    let out = d.docker_ok(&["system", "df", "-v"]);
    let section = out
        .split("Containers space usage:")
        .nth(1)
        .expect("containers section");
    assert!(
        section.contains("big") && section.contains("small"),
        "{out}"
    );
    assert!(section.contains("300kB"), "{out}");
}
