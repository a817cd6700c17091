//! bollard 0.21.1's own integration tests (the `tests/` its crate ships)
//! against skiffd, through `tests/bollard/run.sh`.
//!
//! run.sh copies bollard's source out of the cargo registry into
//! `<target>/bollard-suite/`, builds `image_test`, `system_test`,
//! `version_test`, `distribution`, `race_test`, `container_test`,
//! `exec_test` and `volume_test` there (features `time` and `test_websocket`; about 3 minutes
//! on 2 cores the first time, seconds afterwards), starts a docker-registry
//! holding the fixture images under the names bollard pulls
//! (`hello-world:linux`, `alpine`, and `fussybeaver/uhttpd`: busybox plus a
//! `/usr/sbin/run_uhttpd` that runs until stopped and the
//! `/etc/config/uhttpd` exec_test reads) and a fresh skiffd per mode, and
//! runs every test on its own:
//!
//! - `mirror`: `DISABLE_REGISTRY=1`, docker.io names through
//!   `--registry-mirror`;
//! - `registry`: `REGISTRY_HTTP_ADDR=localhost:PORT`, as bollard's own CI.
//!
//! This test asserts that every test of [`EXPECTED_PASS`] passes in both
//! modes, and that every test run is classified: expected to pass, known to
//! fail on skiffd today ([`KNOWN_FAILING`], with the reason), or not
//! applicable to skiffd yet (run.sh's `na_reason`). A known failure that
//! starts passing is reported, not failed: move it to [`EXPECTED_PASS`].
//!
//! Container and exec tests not asserted here (run.sh's `na_reason`, or not
//! compiled):
//!
//! - `container_test::integration_test_image_push` in mirror mode: it
//!   would push to Docker Hub (in registry mode it pushes to the run's
//!   registry and must pass, [`EXPECTED_PASS_IN_REGISTRY_MODE`]);
//! - `container_test::integration_test_checkpoint` (feature
//!   `test_checkpoint`, not built): needs CRIU checkpoints (experimental).
//!
//! Every container and exec test built here passes against Debian's dockerd
//! 20.10 with the same images (`run.sh --docker-host`), but image_push in
//! mirror mode (Docker Hub).
//!
//! `SKIFF_SKIP_BOLLARD_SUITE=1` skips it; `BOLLARD_TEST_TIMEOUT` (seconds,
//! default 60) bounds each bollard test.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use skiff_e2e::skiffd::skiffd_bin;
use skiff_e2e::util;

/// Modes run.sh runs (both by default).
const MODES: &[&str] = &["mirror", "registry"];

/// bollard tests (`binary::test`) that must pass against skiffd in every
/// mode.
const EXPECTED_PASS: &[&str] = &[
    "image_test::integration_test_build_image",
    "image_test::integration_test_commit_container",
    "image_test::integration_test_create_image",
    "image_test::integration_test_export_image",
    "image_test::integration_test_export_images",
    "image_test::integration_test_image_history",
    "image_test::integration_test_images_list",
    "image_test::integration_test_import_image",
    "image_test::integration_test_import_image_stream",
    "image_test::integration_test_inspect_image",
    "image_test::integration_test_prune_images",
    "image_test::integration_test_remove_image",
    "system_test::integration_test_info",
    "system_test::integration_test_ping",
    "version_test::test_connect_with_defaults",
    "version_test::test_downversioning",
    "version_test::test_version_unix",
    "race_test::test_runtime",
    "race_test::test_runtime_2",
    "race_test::test_runtime_3",
    "race_test::test_runtime_4",
    "image_test::integration_test_create_image_wasm",
    "system_test::integration_test_df",
    "system_test::integration_test_events",
    "system_test::integration_test_events_until_forever",
    "distribution::integration_test_inspect_registry_image",
    "container_test::integration_test_archive_containers",
    "container_test::integration_test_attach_container",
    "container_test::integration_test_export_container",
    "container_test::integration_test_inspect_containers",
    "container_test::integration_test_kill_container",
    "container_test::integration_test_list_containers",
    "container_test::integration_test_logs",
    "container_test::integration_test_logs_tty",
    "container_test::integration_test_mount_volume_containers",
    "container_test::integration_test_pause_container",
    "container_test::integration_test_prune_containers",
    "container_test::integration_test_rename_container",
    "container_test::integration_test_resize_container_tty",
    "container_test::integration_test_restart_container",
    "container_test::integration_test_stats",
    "container_test::integration_test_top_processes",
    "container_test::integration_test_container_changes",
    "container_test::integration_test_update_container",
    "container_test::integration_test_attach_container_websocket",
    "exec_test::integration_test_inspect_exec",
    "exec_test::integration_test_start_exec",
    "exec_test::integration_test_start_exec_output_capacity_long",
    "exec_test::integration_test_start_exec_output_capacity_short",
    "volume_test::integration_test_list_volumes",
    "volume_test::integration_test_create_volume",
    "volume_test::integration_test_prune_volumes",
];

/// Applicable bollard tests that skiffd does not pass yet, and why.
const KNOWN_FAILING: &[(&str, &str)] = &[];

/// bollard tests that must pass in `registry` mode only (in `mirror` mode
/// they would reach Docker Hub; run.sh's `na_reason` says so there).
const EXPECTED_PASS_IN_REGISTRY_MODE: &[&str] = &["container_test::integration_test_image_push"];

/// One row of run.sh's results file.
#[derive(Debug)]
struct Row {
    outcome: String,
    secs: String,
    note: String,
}

#[test]
fn bollard_integration_tests() {
    if std::env::var_os("SKIFF_SKIP_BOLLARD_SUITE").is_some_and(|v| v == "1") {
        eprintln!("bollard_suite: skipped (SKIFF_SKIP_BOLLARD_SUITE=1)");
        return;
    }
    let fixtures = skiff_e2e::seed();
    let script = util::workspace_root().join("tests/bollard/run.sh");
    let dir = util::tempdir("skiff-bollard-").expect("temp dir");
    let results = dir.path().join("results.tsv");
    let started = Instant::now();
    // run.sh's stderr (progress, panics of failing tests) is not captured:
    // it shows in every run. Its stdout is the table printed again below
    // with each test's class.
    let status = Command::new("bash")
        .arg(&script)
        .arg("--skiffd")
        .arg(skiffd_bin())
        .arg("--fixtures")
        .arg(&fixtures.dir)
        .arg("--results")
        .arg(&results)
        .stdout(Stdio::null())
        .status()
        .expect("running tests/bollard/run.sh");
    let wall = started.elapsed();
    assert!(status.success(), "tests/bollard/run.sh failed: {status}");
    let text = fs::read_to_string(&results).expect("reading run.sh results");

    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut fields = line.split('\t');
        let mut next = || fields.next().unwrap_or_default().to_string();
        let (mode, test) = (next(), next());
        let row = Row {
            outcome: next(),
            secs: next(),
            note: next(),
        };
        rows.insert((mode, test), row);
    }

    let known = |test: &str| {
        KNOWN_FAILING
            .iter()
            .find(|(t, _)| *t == test)
            .map(|(_, why)| *why)
    };
    let mut problems = Vec::new();
    let mut fixed = Vec::new();
    let mut report = String::new();
    for ((mode, test), row) in &rows {
        let expected = EXPECTED_PASS.contains(&test.as_str())
            || (mode == "registry" && EXPECTED_PASS_IN_REGISTRY_MODE.contains(&test.as_str()));
        let class = if expected {
            if row.outcome != "PASS" {
                problems.push(format!("{mode} {test}: {} (expected PASS)", row.outcome));
            }
            "expected pass".to_string()
        } else if let Some(why) = known(test) {
            if row.outcome == "PASS" {
                fixed.push(format!("{mode} {test}"));
            }
            format!("known failure: {why}")
        } else if row.note.starts_with("n/a:") {
            row.note.clone()
        } else {
            problems.push(format!(
                "{mode} {test}: {} but not classified (add it to EXPECTED_PASS, KNOWN_FAILING or run.sh's na_reason)",
                row.outcome
            ));
            "unclassified".to_string()
        };
        report.push_str(&format!(
            "{mode:<9} {test:<62} {:<8} {:>6}s  {class}\n",
            row.outcome, row.secs
        ));
    }
    for test in EXPECTED_PASS_IN_REGISTRY_MODE {
        if !rows.contains_key(&("registry".to_string(), test.to_string())) {
            problems.push(format!("registry {test}: did not run"));
        }
    }
    for mode in MODES {
        for test in EXPECTED_PASS {
            if !rows.contains_key(&(mode.to_string(), test.to_string())) {
                problems.push(format!("{mode} {test}: did not run"));
            }
        }
    }
    let mut summary = format!(
        "bollard_suite: {} runs in {:.0}s ({})\n{report}",
        rows.len(),
        wall.as_secs_f64(),
        text.lines().next().unwrap_or_default()
    );
    if !fixed.is_empty() {
        summary.push_str(&format!(
            "bollard_suite: known failures that now pass (move them to EXPECTED_PASS):\n  {}\n",
            fixed.join("\n  ")
        ));
    }
    // Straight to stderr, past libtest's capture: the list shows in every run.
    let _ = std::io::stderr().write_all(summary.as_bytes());
    assert!(
        problems.is_empty(),
        "bollard's integration tests against skiffd:\n  {}",
        problems.join("\n  ")
    );
}
