//! `docker update` against the fake runtime.

use bollard_stubs::models::{HostConfig, RestartPolicyNameEnum};

use super::super::ContainerConfig;
use super::super::lifecycle_tests::{harness, request};
use super::UpdateRequest;
use crate::errdefs::ErrorKind;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn a_running_containers_cgroups_and_record_get_the_new_limits() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig::default()))?;
    h.svc.start(&id).await?;
    let warnings = h
        .svc
        .update_container(
            &id,
            UpdateRequest {
                memory: 64 << 20,
                memory_swap: 128 << 20,
                nano_cpus: 500_000_000,
                pids_limit: Some(20),
                restart_policy: Some(("on-failure".into(), 3)),
                ..UpdateRequest::default()
            },
        )
        .await?;
    assert!(warnings.is_empty());
    let updates = h.fake.cgroup_updates();
    let (cid, limits) = updates.first().ok_or("cgroups written")?;
    assert_eq!(cid, &id);
    assert_eq!(limits.memory, Some(64 << 20));
    assert_eq!(
        (limits.cpu_period, limits.cpu_quota),
        (Some(100_000), Some(50_000))
    );
    assert_eq!(limits.pids_limit, Some(20));
    let r = h.svc.store.get(&id).ok_or("record")?;
    assert_eq!(r.host_config.memory, Some(64 << 20));
    assert_eq!(r.host_config.nano_cpus, Some(500_000_000));
    let policy = r.host_config.restart_policy.ok_or("policy")?;
    assert_eq!(
        (policy.name, policy.maximum_retry_count),
        (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3))
    );
    let events = h.svc.events.subscribe(Some(0)).0;
    assert!(events.iter().any(|e| e.actor == id && e.action == "update"));
    Ok(())
}

#[tokio::test]
async fn a_stopped_container_is_only_recorded() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig::default()))?;
    h.svc
        .update_container(
            &id,
            UpdateRequest {
                cpu_shares: 512,
                ..UpdateRequest::default()
            },
        )
        .await?;
    assert!(h.fake.cgroup_updates().is_empty());
    assert_eq!(
        h.svc.store.get(&id).and_then(|r| r.host_config.cpu_shares),
        Some(512)
    );
    Ok(())
}

#[tokio::test]
async fn dockerds_refusals() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig {
        auto_remove: Some(true),
        ..HostConfig::default()
    }))?;
    let refused = |req: UpdateRequest| {
        let svc = h.svc.clone();
        let id = id.clone();
        async move { svc.update_container(&id, req).await.expect_err("refused") }
    };
    let e = refused(UpdateRequest {
        memory: 1 << 20,
        ..UpdateRequest::default()
    })
    .await;
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (
            ErrorKind::InvalidArgument,
            "Minimum memory limit allowed is 6MB"
        )
    );
    let e = refused(UpdateRequest {
        memory: 64 << 20,
        ..UpdateRequest::default()
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string().ends_with(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        ),
        "{e}"
    );
    let e = refused(UpdateRequest {
        restart_policy: Some(("always".into(), 0)),
        ..UpdateRequest::default()
    })
    .await;
    assert_eq!(
        e.to_string(),
        format!(
            "Cannot update container {id}: Restart policy cannot be updated because AutoRemove is enabled for the container"
        )
    );
    let e = refused(UpdateRequest {
        kernel_memory: 64 << 20,
        ..UpdateRequest::default()
    })
    .await;
    assert!(e.to_string().contains("KernelMemory"), "{e}");
    let e = refused(UpdateRequest {
        restart_policy: Some(("always".into(), 2)),
        ..UpdateRequest::default()
    })
    .await;
    assert_eq!(
        e.to_string(),
        "invalid restart policy: maximum retry count can only be used with 'on-failure'"
    );
    let e = refused(UpdateRequest {
        cpuset_cpus: "0-999".into(),
        ..UpdateRequest::default()
    })
    .await;
    assert!(
        e.to_string()
            .starts_with("Requested CPUs are not available - requested 0-999"),
        "{e}"
    );
    let e = h
        .svc
        .update_container("nope", UpdateRequest::default())
        .await
        .expect_err("no such container");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    Ok(())
}
