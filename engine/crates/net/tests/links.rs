//! Bridges and veths over rtnetlink, inside a private network namespace:
//! a bridge, two container namespaces plugged into it, TCP between them.
//! Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN).

#[allow(dead_code)] // each test file uses part of the helpers
mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{exchange, in_fresh_netns, serve_in};
use skiff_net::link::{
    BridgeConfig, EndpointConfig, LinkError, LinkKind, MacAddr, Netlink, Rtnl, attach, detach,
    ensure_bridge, remove_bridge,
};
use skiff_net::netns::NetNs;

fn net(s: &str) -> ipnet::Ipv4Net {
    s.parse().expect("prefix")
}

fn endpoint<'a>(ns: &'a NetNs, n: u8) -> (EndpointConfig<'a>, String, String) {
    let host = format!("vskt{n}");
    let temp = format!("vtmp{n}");
    let ip = Ipv4Addr::new(10, 88, 0, n);
    let cfg = EndpointConfig {
        bridge: "skt0",
        host_ifname: "",
        temp_ifname: "",
        netns: ns,
        ifname: "eth0",
        mac: MacAddr::from_ipv4(ip),
        address: ipnet::Ipv4Net::new(ip, 24).expect("prefix"),
        gateway: Some(Ipv4Addr::new(10, 88, 0, 1)),
        mtu: Some(1400),
        hairpin: n == 2,
    };
    (cfg, host, temp)
}

#[test]
fn bridge_and_two_containers_talk_over_tcp() {
    in_fresh_netns(|| async {
        let nl = Rtnl::current().expect("netlink");
        let bridge = BridgeConfig {
            name: "skt0".into(),
            mtu: Some(1400),
            address: net("10.88.0.1/24"),
        };
        ensure_bridge(&nl, &bridge).await.expect("bridge");
        ensure_bridge(&nl, &bridge)
            .await
            .expect("bridge again is a no-op");
        let links = nl.list_links().await.expect("links");
        let br = links
            .iter()
            .find(|l| l.name == "skt0")
            .expect("bridge listed");
        assert_eq!(br.kind, LinkKind::Bridge);
        assert!(br.up);
        assert_eq!(br.mtu, Some(1400));
        assert!(
            nl.list_routes()
                .await
                .expect("routes")
                .contains(&net("10.88.0.0/24"))
        );

        let (ns_a, ns_b) = (
            NetNs::create().expect("ns a"),
            NetNs::create().expect("ns b"),
        );
        for (ns, n) in [(&ns_a, 2u8), (&ns_b, 3u8)] {
            let (cfg, host, temp) = endpoint(ns, n);
            attach(
                &nl,
                &EndpointConfig {
                    host_ifname: &host,
                    temp_ifname: &temp,
                    ..cfg
                },
            )
            .await
            .expect("attach");
        }

        // Host side: both host ends on the bridge and up; no container end left here.
        let links = nl.list_links().await.expect("links");
        let br_index = links
            .iter()
            .find(|l| l.name == "skt0")
            .expect("bridge")
            .index;
        for name in ["vskt2", "vskt3"] {
            let l = links.iter().find(|l| l.name == name).expect("host end");
            assert_eq!(
                (l.kind.clone(), l.controller, l.up),
                (LinkKind::Veth, Some(br_index), true),
                "{name}"
            );
        }
        assert!(
            !links
                .iter()
                .any(|l| l.name.starts_with("vtmp") || l.name == "eth0")
        );

        // Container side: eth0 with the MAC, MTU, address and default route.
        let inside = nl.enter(&ns_a).await.expect("enter a");
        let eth0 = inside
            .list_links()
            .await
            .expect("links a")
            .into_iter()
            .find(|l| l.name == "eth0")
            .expect("eth0");
        assert_eq!(eth0.mac, Some("02:42:0a:58:00:02".parse().expect("mac")));
        assert_eq!(eth0.mtu, Some(1400));
        assert!(eth0.up);
        let routes = inside.list_routes().await.expect("routes a");
        assert!(
            routes.contains(&net("0.0.0.0/0")) && routes.contains(&net("10.88.0.0/24")),
            "{routes:?}"
        );

        // TCP from container b to container a, across the bridge.
        let server = serve_in(&ns_a, Ipv4Addr::new(10, 88, 0, 2), 0, b"pong");
        let reply = exchange(Some(&ns_b), server, Duration::from_secs(5));
        assert_eq!(reply.expect("a answers b"), b"pong");

        detach(&nl, "vskt2").await.expect("detach a");
        detach(&nl, "vskt2").await.expect("detach a twice");
        detach(&nl, "vskt3").await.expect("detach b");
        let names: Vec<String> = nl
            .list_links()
            .await
            .expect("links")
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert!(!names.iter().any(|n| n.starts_with("vskt")), "{names:?}");
        let inside_names: Vec<String> = inside
            .list_links()
            .await
            .expect("links a")
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(
            inside_names,
            ["lo"],
            "the container end went with the host end"
        );

        remove_bridge(&nl, "skt0").await.expect("remove bridge");
        remove_bridge(&nl, "skt0")
            .await
            .expect("remove bridge twice");
        assert!(
            nl.list_links()
                .await
                .expect("links")
                .iter()
                .all(|l| l.name != "skt0")
        );
    });
}

#[test]
fn errors_name_missing_and_clashing_links() {
    in_fresh_netns(|| async {
        let nl = Rtnl::current().expect("netlink");
        assert!(matches!(
            nl.set_up("nope0").await,
            Err(LinkError::NotFound { .. })
        ));
        assert!(matches!(
            nl.delete_link("nope0").await,
            Err(LinkError::NotFound { .. })
        ));
        nl.add_bridge("skt1", None).await.expect("bridge");
        let err = nl.add_bridge("skt1", None).await.expect_err("twice");
        assert!(matches!(err, LinkError::Exists { .. }), "{err:?}");
        assert!(matches!(
            nl.add_bridge("way-too-long-name", None).await,
            Err(LinkError::InvalidName { .. })
        ));
        // A veth that is not a bridge cannot be completed into one.
        nl.add_veth("skt2", "skt3", None).await.expect("veth");
        let cfg = BridgeConfig {
            name: "skt2".into(),
            mtu: None,
            address: net("10.77.0.1/24"),
        };
        assert!(matches!(
            ensure_bridge(&nl, &cfg).await,
            Err(LinkError::Exists { .. })
        ));
        // And an address given twice says so.
        nl.add_address("skt1", net("10.76.0.1/24"))
            .await
            .expect("address");
        assert!(matches!(
            nl.add_address("skt1", net("10.76.0.1/24")).await,
            Err(LinkError::Exists { .. })
        ));
    });
}

#[test]
fn namespaces_pin_and_unpin() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("ns1");
    let ns = NetNs::create().expect("ns");
    ns.pin(&path).expect("pin");
    let again = NetNs::open(&path).expect("open the pin");
    assert_eq!(again.id().expect("id"), ns.id().expect("id"));
    assert_ne!(
        ns.id().expect("id"),
        NetNs::current().expect("current").id().expect("id")
    );
    drop(again);
    NetNs::unpin(&path).expect("unpin");
    assert!(!path.exists());
    NetNs::unpin(&path).expect("unpin twice");
}
