//! A container's networking through its lifecycle, over the fake runtime
//! and skiff-net's fake netlink: endpoints and published ports made at
//! start, released at exit and removal; a taken port fails the start and
//! leaves nothing.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;

use bollard_stubs::models::HostConfig;
use skiff_net::link::fake::FakeNetlink;

use super::lifecycle_tests::{TestResult, harness, request, until};
use super::record::Status;
use super::{ContainerConfig, ContainerError};
use crate::events::Events;
use crate::networks::{LinkKernel, NetworkService};

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn publishing(port: u16) -> HostConfig {
    serde_json::from_value(serde_json::json!({
        "NetworkMode": "default",
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]}
    }))
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_ports_follow_the_container() -> TestResult {
    let h = harness(ContainerConfig::default()).await?;
    let root = tempfile::tempdir()?;
    let kernel = Arc::new(LinkKernel::recording(
        FakeNetlink::new(),
        tokio::runtime::Handle::current(),
    ));
    // Opening reads the routes: blocking, as at daemon open.
    let (path, k) = (root.path().to_path_buf(), kernel.clone());
    let networks = Arc::new(
        tokio::task::spawn_blocking(move || {
            NetworkService::open(&path, Events::new(), k, "skiff-test")
        })
        .await??,
    );
    h.svc.set_networks(networks.clone());
    let port = free_port();

    let (id, _) = h.svc.create(request(publishing(port)))?;
    assert!(networks.settings(&id).networks.contains_key("bridge"));
    h.svc.start(&id).await?;
    let settings = networks.settings(&id);
    let ep = settings.networks["bridge"]
        .endpoint
        .clone()
        .ok_or("endpoint")?;
    assert_eq!(ep.ip, Ipv4Addr::new(172, 17, 0, 2));
    assert_eq!(settings.ports.len(), 1);
    assert!(
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err(),
        "proxy bound"
    );
    let fw = kernel.firewall().ok_or("firewall")?;
    assert_eq!(fw.ports.len(), 1);

    // A second container on the same host port: dockerd's error, the start
    // fails, it keeps no endpoint.
    let (other, _) = h.svc.create(request(publishing(port)))?;
    let err = h.svc.start(&other).await.err().ok_or("start must fail")?;
    assert!(matches!(err, ContainerError::Network(_)), "{err}");
    assert!(
        err.to_string().contains("port is already allocated"),
        "{err}"
    );
    assert_eq!(h.status(&other), Some(Status::Created));
    assert!(
        networks.settings(&other).networks["bridge"]
            .endpoint
            .is_none()
    );

    // The exit gives everything back.
    h.fake.exit(&h.svc.shim_dir(&id), 0);
    until("the endpoint released", || {
        networks.settings(&id).networks["bridge"].endpoint.is_none()
    })
    .await;
    assert!(networks.settings(&id).ports.is_empty());
    until("the port free", || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
    })
    .await;
    assert!(kernel.firewall().ok_or("firewall")?.ports.is_empty());
    // Now the other one starts; removal forgets its attachments.
    h.svc.start(&other).await?;
    assert_eq!(
        networks.settings(&other).networks["bridge"]
            .endpoint
            .as_ref()
            .map(|e| e.ip),
        // .3 went to the failed start and back; serial allocation moves on.
        Some(Ipv4Addr::new(172, 17, 0, 4))
    );
    h.fake.exit(&h.svc.shim_dir(&other), 0);
    until("exited", || h.status(&other) == Some(Status::Exited)).await;
    let svc = h.svc.clone();
    tokio::task::spawn_blocking(move || svc.remove_stopped(&other)).await??;
    let svc = h.svc.clone();
    let first = id.clone();
    tokio::task::spawn_blocking(move || svc.remove_stopped(&first)).await??;
    assert!(networks.settings(&id).networks.is_empty());
    Ok(())
}
