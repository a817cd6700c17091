//! A broken registry (issue 19 §4): pulls from a registry whose layer blob
//! hangs, drips, lies about its digest, breaks off, redirects in a loop or
//! fails with 503 before it recovers. Each pull fails with the right error
//! — or, for 503s and slow drips, succeeds as docker's would (retrying with
//! `Retrying in N seconds`) — within a bounded time (a silent registry is
//! given up after `SKIFF_REGISTRY_READ_TIMEOUT`, here 2 s, per attempt);
//! while a pull hangs the daemon answers other requests; and nothing
//! half-written is left (`skiffd check` clean, nothing to sweep).

use std::process::Stdio;
use std::time::{Duration, Instant};

use skiff_e2e::util::wait_until;
use skiff_e2e::{BlobMode, BrokenRegistry, CmdOutput, Skiffd, SkiffdOpts};

#[test]
fn broken_registries_fail_pulls_cleanly_or_are_retried() {
    let reg = BrokenRegistry::start(&[
        ("ok", BlobMode::Ok),
        ("hang", BlobMode::Hang),
        (
            "drip",
            BlobMode::Drip {
                chunk: 16 << 10,
                every: Duration::from_millis(100),
            },
        ),
        ("wrong", BlobMode::WrongDigest),
        ("truncated", BlobMode::Truncated),
        ("loop", BlobMode::RedirectLoop),
        ("flaky", BlobMode::Fail5xx { times: 2 }),
    ]);
    let d = Skiffd::start(
        SkiffdOpts::default()
            .no_mirror()
            .insecure_registry(reg.host())
            .env("SKIFF_REGISTRY_READ_TIMEOUT", "2"),
    );
    let started = Instant::now();

    // A pull that hangs; meanwhile the daemon answers.
    let hang = d
        .docker()
        .command(&["pull", &reg.image("hang")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker pull");
    wait_until(
        "the hanging blob to be asked for",
        Duration::from_secs(30),
        || reg.layer_requests("hang") >= 1,
    );
    assert!(d.ping(), "ping while a pull hangs");
    d.docker_ok(&["images"]);
    d.docker_ok(&["ps", "-a"]);

    // The other cases at once.
    let pulls: Vec<(&str, std::thread::JoinHandle<CmdOutput>)> =
        ["ok", "drip", "flaky", "wrong", "truncated", "loop"]
            .into_iter()
            .map(|repo| {
                let cli = d.docker().clone();
                let image = reg.image(repo);
                (repo, std::thread::spawn(move || cli.run(&["pull", &image])))
            })
            .collect();
    let mut outs = std::collections::BTreeMap::new();
    for (repo, pull) in pulls {
        let out = pull.join().expect("pull thread");
        eprintln!(
            "{repo}: exit {} after {:?}: {}",
            out.code,
            started.elapsed(),
            out.stderr.trim()
        );
        outs.insert(repo, out);
    }
    let hang = hang.wait_with_output().expect("the hanging pull");
    let hang_err = String::from_utf8_lossy(&hang.stderr);
    eprintln!(
        "hang: {:?} after {:?}: {}",
        hang.status,
        started.elapsed(),
        hang_err.trim()
    );

    for repo in ["ok", "drip", "flaky"] {
        let out = &outs[repo];
        assert_eq!(out.code, 0, "{repo}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("Downloaded newer image"),
            "{repo}: {}",
            out.stdout
        );
    }
    // Two 503s, then the third attempt gets it.
    assert!(
        outs["flaky"].stdout.contains("Retrying in 1 second"),
        "{}",
        outs["flaky"].stdout
    );
    assert_eq!(reg.layer_requests("flaky"), 3);

    let layer = reg.layer_digest("wrong").expect("repository wrong");
    let wrong = &outs["wrong"];
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains(&format!(
            "filesystem layer verification failed for digest {layer}"
        )),
        "{}",
        wrong.stderr
    );
    assert_eq!(
        reg.layer_requests("wrong"),
        1,
        "a lying blob is not asked again"
    );

    let truncated = &outs["truncated"];
    assert_eq!(truncated.code, 1);
    assert_eq!(
        reg.layer_requests("truncated"),
        5,
        "retried as dockerd does"
    );

    let looped = &outs["loop"];
    assert_eq!(looped.code, 1);
    assert!(looped.stderr.contains("redirect"), "{}", looped.stderr);

    assert_eq!(hang.status.code(), Some(1));
    assert!(hang_err.contains("timed out"), "{hang_err}");
    assert_eq!(reg.layer_requests("hang"), 5);

    // Only the complete images are listed; nothing half-written is left.
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}"]);
    let mut listed: Vec<&str> = images.lines().collect();
    listed.sort_unstable();
    let host = reg.host();
    let mut want = vec![
        format!("{host}/drip"),
        format!("{host}/flaky"),
        format!("{host}/ok"),
    ];
    want.sort_unstable();
    assert_eq!(listed, want);
    wait_until(
        "failed pulls' temporaries to go",
        Duration::from_secs(30),
        || !d.check_report().1.lines().any(|l| l.starts_with("note: ")),
    );
    d.assert_consistent_and_swept();
    eprintln!("all cases in {:?}", started.elapsed());
}
