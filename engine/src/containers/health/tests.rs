//! Healthchecks against the fake runtime: probes are the fake's scripted
//! execs; each test waits for the state it expects (no timed assertion).

use std::time::Duration;

use bollard_stubs::models::{ContainerConfig as Body, HealthConfig, HostConfig};

use super::super::ContainerConfig;
use super::super::create::CreateRequest;
use super::super::lifecycle_tests::{Harness, harness};
use super::super::runtime::fake::FakeExec;
use super::state::{HealthStatus, MAX_OUTPUT};
use super::{Health, Schedule};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A healthcheck of `test` probed every millisecond.
fn check(test: &[&str], retries: i64, timeout_ms: i64) -> HealthConfig {
    HealthConfig {
        test: Some(test.iter().map(|s| (*s).to_owned()).collect()),
        interval: Some(1_000_000),
        timeout: Some(timeout_ms * 1_000_000),
        retries: Some(retries),
        start_period: None,
        start_interval: None,
    }
}

fn request(health: Option<HealthConfig>) -> CreateRequest {
    CreateRequest {
        name: None,
        config: Body {
            image: Some("fake".into()),
            healthcheck: health,
            ..Body::default()
        },
        host_config: HostConfig::default(),
        networks: Vec::new(),
    }
}

impl Harness {
    fn health(&self, id: &str) -> Option<Health> {
        self.svc.store.get(id).and_then(|r| r.state.health)
    }

    /// Waits until the health of `id` passes `done` (the record's watch
    /// wakes it at each probe result).
    async fn health_until(&self, id: &str, what: &str, done: impl Fn(&Health) -> bool) -> Health {
        let mut rx = self.svc.watch(id);
        let wait = async {
            loop {
                if let Some(h) = rx
                    .borrow_and_update()
                    .as_ref()
                    .and_then(|r| r.state.health.clone())
                    && done(&h)
                {
                    return h;
                }
                if rx.changed().await.is_err() {
                    panic!("container {id} removed while waiting for: {what}");
                }
            }
        };
        // A generous bound against a hang, not a timing assertion.
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("never happened: {what}"))
    }

    /// The actions of the events published so far for `id`.
    fn actions(&self, id: &str) -> Vec<String> {
        self.svc
            .events
            .subscribe(Some(0))
            .0
            .into_iter()
            .filter(|e| e.actor == id)
            .map(|e| e.action)
            .collect()
    }
}

#[tokio::test]
async fn a_passing_probe_makes_it_healthy_with_exec_events() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h
        .svc
        .create(request(Some(check(&["CMD-SHELL", "exit 0"], 3, 10_000))))?;
    // Created, never started: no health state.
    assert!(h.health(&id).is_none());
    h.fake.script_execs([FakeExec::Exit(0, b"fine\n".to_vec())]);
    h.svc.start(&id).await?;
    let health = h
        .health_until(&id, "healthy", |x| x.status == HealthStatus::Healthy)
        .await;
    assert_eq!(health.failing_streak, 0);
    let first = health.log.first().ok_or("a result")?;
    assert_eq!((first.exit_code, first.output.as_str()), (0, "fine\n"));
    assert!(first.start <= first.end, "{first:?}");
    // The probe's exec is not kept once its result is recorded.
    let exec_ids: Vec<String> = h
        .svc
        .events
        .subscribe(Some(0))
        .0
        .into_iter()
        .filter(|e| e.action == "exec_die")
        .filter_map(|e| e.attributes.get("execID").cloned())
        .collect();
    assert!(!exec_ids.is_empty());
    assert!(exec_ids.iter().all(|x| h.svc.inspect_exec(x).is_err()));
    assert_eq!(h.fake.execs_run()[0], ["/bin/sh", "-c", "exit 0"]);
    let actions = h.actions(&id);
    for wanted in [
        "exec_create: /bin/sh -c exit 0",
        "exec_start: /bin/sh -c exit 0",
        "exec_die",
        "health_status: healthy",
    ] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} not in {actions:?}"
        );
    }
    // The status change is on disk (a reopened store would see it).
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.svc.store.dir(&id).join("container.json"))?)?;
    assert_eq!(on_disk["state"]["health"]["status"], "healthy");
    Ok(())
}

#[tokio::test]
async fn failing_probes_make_it_unhealthy_after_the_retries() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h
        .svc
        .create(request(Some(check(&["CMD", "false"], 2, 10_000))))?;
    h.fake.script_execs([
        FakeExec::Exit(1, b"no\n".to_vec()),
        FakeExec::Exit(1, b"no\n".to_vec()),
        FakeExec::Exit(1, b"no\n".to_vec()),
    ]);
    h.svc.start(&id).await?;
    let health = h
        .health_until(&id, "unhealthy", |x| x.status == HealthStatus::Unhealthy)
        .await;
    assert_eq!(health.failing_streak, 2);
    assert_eq!(health.log.len(), 2);
    assert_eq!(h.fake.execs_run()[0], ["false"]);
    assert!(
        h.actions(&id)
            .iter()
            .any(|a| a == "health_status: unhealthy")
    );
    // Then a pass: healthy again, the streak reset.
    let health = h
        .health_until(&id, "healthy again", |x| x.status == HealthStatus::Healthy)
        .await;
    assert_eq!(health.failing_streak, 0);
    // The log never holds more than five results.
    let health = h
        .health_until(&id, "a full log", |x| x.log.len() == super::state::MAX_LOG)
        .await;
    assert_eq!(health.log.len(), 5);
    Ok(())
}

#[tokio::test]
async fn a_probe_past_its_timeout_is_killed_and_fails() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h
        .svc
        .create(request(Some(check(&["CMD", "sleep", "9"], 1, 5))))?;
    h.fake.script_execs([FakeExec::Hang(b"partial".to_vec())]);
    h.svc.start(&id).await?;
    let health = h
        .health_until(&id, "unhealthy", |x| x.status == HealthStatus::Unhealthy)
        .await;
    let r = health.log.first().ok_or("a result")?;
    assert_eq!(r.exit_code, -1);
    assert_eq!(r.output, "Health check exceeded timeout (5ms): partial");
    assert_eq!(h.fake.hung_execs(), 0, "the probe was killed");
    Ok(())
}

#[tokio::test]
async fn long_output_is_cut_at_4_kib() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h
        .svc
        .create(request(Some(check(&["CMD", "yes"], 3, 10_000))))?;
    h.fake
        .script_execs([FakeExec::Exit(0, vec![b'y'; 3 * MAX_OUTPUT])]);
    h.svc.start(&id).await?;
    let health = h
        .health_until(&id, "healthy", |x| x.status == HealthStatus::Healthy)
        .await;
    let r = health.log.first().ok_or("a result")?;
    assert_eq!(r.output.len(), MAX_OUTPUT + 3);
    assert!(r.output.ends_with("y..."));
    Ok(())
}

#[tokio::test]
async fn the_monitor_stops_with_the_container_and_none_disables_it() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h
        .svc
        .create(request(Some(check(&["CMD", "true"], 3, 10_000))))?;
    h.svc.start(&id).await?;
    h.health_until(&id, "healthy", |x| x.status == HealthStatus::Healthy)
        .await;
    assert_eq!(h.svc.health.count(), 1);
    h.svc.stop(&id, Some(1), None).await?;
    assert_eq!(h.svc.health.count(), 0, "stopped with the container");
    // dockerd's stopped monitor leaves the container unhealthy.
    let health = h.health(&id).ok_or("health")?;
    assert_eq!(health.status, HealthStatus::Unhealthy);
    // A restart begins again from `starting`, the log kept.
    h.svc.start(&id).await?;
    let record = h.svc.store.get(&id).ok_or("record")?;
    let health = record.state.health.ok_or("health")?;
    assert_eq!(health.status, HealthStatus::Starting);
    assert!(!health.log.is_empty());
    h.svc.remove(&id, true).await?;
    assert_eq!(h.svc.health.count(), 0, "removed with the container");

    // `--no-healthcheck` (Test NONE): no probe, no health state.
    let (id, _) = h.svc.create(request(Some(HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..HealthConfig::default()
    })))?;
    h.svc.start(&id).await?;
    assert!(h.health(&id).is_none());
    assert_eq!(h.svc.health.count(), 0);
    Ok(())
}

#[tokio::test]
async fn pause_stops_the_probes_and_unpause_resumes_them() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h
        .svc
        .create(request(Some(check(&["CMD", "true"], 3, 10_000))))?;
    h.svc.start(&id).await?;
    h.svc.set_paused(&id, true).await?;
    assert_eq!(h.svc.health.count(), 0);
    let health = h.health(&id).ok_or("health")?;
    assert_eq!(health.status, HealthStatus::Unhealthy, "as dockerd's");
    h.svc.set_paused(&id, false).await?;
    assert_eq!(h.svc.health.count(), 1);
    h.health_until(&id, "healthy", |x| x.status == HealthStatus::Healthy)
        .await;
    Ok(())
}

#[tokio::test]
async fn create_refuses_what_dockerd_refuses() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let mut bad = check(&["CMD", "true"], 3, 10_000);
    bad.interval = Some(10);
    let err = h.svc.create(request(Some(bad))).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "Interval in Healthcheck cannot be less than 1ms"
    );
    assert_eq!(err.kind(), crate::errdefs::ErrorKind::InvalidArgument);
    let schedule = Schedule::of(&Body {
        healthcheck: Some(check(&["CMD", "true"], 0, 1)),
        ..Body::default()
    })
    .ok_or("schedule")?;
    assert_eq!(schedule.retries, 3, "0 retries means dockerd's default");
    Ok(())
}
