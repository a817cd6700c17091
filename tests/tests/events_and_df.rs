//! `docker events` (past events between --since and --until, live ones, and
//! filters) and `docker system df`, for what skiffd does to images.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skiff_e2e::{Skiffd, SkiffdOpts};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn events_since_until_and_live() {
    let d = Skiffd::start(SkiffdOpts::default());
    let before = now();
    d.docker_ok(&["pull", "busybox"]);
    d.docker_ok(&["tag", "busybox", "mine:1"]);
    d.docker_ok(&["rmi", "mine:1"]);
    std::thread::sleep(Duration::from_millis(50));
    let after = now();
    let since = format!("{before:.6}");
    let until = format!("{after:.6}");
    let id = d
        .docker_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"])
        .trim()
        .to_owned();

    let out = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"name\"}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "image pull busybox:latest busybox".to_owned(),
            format!("image tag {id} mine:1"),
            format!("image untag {id} {id}"),
        ],
        "{out}"
    );
    let filtered = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=tag",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(filtered.trim(), "tag");
    let none = d.docker_ok(&[
        "events",
        "--since",
        &until,
        "--until",
        &until,
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(none.trim(), "", "nothing happened after --since");

    // Live: a subscriber sees what happens after it connects.
    let mut live = d
        .docker()
        .command(&["events", "--format", "{{.Action}} {{.Actor.ID}}"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker events");
    std::thread::sleep(Duration::from_millis(300));
    d.docker_ok(&["tag", "busybox", "live:1"]);
    let mut line = String::new();
    BufReader::new(live.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read event");
    let _ = live.kill();
    let _ = live.wait();
    assert_eq!(line.trim(), format!("tag {id}"));
}

#[test]
fn system_df_counts_images_and_shared_layers() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "busybox"]);
    d.docker_ok(&["pull", "whiteout"]);
    d.docker_ok(&["pull", "hello-world"]);
    let out = d.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(out.lines().any(|l| l == "Images 3 0"), "{out}");
    let verbose = d.docker_ok(&["system", "df", "-v", "--format", "{{json .Images}}"]);
    let images: Vec<serde_json::Value> = serde_json::from_str(verbose.trim()).expect("json");
    let shared: Vec<String> = images
        .iter()
        .map(|i| {
            format!(
                "{}:{} {}",
                i["Repository"].as_str().unwrap_or(""),
                i["Tag"].as_str().unwrap_or(""),
                i["SharedSize"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(images.len(), 3, "{shared:?}");
    // whiteout is built on busybox's layer; hello-world shares nothing.
    assert!(
        shared
            .iter()
            .any(|s| s.starts_with("hello-world:latest 0B")),
        "{shared:?}"
    );
    assert!(
        shared
            .iter()
            .any(|s| s.starts_with("busybox:latest ") && !s.ends_with(" 0B")),
        "{shared:?}"
    );
}
