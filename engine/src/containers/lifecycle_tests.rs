//! The container lifecycle against the fake runtime: no root, no kernel
//! features, no `skiff-shim` binary.

use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::{
    ContainerConfig as Body, HostConfig, HostConfigCgroupnsModeEnum, RestartPolicy,
    RestartPolicyNameEnum,
};
use skiff_registry::RegistryConfig;
use skiff_shim::protocol::Frame;

use super::attach::{AttachOptions, AttachTicket};
use super::create::CreateRequest;
use super::exec::ExecOptions;
use super::record::Status;
use super::runtime::Runtime;
use super::runtime::fake::FakeRuntime;
use super::spec::InitConfig;
use super::start::Started;
use super::{ContainerConfig, ContainerError, ContainerService};
use crate::events::Events;
use crate::images::ImageService;
use crate::images::import::ImportRequest;

pub(super) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A service over the fake runtime (shared with the health tests).
pub(super) struct Harness {
    pub(super) svc: Arc<ContainerService>,
    pub(super) fake: Arc<FakeRuntime>,
    pub(super) _root: tempfile::TempDir,
}

impl Drop for Harness {
    /// Background preparations (of `--rm` containers) write into the data
    /// root: they end before the root is removed, or the removal races them
    /// and leaves the directory behind.
    fn drop(&mut self) {
        self.svc.settle_preparations();
    }
}

/// A service over the fake runtime, with one image, `fake:latest`, whose
/// command is `/bin/app`.
pub(super) async fn harness(
    config: ContainerConfig,
) -> Result<Harness, Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    let events = Events::new();
    let images = Arc::new(ImageService::open(
        root.path(),
        RegistryConfig::default(),
        events.clone(),
    )?);
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "bin/app", &b"#!"[..])?;
    let layer = tar.into_inner()?;
    let importer = images.clone();
    tokio::task::spawn_blocking(move || {
        importer.import(
            &layer[..],
            &ImportRequest {
                repo: Some("fake".into()),
                changes: vec![r#"CMD ["/bin/app"]"#.into()],
                ..ImportRequest::default()
            },
        )
    })
    .await??;
    let fake = Arc::new(FakeRuntime::default());
    let runtime = Runtime {
        shims: fake.clone(),
        host: fake.clone(),
    };
    let svc = ContainerService::open_with(root.path(), images, events, config, runtime)?;
    Ok(Harness {
        svc: Arc::new(svc),
        fake,
        _root: root,
    })
}

/// A create request of `fake` with `host_config`.
pub(super) fn request(host_config: HostConfig) -> CreateRequest {
    CreateRequest {
        name: None,
        config: Body {
            image: Some("fake".into()),
            ..Body::default()
        },
        host_config,
        networks: vec![],
    }
}

/// Polls `done` for up to 5 s.
pub(super) async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

impl Harness {
    pub(super) fn status(&self, id: &str) -> Option<Status> {
        self.svc.store.get(id).map(|r| r.state.status)
    }

    fn restarts(&self, id: &str) -> i64 {
        self.svc.store.get(id).map_or(-1, |r| r.restart_count)
    }
}

#[tokio::test]
async fn a_container_starts_exits_and_is_cleaned_up() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig::default()))?;
    assert_eq!(h.status(&id), Some(Status::Created));
    assert_eq!(h.svc.start(&id).await?, Started::Yes);
    assert_eq!(h.status(&id), Some(Status::Running));
    assert_eq!(h.svc.start(&id).await?, Started::AlreadyRunning);
    let dir = h.svc.shim_dir(&id);
    assert!(h.fake.is_running(&dir));
    assert_eq!(h.fake.mounts(), 1);

    h.fake.exit(&dir, 3);
    until("the exit recorded", || {
        h.status(&id) == Some(Status::Exited)
    })
    .await;
    let record = h.svc.store.get(&id).ok_or("record")?;
    assert_eq!(record.state.exit_code, 3);
    assert_eq!(record.state.pid, 0);
    until("the shim deleted", || !h.fake.has_shim(&dir)).await;
    assert_eq!(h.fake.mounts(), 0, "unmounted");
    assert!(h.fake.cgroups_removed(&id));
    // No restart policy: it stays exited.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((h.fake.spawns(), h.status(&id)), (1, Some(Status::Exited)));
    Ok(())
}

#[tokio::test]
async fn on_failure_restarts_up_to_its_maximum() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig {
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(2),
        }),
        ..HostConfig::default()
    }))?;
    h.svc.start(&id).await?;
    let dir = h.svc.shim_dir(&id);
    for restart in 1..=2 {
        h.fake.exit(&dir, 1);
        until("a restart", || {
            h.restarts(&id) == restart
                && h.fake.spawns() == restart as usize + 1
                && h.status(&id) == Some(Status::Running)
        })
        .await;
    }
    h.fake.exit(&dir, 1);
    until("the last exit", || h.status(&id) == Some(Status::Exited)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(h.fake.spawns(), 3, "no third restart");
    assert_eq!(h.status(&id), Some(Status::Exited));
    Ok(())
}

#[tokio::test]
async fn always_restarts_after_a_clean_exit_but_not_after_a_stop() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig {
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::ALWAYS),
            maximum_retry_count: None,
        }),
        ..HostConfig::default()
    }))?;
    h.svc.start(&id).await?;
    let dir = h.svc.shim_dir(&id);
    h.fake.exit(&dir, 0);
    until("a restart", || {
        h.fake.spawns() == 2 && h.status(&id) == Some(Status::Running)
    })
    .await;
    assert!(h.svc.stop(&id, Some(1), None).await?);
    assert_eq!(h.status(&id), Some(Status::Exited));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.fake.spawns(), 2, "stopped by the user: not restarted");
    Ok(())
}

#[tokio::test]
async fn an_auto_remove_container_is_removed_when_it_exits() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig {
        auto_remove: Some(true),
        ..HostConfig::default()
    }))?;
    // Create began the start: the shim is prepared, the process not run.
    until("the prepared shim", || h.fake.spawns() == 1).await;
    assert_eq!(h.status(&id), Some(Status::Created));
    h.svc.start(&id).await?;
    assert_eq!(h.fake.spawns(), 1, "start took the prepared shim");
    let mut watch = h.svc.watch(&id);
    h.fake.exit(&h.svc.shim_dir(&id), 7);
    tokio::time::timeout(Duration::from_secs(5), watch.wait_for(Option::is_none)).await??;
    assert!(h.svc.store.get(&id).is_none());
    assert_eq!(h.svc.removed_exit_code(&id), Some(7));
    assert_eq!(h.fake.mounts(), 0);
    Ok(())
}

#[tokio::test]
async fn an_attach_made_before_start_gets_the_whole_stream() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig::default()))?;
    let opts = AttachOptions {
        stdout: true,
        ..AttachOptions::default()
    };
    let (_, ticket) = h.svc.prepare_attach(&id, opts)?;
    assert!(matches!(ticket, AttachTicket::Later(..)));
    let attached = tokio::spawn(ticket.connect());
    h.svc.start(&id).await?;
    // Start returned after the attacher connected: nothing printed yet is
    // lost.
    let stream = attached.await??;
    let dir = h.svc.shim_dir(&id);
    h.fake.output(&dir, b"hello\n");
    h.fake.exit(&dir, 0);
    let mut frames = stream.into_async()?.frames;
    assert_eq!(
        frames.next_frame().await?,
        Some(Frame::Stdout(b"hello\n".to_vec()))
    );
    assert!(matches!(
        frames.next_frame().await?,
        Some(Frame::Exit(e)) if e.exit_code == 0
    ));
    assert_eq!(frames.next_frame().await?, None);
    Ok(())
}

#[tokio::test]
async fn a_running_container_is_removed_only_with_force() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let (id, _) = h.svc.create(request(HostConfig::default()))?;
    h.svc.start(&id).await?;
    let exec_id = h.svc.create_exec(
        &id,
        ExecOptions {
            cmd: vec!["ls".into()],
            ..ExecOptions::default()
        },
    )?;
    let name = h.svc.store.get(&id).ok_or("record")?.name;
    match h.svc.remove(&id, false).await {
        Err(ContainerError::Conflict(msg)) => assert_eq!(
            msg,
            format!(
                "cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
            )
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(h.fake.is_running(&h.svc.shim_dir(&id)));
    h.svc.remove(&id, true).await?;
    assert!(h.svc.store.get(&id).is_none());
    assert!(!h.fake.has_shim(&h.svc.shim_dir(&id)));
    assert_eq!(h.fake.mounts(), 0);
    assert_eq!(h.svc.removed_exit_code(&id), Some(137));
    // Its execs went with it.
    assert!(h.svc.inspect_exec(&exec_id).is_err());
    assert!(h.svc.execs.lock().map(|e| e.is_empty()).unwrap_or(false));
    Ok(())
}

#[tokio::test]
async fn two_services_keep_their_own_settings() -> TestResult {
    let a = harness(ContainerConfig {
        init: InitConfig::default(),
        default_cgroupns: HostConfigCgroupnsModeEnum::PRIVATE,
        cgroup_parent: "/skiff-a".into(),
        host_shares: None,
        vm_host_ip: None,
    })
    .await?;
    let missing = a._root.path().join("no-init");
    let b = harness(ContainerConfig {
        init: InitConfig {
            default: true,
            path: Some(missing.clone()),
        },
        default_cgroupns: HostConfigCgroupnsModeEnum::HOST,
        cgroup_parent: "/skiff-b".into(),
        host_shares: None,
        vm_host_ip: None,
    })
    .await?;
    let (id_a, _) = a.svc.create(request(HostConfig::default()))?;
    match b.svc.create(request(HostConfig::default())) {
        Err(ContainerError::InvalidArgument(msg)) => assert_eq!(
            msg,
            format!("init binary {} (--init-path) not found", missing.display())
        ),
        other => panic!("b runs an init by default: {other:?}"),
    }
    let (id_b, _) = b.svc.create(request(HostConfig {
        init: Some(false),
        ..HostConfig::default()
    }))?;
    let cgroupns = |h: &Harness, id: &str| {
        h.svc
            .store
            .get(id)
            .and_then(|r| r.host_config.cgroupns_mode)
    };
    assert_eq!(
        cgroupns(&a, &id_a),
        Some(HostConfigCgroupnsModeEnum::PRIVATE)
    );
    assert_eq!(cgroupns(&b, &id_b), Some(HostConfigCgroupnsModeEnum::HOST));
    // Each puts its containers under its own cgroup parent, unless the
    // container names one (normalised; a climbing one is refused).
    let cgroup = |h: &Harness, id: &str| h.svc.store.get(id).map(|r| r.cgroup());
    assert_eq!(cgroup(&a, &id_a), Some(format!("skiff-a/{id_a}")));
    assert_eq!(cgroup(&b, &id_b), Some(format!("skiff-b/{id_b}")));
    let (own, _) = a.svc.create(request(HostConfig {
        cgroup_parent: Some("mine/".into()),
        ..HostConfig::default()
    }))?;
    assert_eq!(cgroup(&a, &own), Some(format!("mine/{own}")));
    assert!(matches!(
        a.svc.create(request(HostConfig {
            cgroup_parent: Some("/a/../..".into()),
            ..HostConfig::default()
        })),
        Err(ContainerError::InvalidArgument(_))
    ));
    // And an exec registered in one is unknown to the other.
    a.svc.start(&id_a).await?;
    let exec_id = a.svc.create_exec(
        &id_a,
        ExecOptions {
            cmd: vec!["ls".into()],
            ..ExecOptions::default()
        },
    )?;
    assert!(a.svc.inspect_exec(&exec_id).is_ok());
    assert!(b.svc.inspect_exec(&exec_id).is_err());
    Ok(())
}
