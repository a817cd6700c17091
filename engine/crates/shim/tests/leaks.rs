//! 50 containers in a row leave no process, mount, descriptor, cgroup or
//! socket behind; prints the serial cost of one container. (Alone in its test
//! binary, so that no other test opens descriptors meanwhile; other test
//! binaries may run beside it, so mounts are counted under its own
//! directory.)

mod common;

use std::time::{Duration, Instant};

use common::{World, eventually, fd_count, processes_mentioning, world};

/// Runs `true` in a container; returns the time of (spawn, wait, delete).
fn run_one(w: &World, id: &str) -> [Duration; 3] {
    let t0 = Instant::now();
    let shim = w.spawn(id, &["true"]);
    let t1 = Instant::now();
    let exit = shim.wait().expect("wait");
    assert_eq!(exit.exit_code, 0);
    let t2 = Instant::now();
    shim.delete(false).expect("delete");
    [t1 - t0, t2 - t1, t2.elapsed()]
}

fn cgroups_left(w: &World) -> Vec<String> {
    let mut left = Vec::new();
    for ctrl in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let parent = ctrl.path().join(w.cgroup_parent.trim_start_matches('/'));
        for child in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if child.path().is_dir() {
                left.push(child.path().display().to_string());
            }
        }
    }
    left
}

#[test]
fn fifty_sequential_containers_leak_nothing() {
    let Some(w) = world() else { return };
    let needle = w.dir.path().display().to_string();
    run_one(&w, "warmup");
    assert!(eventually(Duration::from_secs(5), || processes_mentioning(
        &needle
    )
    .is_empty()));
    let fds = fd_count();
    // Mounts under this test's directory only: other test binaries mount
    // and unmount their containers at the same time (scripts/run-tests.py).
    let mine = || -> Vec<String> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_owned)
            .collect()
    };
    let before = mine();

    let n = 50;
    let started = Instant::now();
    let mut phases = [Duration::ZERO; 3];
    for i in 0..n {
        for (total, d) in phases.iter_mut().zip(run_one(&w, &format!("seq{i}"))) {
            *total += d;
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(n);
    eprintln!(
        "FIGURE serial: {:.1} ms per container (spawn shim + create + start + exit + delete), {n} runs: \
         spawn+create+start {:.1} ms, run+wait {:.1} ms, delete {:.1} ms",
        ms(started.elapsed()),
        ms(phases[0]),
        ms(phases[1]),
        ms(phases[2])
    );

    assert!(
        eventually(Duration::from_secs(10), || processes_mentioning(&needle)
            .is_empty()),
        "shims left: {:?}",
        processes_mentioning(&needle)
    );
    assert_eq!(fd_count(), fds, "descriptors of the client");
    let after = mine();
    let added: Vec<&String> = after.iter().filter(|l| !before.contains(*l)).collect();
    let removed: Vec<&String> = before.iter().filter(|l| !after.contains(*l)).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "mounts under {needle}: added {added:#?} removed {removed:#?}"
    );
    assert!(
        cgroups_left(&w).is_empty(),
        "cgroups left: {:?}",
        cgroups_left(&w)
    );
    for i in 0..n {
        let state = w.dir.path().join("state").join(format!("seq{i}"));
        assert!(!state.join("shim.sock").exists());
        assert!(!state.join("runtime").join(format!("seq{i}")).exists());
        assert!(state.join("exit.json").exists());
    }
}
