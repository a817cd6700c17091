//! The short CI version of the load test (issue 19 §3; the full one is
//! `bench/load.sh`): 32 clients for 10 s mixing pings, lists, inspects,
//! execs, container lifecycles, `logs -f` followers and `/events`
//! subscribers against one skiffd. No request may fail, and after the load
//! the daemon's open descriptors and RSS must come back near where they
//! were before it — bounds loose enough for allocator noise, tight enough
//! that a leak per request or per connection (thousands of them) breaks
//! them. Speed is not asserted (figures are printed).

use std::time::{Duration, Instant};

use skiff_e2e::load::{LoadOpts, ProcSample, run, sample};
use skiff_e2e::{Skiffd, SkiffdOpts};

/// Descriptors the daemon may hold above its baseline after the load.
const FD_SLACK: u64 = 16;
/// RSS (KiB) the daemon may keep above its baseline after the load.
const RSS_SLACK_KIB: u64 = 48 * 1024;
/// How long the daemon gets to come back to its baseline (a bound against
/// a hang, not a timing assertion).
const SETTLE_BOUND: Duration = Duration::from_secs(60);

fn near_baseline(before: ProcSample, now: ProcSample) -> bool {
    now.fds <= before.fds + FD_SLACK && now.rss_kib <= before.rss_kib + RSS_SLACK_KIB
}

#[test]
fn thirty_two_clients_for_ten_seconds_without_an_error_or_a_leak() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let pid = d.pid().expect("skiffd runs");
    let opts = LoadOpts {
        socket: d.socket().to_owned(),
        clients: 32,
        duration: Duration::from_secs(10),
        image: "busybox".into(),
        pids: vec![pid],
        settle: Duration::from_secs(2),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(run(opts)).expect("load run");
    eprintln!("{}", report.render());

    assert_eq!(report.errors(), 0, "{}", report.render());
    for op in [
        "ping", "list", "inspect", "exec", "create", "start", "stop", "rm",
    ] {
        assert!(
            report.ops.get(op).is_some_and(|o| o.ok > 0),
            "no {op} ran:\n{}",
            report.render()
        );
    }
    // Two followers and two subscribers held their streams to the end, and
    // the streams carried something (the logger ticks; lifecycles publish).
    assert_eq!(report.ops.get("logs -f").map(|o| o.ok), Some(2));
    assert_eq!(report.ops.get("events").map(|o| o.ok), Some(2));
    assert!(report.follower_bytes > 0 && report.event_bytes > 0);

    // Back near the baseline (polled: trash threads and idle connections
    // finish on their own time).
    let started = Instant::now();
    let mut now = report.after;
    while !near_baseline(report.before, now) && started.elapsed() < SETTLE_BOUND {
        std::thread::sleep(Duration::from_millis(500));
        now = sample(&[pid]);
    }
    assert!(
        near_baseline(report.before, now),
        "before {:?}, after {:?}\n{}",
        report.before,
        now,
        report.render()
    );
    // Everything the run made is gone, and the daemon still answers.
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    assert!(d.ping());
}
