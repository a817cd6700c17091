//! A container's mounts over its life ([`super::mounting`]), against the
//! fake runtime and a volume service whose mounts are faked: no root.

use std::collections::HashMap;
use std::sync::Arc;

use bollard_stubs::models::HostConfig;

use super::lifecycle_tests::{TestResult, harness, request, until};
use super::record::Status;
use super::{ContainerConfig, ContainerError};
use crate::events::EventType;
use crate::mounts::MountKind;
use crate::volumes::mounter::fake::FakeMounter;
use crate::volumes::{CreateRequest, VolumeError, VolumeService};

#[tokio::test]
async fn volumes_follow_the_container_from_create_to_removal() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let volumes = Arc::new(VolumeService::open_with(
        h._root.path(),
        h.svc.events.clone(),
        Arc::new(FakeMounter::default()),
    )?);
    h.svc.attach_volumes(volumes.clone());
    volumes.create(CreateRequest {
        name: Some("dev".into()),
        options: [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ..CreateRequest::default()
    })?;
    let (id, _) = h.svc.create(request(HostConfig {
        binds: Some(vec![
            "named:/n".into(),
            "/anon".into(),
            "dev:/dev-vol".into(),
            "/host/dir:/h:ro".into(),
        ]),
        tmpfs: Some(HashMap::from([("/run".to_owned(), "size=1m".to_owned())])),
        ..HostConfig::default()
    }))?;
    let record = h.svc.store.get(&id).ok_or("record")?;
    let kinds: Vec<_> = record
        .mounts
        .iter()
        .map(|m| (m.target.as_str(), m.kind))
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    let anon = record
        .mounts
        .iter()
        .find(|m| m.target == "/anon")
        .map(|m| m.source.clone())
        .ok_or("anon")?;
    assert!(volumes.inspect(&anon)?.is_anonymous());
    assert_eq!(volumes.users("named"), std::slice::from_ref(&id));
    // Inspect lists every mount but the HostConfig.Tmpfs ones.
    assert_eq!(h.svc.mount_points(&record).len(), 4);
    assert!(matches!(
        volumes.remove("named", true),
        Err(VolumeError::InUse { .. })
    ));

    // --volumes-from: the same volumes, read-only with :ro.
    let (other, _) = h.svc.create(request(HostConfig {
        volumes_from: Some(vec![format!("{id}:ro")]),
        ..HostConfig::default()
    }))?;
    let from = h.svc.store.get(&other).ok_or("record")?;
    assert!(
        from.mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .all(|m| m.read_only)
    );
    assert_eq!(volumes.users(&anon).len(), 2);
    // rm -v of the borrower: the anonymous volume is still used, it stays.
    h.svc.remove_with_volumes(&other, false, true).await?;
    assert_eq!(volumes.users(&anon), std::slice::from_ref(&id));

    // Start mounts (events), the exit unmounts.
    let (_, mut live) = h.svc.events.subscribe(None);
    h.svc.start(&id).await?;
    h.fake.exit(&h.svc.shim_dir(&id), 0);
    until("the exit recorded", || {
        h.status(&id) == Some(Status::Exited)
    })
    .await;
    let mut seen = Vec::new();
    while let Ok(e) = live.try_recv() {
        if e.kind == EventType::Volume {
            seen.push((e.action, e.actor));
        }
    }
    for name in ["named", anon.as_str(), "dev"] {
        for action in ["mount", "unmount"] {
            assert!(
                seen.contains(&(action.to_owned(), name.to_owned())),
                "{action} {name}: {seen:?}"
            );
        }
    }

    // rm -v: the anonymous volume goes, the named ones stay, unused.
    h.svc.remove_with_volumes(&id, false, true).await?;
    assert!(matches!(
        volumes.inspect(&anon),
        Err(VolumeError::NotFound(_))
    ));
    assert!(volumes.users("named").is_empty());
    volumes.remove("named", false)?;
    volumes.remove("dev", false)?;

    // A bad mount refuses the create and leaves no volume behind.
    let before = volumes.count();
    let err = h
        .svc
        .create(request(HostConfig {
            binds: Some(vec!["/fresh".into(), "bad name:/x".into()]),
            ..HostConfig::default()
        }))
        .err()
        .ok_or("refused")?;
    assert!(matches!(err, ContainerError::Volume(_)), "{err}");
    assert_eq!(volumes.count(), before);
    Ok(())
}
