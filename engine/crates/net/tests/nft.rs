//! skiff's nftables table inside a private network namespace: apply, list,
//! replace, delete; a published port DNATed to a container; two bridges
//! isolated. Needs root and `nft` (Debian's nftables).

#[allow(dead_code)] // each test file uses part of the helpers
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use common::{enable_ip_forward, exchange, in_fresh_netns, serve_in, serve_in_with};
use skiff_net::Protocol;
use skiff_net::link::{
    BridgeConfig, EndpointConfig, MacAddr, Netlink, Rtnl, attach, ensure_bridge,
};
use skiff_net::netns::NetNs;
use skiff_net::nft::{self, BridgeRules, Firewall, PublishedPort};

const TABLE: &str = "skiff_test";

fn net(s: &str) -> ipnet::Ipv4Net {
    s.parse().expect("prefix")
}

fn nft_cli(args: &[&str]) -> String {
    let out = Command::new("nft").args(args).output().expect("nft");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bridge `name` with gateway `10.N.0.1/24` and one container at `10.N.0.2`.
async fn network_with_container(nl: &Rtnl, name: &str, n: u8) -> NetNs {
    let gw = Ipv4Addr::new(10, n, 0, 1);
    let bridge = BridgeConfig {
        name: name.into(),
        mtu: None,
        address: ipnet::Ipv4Net::new(gw, 24).expect("net"),
    };
    ensure_bridge(nl, &bridge).await.expect("bridge");
    let ns = NetNs::create().expect("ns");
    let ip = Ipv4Addr::new(10, n, 0, 2);
    let (host, temp) = (format!("v{name}"), format!("t{name}"));
    let ep = EndpointConfig {
        bridge: name,
        host_ifname: &host,
        temp_ifname: &temp,
        netns: &ns,
        ifname: "eth0",
        mac: MacAddr::from_ipv4(ip),
        address: ipnet::Ipv4Net::new(ip, 24).expect("net"),
        gateway: Some(gw),
        mtu: None,
        // The hairpin check below needs it (br_netfilter DNATs at the bridge).
        hairpin: true,
    };
    attach(nl, &ep).await.expect("attach");
    ns
}

fn bridge_rules(name: &str, n: u8) -> BridgeRules {
    BridgeRules {
        bridge: name.into(),
        subnet: net(&format!("10.{n}.0.0/24")),
        internal: false,
        masquerade: true,
    }
}

#[test]
fn apply_lists_replaces_and_deletes_only_its_own_table() {
    in_fresh_netns(|| async {
        // Someone else's table, which must survive everything below.
        nft_cli(&["add", "table", "ip", "other"]);
        nft_cli(&["add", "chain", "ip", "other", "keep"]);

        assert!(nft::list_table(TABLE).await.expect("list").is_none());
        let mut fw = Firewall::new(TABLE);
        fw.bridges.push(bridge_rules("skb0", 91));
        fw.ports.push(PublishedPort {
            protocol: Protocol::Udp,
            host_ip: None,
            host_port: 5353,
            container_ip: Ipv4Addr::new(10, 91, 0, 2),
            container_port: 53,
            bridge: "skb0".into(),
        });
        nft::apply(&fw).await.expect("apply");
        let listed = serde_json::to_value(
            nft::list_table(TABLE)
                .await
                .expect("list")
                .expect("table exists"),
        )
        .expect("json");
        let objects = listed["nftables"].as_array().expect("array");
        let chains = objects.iter().filter(|o| o.get("chain").is_some()).count();
        let rules = objects.iter().filter(|o| o.get("rule").is_some()).count();
        assert_eq!((chains, rules), (5, 5), "{listed}");
        let text = nft_cli(&["list", "table", "ip", TABLE]);
        assert!(
            text.contains("udp dport 5353 dnat to 10.91.0.2:53"),
            "{text}"
        );
        assert!(
            text.contains("ip saddr 10.91.0.0/24 oifname != \"skb0\" masquerade"),
            "{text}"
        );

        // Applying again replaces, it does not append.
        fw.ports.clear();
        nft::apply(&fw).await.expect("re-apply");
        let listed =
            serde_json::to_value(nft::list_table(TABLE).await.expect("list").expect("table"))
                .expect("json");
        let rules = listed["nftables"]
            .as_array()
            .expect("array")
            .iter()
            .filter(|o| o.get("rule").is_some())
            .count();
        assert_eq!(rules, 3, "{listed}");

        // A bad state fails as a whole and leaves the table as it was.
        let mut bad = fw.clone();
        bad.bridges.push(BridgeRules {
            bridge: "x".repeat(40),
            ..bridge_rules("skb1", 92)
        });
        let err = nft::apply(&bad).await.expect_err("interface name too long");
        let text = err.to_string();
        assert!(
            text.starts_with("nft failed while replacing table ip skiff_test: "),
            "{text}"
        );
        assert!(
            text.contains("String exceeds maximum length"),
            "nft's stderr is in the error: {text}"
        );
        let still = nft_cli(&["list", "table", "ip", TABLE]);
        assert!(still.contains("skb0") && !still.contains("xxxx"), "{still}");

        nft::delete(TABLE).await.expect("delete");
        assert!(nft::list_table(TABLE).await.expect("list").is_none());
        nft::delete(TABLE)
            .await
            .expect("deleting an absent table is fine");
        let tables = nft_cli(&["list", "tables"]);
        assert_eq!(
            tables.trim(),
            "table ip other",
            "only the other table is left"
        );
        assert!(nft_cli(&["list", "table", "ip", "other"]).contains("chain keep"));
    });
}

#[test]
fn published_port_reaches_the_container_and_bridges_are_isolated() {
    in_fresh_netns(|| async {
        enable_ip_forward();
        let nl = Rtnl::current().expect("netlink");
        let ns_a = network_with_container(&nl, "skn1", 93).await;
        let ns_b = network_with_container(&nl, "skn2", 94).await;
        let a = serve_in(&ns_a, Ipv4Addr::new(10, 93, 0, 2), 80, b"from-a");
        let b = serve_in(&ns_b, Ipv4Addr::new(10, 94, 0, 2), 80, b"from-b");
        let quick = Duration::from_millis(700);

        // Without skiff's table the host routes between the two bridges.
        let before = exchange(Some(&ns_a), b, Duration::from_secs(5));
        assert_eq!(before.expect("a reaches b before isolation"), b"from-b");

        let mut fw = Firewall::new(TABLE);
        fw.bridges = vec![bridge_rules("skn1", 93), bridge_rules("skn2", 94)];
        fw.ports.push(PublishedPort {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: 18080,
            container_ip: Ipv4Addr::new(10, 93, 0, 2),
            container_port: 80,
            bridge: "skn1".into(),
        });
        nft::apply(&fw).await.expect("apply");

        // The host (this namespace) reaches container a through the DNAT of
        // a local address: the gateway of the other bridge.
        let published = SocketAddr::from((Ipv4Addr::new(10, 94, 0, 1), 18080));
        let reply =
            exchange(None, published, Duration::from_secs(5)).expect("published port answers");
        assert_eq!(reply, b"from-a");
        assert_eq!(
            exchange(None, a, Duration::from_secs(5)).expect("direct"),
            b"from-a"
        );

        // Container a cannot reach container b any more.
        let after = exchange(Some(&ns_a), b, quick);
        assert!(after.is_err(), "isolation drops a -> b: {after:?}");

        // Container a to its own published port via its gateway: without
        // hairpin the DNAT skips traffic from its bridge (the userland proxy
        // serves it; there is none here, so nothing answers) ...
        let own = SocketAddr::from((Ipv4Addr::new(10, 93, 0, 1), 18080));
        assert!(
            exchange(Some(&ns_a), own, quick).is_err(),
            "no kernel hairpin by default"
        );
        // ... with hairpin the kernel DNATs it back, masqueraded.
        fw.hairpin = true;
        nft::apply(&fw).await.expect("apply with hairpin");
        assert_eq!(
            exchange(Some(&ns_a), own, Duration::from_secs(5)).expect("hairpin"),
            b"from-a"
        );

        nft::delete(TABLE).await.expect("delete");
        assert_eq!(
            exchange(Some(&ns_a), b, Duration::from_secs(5)).expect("open again"),
            b"from-b"
        );
    });
}

/// A listener in `ns` on `ip:80` that answers with the address it sees the
/// client connect from.
fn serve_peer_address(ns: &NetNs, ip: Ipv4Addr) -> SocketAddr {
    serve_in_with(ns, ip, 80, |conn| {
        conn.peer_addr()
            .map(|p| p.ip().to_string())
            .unwrap_or_default()
            .into_bytes()
    })
}

#[test]
fn bridges_are_masqueraded_out_and_internal_ones_stay_in() {
    in_fresh_netns(|| async {
        enable_ip_forward();
        let nl = Rtnl::current().expect("netlink");
        // An "uplink" to a namespace standing in for the outside world,
        // which routes everything back through this one.
        let outside = NetNs::create().expect("outside ns");
        nl.add_veth("upl0", "upltmp", None).await.expect("uplink");
        nl.move_to_netns("upltmp", &outside).await.expect("move");
        nl.add_address("upl0", net("10.200.0.1/24"))
            .await
            .expect("address");
        nl.set_up("upl0").await.expect("up");
        let out = nl.enter(&outside).await.expect("enter outside");
        out.rename("upltmp", "eth0").await.expect("rename");
        out.add_address("eth0", net("10.200.0.2/24"))
            .await
            .expect("address");
        out.set_up("eth0").await.expect("up");
        out.add_default_route(Ipv4Addr::new(10, 200, 0, 1))
            .await
            .expect("route back");
        let server = serve_peer_address(&outside, Ipv4Addr::new(10, 200, 0, 2));

        let ns_a = network_with_container(&nl, "skm1", 95).await;
        let ns_b = network_with_container(&nl, "skm2", 96).await;
        let timeout = Duration::from_secs(5);
        // Without skiff's table both containers go out with their own address.
        let seen = exchange(Some(&ns_a), server, timeout).expect("a before");
        assert_eq!(seen, b"10.95.0.2");
        let seen = exchange(Some(&ns_b), server, timeout).expect("b before");
        assert_eq!(seen, b"10.96.0.2");

        let mut fw = Firewall::new(TABLE);
        fw.bridges = vec![
            bridge_rules("skm1", 95),
            BridgeRules {
                internal: true,
                ..bridge_rules("skm2", 96)
            },
        ];
        nft::apply(&fw).await.expect("apply");

        let seen = exchange(Some(&ns_a), server, timeout).expect("a reaches the outside");
        assert_eq!(seen, b"10.200.0.1", "masqueraded to the uplink's address");
        let internal = exchange(Some(&ns_b), server, Duration::from_millis(700));
        assert!(
            internal.is_err(),
            "an internal network has no way out: {internal:?}"
        );
        nft::delete(TABLE).await.expect("delete");
    });
}
