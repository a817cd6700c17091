//! The network service's orchestration over skiff-net's fakes: predefined
//! networks, create/remove rules, persistence, endpoints (addresses,
//! veths, firewall) and published ports.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;

use skiff_net::Protocol;
use skiff_net::link::LinkKind;
use skiff_net::link::fake::FakeNetlink;
use skiff_net::ports::PortRequest;

use super::connect::NetMode;
use super::ports::PortSpec;
use super::*;
use crate::errdefs::ErrorKind;

struct World {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    rt: tokio::runtime::Runtime,
    nl: FakeNetlink,
    kernel: Arc<LinkKernel<FakeNetlink>>,
    svc: NetworkService,
}

fn world_with(routes: &[&str]) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let nl = FakeNetlink::new();
    let routes: Vec<ipnet::Ipv4Net> = routes.iter().map(|r| r.parse().expect("route")).collect();
    nl.set_routes(&routes);
    let kernel = Arc::new(LinkKernel::recording(nl.clone(), rt.handle().clone()));
    let svc =
        NetworkService::open(&root, Events::new(), kernel.clone(), "skiff-test").expect("open");
    World {
        _dir: dir,
        root,
        rt,
        nl,
        kernel,
        svc,
    }
}

fn world() -> World {
    world_with(&[])
}

impl World {
    fn reopen(&mut self) {
        self.svc =
            NetworkService::open(&self.root, Events::new(), self.kernel.clone(), "skiff-test")
                .expect("reopen");
    }

    fn container(&self, id: &str, mode: &str) {
        self.svc
            .attach_container(id, id, &NetMode::parse(Some(mode)), vec![])
            .expect("attach");
    }

    fn ip(&self, id: &str, net: &str) -> Option<Ipv4Addr> {
        self.svc
            .settings(id)
            .networks
            .get(net)
            .and_then(|n| n.endpoint.as_ref().map(|e| e.ip))
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

#[test]
fn predefined_networks_persist_and_skip_routed_pools() {
    let mut w = world_with(&["172.17.0.0/16", "0.0.0.0/0"]);
    let names: Vec<String> = w
        .svc
        .list(&ListFilter::default())
        .into_iter()
        .map(|v| v.network.name)
        .collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = w.svc.get("bridge").expect("bridge");
    // dockerd's docker0 route on the host: the next pool.
    assert_eq!(bridge.subnet, Some("172.18.0.0/16".parse().expect("net")));
    assert_eq!(bridge.bridge.as_deref(), Some(DEFAULT_BRIDGE_DEVICE));
    w.reopen();
    assert_eq!(w.svc.get("bridge").expect("bridge").id, bridge.id);
    // No bridge device until a container needs it.
    assert!(w.nl.links().is_empty());
}

#[test]
fn the_default_bridge_moves_off_a_subnet_routed_while_it_was_down() {
    let mut w = world();
    let net = |s: &str| -> ipnet::Ipv4Net { s.parse().expect("net") };
    assert_eq!(
        w.svc.get("bridge").expect("bridge").subnet,
        Some(net("172.17.0.0/16"))
    );
    // A user's dockerd starts beside us and takes 172.17/16 for docker0
    // before our first container.
    w.nl.set_routes(&[net("172.17.0.0/16"), net("0.0.0.0/0")]);
    w.container("c1", "default");
    let j1 = w.svc.join("c1", &[]).expect("join c1");
    assert_eq!(j1.addresses, [Ipv4Addr::new(172, 18, 0, 2)]);
    assert_eq!(j1.gateway, Some(Ipv4Addr::new(172, 18, 0, 1)));
    let bridge = w.svc.get("bridge").expect("bridge");
    assert_eq!(bridge.subnet, Some(net("172.18.0.0/16")));
    assert_eq!(bridge.gateway, Some(Ipv4Addr::new(172, 18, 0, 1)));
    // While in use it stays, whatever the routes say.
    w.nl.set_routes(&[net("172.17.0.0/16"), net("172.18.0.0/16")]);
    w.container("c2", "default");
    w.svc.join("c2", &[]).expect("join c2");
    assert_eq!(w.ip("c2", "bridge"), Some(Ipv4Addr::new(172, 18, 0, 3)));
    // No endpoint left but our device still up: its route is ours.
    w.svc.leave("c1");
    w.svc.leave("c2");
    if !w.nl.links().iter().any(|l| l.name == DEFAULT_BRIDGE_DEVICE) {
        w.kernel
            .ensure_bridge(&skiff_net::link::BridgeConfig {
                name: DEFAULT_BRIDGE_DEVICE.into(),
                mtu: None,
                address: net("172.18.0.1/16"),
            })
            .expect("device");
    }
    w.svc.join("c1", &[]).expect("rejoin c1");
    assert_eq!(
        w.svc.get("bridge").expect("bridge").subnet,
        Some(net("172.18.0.0/16"))
    );
    w.reopen();
    assert_eq!(
        w.svc.get("bridge").expect("bridge").subnet,
        Some(net("172.18.0.0/16"))
    );
}

#[test]
fn create_and_remove_follow_dockerd() {
    let w = world();
    let id = w
        .svc
        .create(CreateRequest {
            name: "app".into(),
            subnet: Some("10.9.0.0/24".parse().expect("net")),
            ..CreateRequest::default()
        })
        .expect("create");
    let net = w.svc.get(&id[..6]).expect("by prefix");
    assert_eq!(net.gateway, Some(Ipv4Addr::new(10, 9, 0, 1)));
    assert_eq!(net.bridge, Some(format!("br-{}", &id[..12])));
    let dup = w
        .svc
        .create(CreateRequest {
            name: "app".into(),
            ..CreateRequest::default()
        })
        .expect_err("duplicate");
    assert_eq!(dup.to_string(), "network with name app already exists");
    assert_eq!(dup.kind(), ErrorKind::Conflict);
    let overlap = w
        .svc
        .create(CreateRequest {
            name: "other".into(),
            subnet: Some("10.9.0.128/25".parse().expect("net")),
            ..CreateRequest::default()
        })
        .expect_err("overlap");
    assert!(overlap.to_string().contains("Pool overlaps"), "{overlap}");
    let other = w
        .svc
        .create(CreateRequest {
            name: "auto".into(),
            ..CreateRequest::default()
        })
        .expect("auto");
    // The default bridge has 172.17; the next pool is dockerd's next one.
    assert_eq!(
        w.svc.get(&other).expect("auto").subnet,
        Some("172.18.0.0/16".parse().expect("net"))
    );
    let e = w.svc.remove("bridge").expect_err("predefined");
    assert_eq!(
        e.to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    assert!(matches!(
        w.svc.create(CreateRequest {
            name: "x".into(),
            driver: "overlay".into(),
            ..CreateRequest::default()
        }),
        Err(NetworkError::UnknownDriver(_))
    ));
    w.svc.remove("app").expect("rm");
    assert!(matches!(w.svc.get("app"), Err(NetworkError::NotFound(_))));
    assert_eq!(w.svc.prune(|_| false).expect("prune"), ["auto"]);
}

#[test]
fn endpoints_get_addresses_veths_and_rules_and_give_them_back() {
    let w = world();
    w.container("c1", "default");
    w.container("c2", "bridge");
    let j1 = w.svc.join("c1", &[]).expect("join c1");
    assert_eq!(j1.addresses, [Ipv4Addr::new(172, 17, 0, 2)]);
    assert!(j1.netns.is_some());
    w.svc.join("c2", &[]).expect("join c2");
    assert_eq!(w.ip("c2", "bridge"), Some(Ipv4Addr::new(172, 17, 0, 3)));
    let links = w.nl.links();
    assert!(
        links
            .iter()
            .any(|l| l.name == DEFAULT_BRIDGE_DEVICE && l.kind == LinkKind::Bridge)
    );
    let ports_on_bridge = links
        .iter()
        .filter(|l| l.controller.as_deref() == Some(DEFAULT_BRIDGE_DEVICE))
        .count();
    assert_eq!(ports_on_bridge, 2);
    let fw = w.kernel.firewall().expect("firewall applied");
    assert_eq!(fw.table, "skiff-test");
    assert_eq!(fw.bridges.len(), 1);
    assert!(fw.bridges[0].masquerade && !fw.bridges[0].internal);
    let view = w.svc.inspect("bridge").expect("inspect");
    assert_eq!(view.endpoints.len(), 2);

    w.svc.leave("c1");
    assert_eq!(w.ip("c1", "bridge"), None);
    let left =
        w.nl.links()
            .iter()
            .filter(|l| l.controller.as_deref() == Some(DEFAULT_BRIDGE_DEVICE))
            .count();
    assert_eq!(left, 1);
    // Serial allocation: the released address is not handed out at once.
    w.svc.join("c1", &[]).expect("rejoin");
    assert_eq!(w.ip("c1", "bridge"), Some(Ipv4Addr::new(172, 17, 0, 4)));
    // A network with endpoints cannot be removed.
    let id = w
        .svc
        .create(CreateRequest {
            name: "app".into(),
            ..CreateRequest::default()
        })
        .expect("create");
    w.svc
        .connect("app", "c2", "c2", Default::default(), None)
        .expect("connect stopped");
    w.svc.leave("c2");
    w.svc.join("c2", &[]).expect("join two networks");
    let e = w.svc.remove(&id).expect_err("in use");
    assert!(e.to_string().ends_with("has active endpoints"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    w.svc.remove_container("c2");
    w.svc.remove("app").expect("rm after the container went");
}

#[test]
fn published_ports_bind_once_and_are_released() {
    let w = world();
    let port = free_port();
    let spec = PortSpec {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_ip: Ipv4Addr::LOCALHOST,
        host_port: PortRequest::Exact(port),
    };
    w.container("web", "default");
    w.container("clash", "default");
    w.svc
        .join("web", std::slice::from_ref(&spec))
        .expect("join");
    let fw = w.kernel.firewall().expect("firewall");
    assert_eq!(fw.ports.len(), 1);
    assert_eq!(fw.ports[0].host_port, port);
    assert_eq!(fw.ports[0].container_ip, Ipv4Addr::new(172, 17, 0, 2));
    // The proxy holds the host port.
    assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err());
    let e = w
        .svc
        .join("clash", std::slice::from_ref(&spec))
        .expect_err("taken");
    assert!(
        e.to_string()
            .starts_with("driver failed programming external connectivity on endpoint clash ("),
        "{e}"
    );
    assert!(
        e.to_string().ends_with(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{e}"
    );
    // The failed join left nothing: no endpoint, its address free again.
    assert_eq!(w.ip("clash", "bridge"), None);
    assert_eq!(
        w.svc.ports_of("web").get("80/tcp"),
        Some(&vec![(Ipv4Addr::LOCALHOST, port)])
    );
    w.svc.leave("web");
    // The proxy is gone and the rule with it.
    w.rt.block_on(async { tokio::task::yield_now().await });
    assert!(w.kernel.firewall().expect("firewall").ports.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "port still bound");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    w.svc.join("clash", &[spec]).expect("now free");
}

#[test]
fn docker_port_bindings_parse() {
    let host: bollard_stubs::models::HostConfig = serde_json::from_value(serde_json::json!({
        "PortBindings": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "", "HostPort": ""}],
            "90/tcp": [{"HostPort": "9000-9010"}]
        },
        "PublishAllPorts": true
    }))
    .expect("host");
    let config: bollard_stubs::models::ContainerConfig =
        serde_json::from_value(serde_json::json!({"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}}))
            .expect("config");
    let specs = ports::requested(&host, &config).expect("parse");
    assert_eq!(specs.len(), 4);
    assert!(specs.contains(&PortSpec {
        protocol: Protocol::Udp,
        container_port: 53,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: PortRequest::Any,
    }));
    assert!(specs.contains(&PortSpec {
        protocol: Protocol::Tcp,
        container_port: 90,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: PortRequest::Range(9000..=9010),
    }));
    assert!(specs.contains(&PortSpec {
        protocol: Protocol::Tcp,
        container_port: 443,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: PortRequest::Any,
    }));
    let v6: bollard_stubs::models::HostConfig = serde_json::from_value(serde_json::json!({
        "PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": "80"}]}
    }))
    .expect("host");
    assert!(ports::requested(&v6, &config).is_err());
    let sctp: bollard_stubs::models::HostConfig = serde_json::from_value(serde_json::json!({
        "PortBindings": {"80/sctp": [{"HostPort": "80"}]}
    }))
    .expect("host");
    assert!(ports::requested(&sctp, &config).is_err());
}

#[test]
fn names_follow_user_network_endpoints_only() {
    use std::net::IpAddr;
    let w = world();
    w.svc
        .create(CreateRequest {
            name: "app".into(),
            ..CreateRequest::default()
        })
        .expect("create");
    let alias = record::Attachment {
        aliases: vec!["db".into()],
        ..Default::default()
    };
    let linked = record::Attachment {
        links: vec!["a:backend".into()],
        ..Default::default()
    };
    for (id, att) in [
        ("aaaaaaaaaaaaaaaa1", alias),
        ("bbbbbbbbbbbbbbbb2", linked.clone()),
    ] {
        w.svc
            .attach_container(
                id,
                &format!("/{}", &id[..1]),
                &NetMode::parse(Some("app")),
                vec![("app".into(), att)],
            )
            .expect("attach");
    }
    w.container("plain", "bridge");
    let names = w.svc.names();
    assert_eq!(names.lookup("bbbbbbbbbbbbbbbb2", "a"), None, "not running");
    let ja = w.svc.join("aaaaaaaaaaaaaaaa1", &[]).expect("join a");
    let jb = w.svc.join("bbbbbbbbbbbbbbbb2", &[]).expect("join b");
    let jp = w.svc.join("plain", &[]).expect("join plain");
    assert!(ja.embedded_dns && jb.embedded_dns && !jp.embedded_dns);
    assert_eq!(ja.gateway, w.svc.get("app").expect("app").gateway);
    let a_ip = vec![IpAddr::V4(ja.addresses[0])];
    for name in ["a", "db", "aaaaaaaaaaaa"] {
        assert_eq!(
            names.lookup("bbbbbbbbbbbbbbbb2", name),
            Some(a_ip.clone()),
            "{name}"
        );
    }
    // A link alias is the linking container's own.
    assert_eq!(
        names.lookup("bbbbbbbbbbbbbbbb2", "backend"),
        Some(a_ip.clone())
    );
    assert_eq!(names.lookup("aaaaaaaaaaaaaaaa1", "backend"), None);
    let e = w
        .svc
        .attach_container("c", "/c", &NetMode::Bridge, vec![("bridge".into(), linked)])
        .expect_err("links on the default bridge");
    assert_eq!(
        e.to_string(),
        "links are only supported for user-defined networks"
    );
    let live = w.svc.live_files("aaaaaaaaaaaaaaaa1");
    assert_eq!(live.addresses, ja.addresses);
    assert!(live.on_user_network && !live.dns_running);
    // The default bridge gives no names, and its containers resolve none.
    assert_eq!(names.lookup("bbbbbbbbbbbbbbbb2", "plain"), None);
    assert_eq!(names.lookup("plain", "a"), None);
    // The server's setup is kept while it runs (the fake starts none).
    let netns = ja.netns.clone().expect("netns");
    let setup = dns::DnsSetup {
        upstreams: vec![("127.0.0.1:53".parse().expect("addr"), false)],
        ndots_set: false,
    };
    assert!(
        w.svc
            .start_dns("aaaaaaaaaaaaaaaa1", &netns, setup.clone())
            .expect("dns")
    );
    assert!(
        !w.svc
            .start_dns("plain", &netns, setup.clone())
            .expect("no dns")
    );
    assert_eq!(
        w.svc.view().containers["aaaaaaaaaaaaaaaa1"].dns,
        Some(setup)
    );
    // Disconnect and leave drop the names.
    w.svc
        .disconnect("app", "aaaaaaaaaaaaaaaa1", "a")
        .expect("disconnect");
    assert_eq!(names.lookup("bbbbbbbbbbbbbbbb2", "db"), None);
    w.svc.leave("bbbbbbbbbbbbbbbb2");
    assert_eq!(names.lookup("bbbbbbbbbbbbbbbb2", "bbbbbbbbbbbb"), None);
    assert!(w.svc.view().containers["aaaaaaaaaaaaaaaa1"].dns.is_some());
    w.svc.leave("aaaaaaaaaaaaaaaa1");
    assert_eq!(w.svc.view().containers["aaaaaaaaaaaaaaaa1"].dns, None);
    // The last endpoint gone, the network's bridge device goes too.
    let bridge = w.svc.get("app").expect("app").bridge.expect("bridge");
    assert!(!w.nl.links().iter().any(|l| l.name == bridge));
    assert!(w.nl.links().iter().any(|l| l.name == DEFAULT_BRIDGE_DEVICE));
    // The default bridge's device stays while the daemon runs, and goes
    // at its stop when idle.
    w.svc.leave("plain");
    assert!(w.nl.links().iter().any(|l| l.name == DEFAULT_BRIDGE_DEVICE));
    w.svc.shutdown();
    assert!(!w.nl.links().iter().any(|l| l.name == DEFAULT_BRIDGE_DEVICE));
}
