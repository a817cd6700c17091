//! kill -9 at random moments under load (issue 19 §4, "kill -9 anywhere").
//!
//! The load generator (`skiff_e2e::load`, the mix of `bench/load.sh`) runs
//! its clients against one skiffd; at random moments (a seeded RNG, the
//! seed printed: `SKIFF_KILL_SEED` replays a run) skiffd is SIGKILLed in
//! the middle of whatever the clients are doing, and restarted on the same
//! data root. After each restart, with the clients held:
//! - `skiffd check` finds the data root consistent;
//! - every container whose create was acknowledged (201) is still there
//!   (unless its removal was sent), no acknowledged removal (204) came
//!   back, the run's long-lived containers still run and the image is
//!   still listed (`load::kill::Kills::verify`).
//!
//! Then the clients go on. Requests a kill cut short are counted apart;
//! any other failure is an error, and there must be none. At the end the
//! run removes what it made, and the checker is clean again.
//!
//! CI runs a bounded version; `bench/load-kill.sh` runs the same test
//! longer (`SKIFF_KILL_ROUNDS`, `SKIFF_KILL_CLIENTS`,
//! `SKIFF_KILL_MAX_MS`: the longest wait before a kill).

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use skiff_e2e::load::kill::Kills;
use skiff_e2e::load::{LoadOpts, run_with_kills};
use skiff_e2e::util::wait_until;
use skiff_e2e::{Skiffd, SkiffdOpts};

/// A numeric setting from the environment, else `default`.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn kill9_at_random_moments_under_load_loses_nothing() {
    let rounds = knob("SKIFF_KILL_ROUNDS", 6);
    let clients = knob("SKIFF_KILL_CLIENTS", 24) as usize;
    let max_ms = knob("SKIFF_KILL_MAX_MS", 2500).max(300);
    let seed = knob(
        "SKIFF_KILL_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    );
    eprintln!(
        "kill -9 under load: seed {seed} (SKIFF_KILL_SEED={seed} replays it), {rounds} kills, {clients} clients"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let socket = d.socket().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let kills = Arc::new(Kills::new());
    let opts = LoadOpts {
        socket: socket.clone(),
        clients,
        // A bound: the test ends the load with `finish`.
        duration: Duration::from_secs(3600),
        image: "busybox".into(),
        pids: Vec::new(),
        settle: Duration::ZERO,
    };
    let load = runtime.spawn(run_with_kills(opts, Arc::clone(&kills)));
    wait_until("the load's setup", Duration::from_secs(120), || {
        kills.is_ready() || load.is_finished()
    });
    assert!(
        kills.is_ready(),
        "the load could not set up: {:?}",
        runtime.block_on(load)
    );

    let mut acked_at_kills = Vec::new();
    for round in 1..=rounds {
        let wait = rng.random_range(300..=max_ms);
        std::thread::sleep(Duration::from_millis(wait));
        let before = kills.ledger();
        kills.begin_kill();
        d.kill9();
        assert!(
            kills.wait_idle(Duration::from_secs(150)),
            "round {round} (seed {seed}): requests to the killed daemon still in flight"
        );
        d.restart();
        kills.daemon_up();
        let (clean, report) = d.check_report();
        assert!(
            clean,
            "round {round} (seed {seed}): skiffd check after the kill:\n{report}\n{}",
            d.log_tail(60)
        );
        let v = runtime
            .block_on(kills.verify(&socket, "busybox"))
            .expect("listing after the restart");
        eprintln!(
            "kill {round}/{rounds} after {wait} ms: check clean; {} containers present, {} removals absent, {} in doubt, {} lost",
            v.present,
            v.absent,
            v.in_doubt,
            v.lost.len()
        );
        assert!(
            v.lost.is_empty(),
            "round {round} (seed {seed}): acknowledged operations lost:\n{}\n{}",
            v.lost.join("\n"),
            d.log_tail(60)
        );
        acked_at_kills.push(before.created.len() + before.removed.len());
        kills.resume();
    }
    // A little more load on the last restart, then the end.
    std::thread::sleep(Duration::from_secs(1));
    kills.finish();
    let report = runtime
        .block_on(load)
        .expect("load task")
        .expect("load run");
    eprintln!("{}", report.render());
    let ledger = kills.ledger();
    eprintln!(
        "{rounds} kills (seed {seed}): checker clean after each, {} creates and {} removals acknowledged, 0 lost; {} requests cut short by the kills",
        ledger.created.len(),
        ledger.removed.len(),
        report.interrupted()
    );
    assert_eq!(
        report.errors(),
        0,
        "failures no kill explains (seed {seed}):\n{}",
        report.render()
    );
    // Work went on between the kills: the later ones hit a restarted
    // daemon at work.
    assert!(
        acked_at_kills.last() > acked_at_kills.first(),
        "acknowledged operations at each kill: {acked_at_kills:?}"
    );
    // The run removed what it made; the data root is consistent.
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    d.assert_consistent();
}
