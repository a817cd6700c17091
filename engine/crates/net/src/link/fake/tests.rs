//! The service-level link operations, driven through the fake.

use super::*;
use crate::link::{BridgeConfig, EndpointConfig, attach, detach, ensure_bridge, remove_bridge};

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("test prefix")
}

/// A namespace handle the fake can tell apart (any open file has an identity).
fn fake_ns(dir: &tempfile::TempDir, name: &str) -> NetNs {
    let path = dir.path().join(name);
    std::fs::write(&path, b"").expect("ns file");
    NetNs::open(&path).expect("open")
}

fn bridge_cfg() -> BridgeConfig {
    BridgeConfig {
        name: "skiff0".into(),
        mtu: Some(1400),
        address: net("172.17.0.1/16"),
    }
}

/// A fake with the bridge of [`bridge_cfg`] made, and a namespace `c1` (its
/// file lives in the returned directory) to attach into.
async fn bridged() -> (tempfile::TempDir, NetNs, FakeNetlink) {
    let dir = tempfile::tempdir().expect("tmp");
    let ns = fake_ns(&dir, "c1");
    let nl = FakeNetlink::new();
    ensure_bridge(&nl, &bridge_cfg()).await.expect("bridge");
    (dir, ns, nl)
}

fn endpoint<'a>(ns: &'a NetNs) -> EndpointConfig<'a> {
    EndpointConfig {
        bridge: "skiff0",
        host_ifname: "veth1234567",
        temp_ifname: "vtmp1234567",
        netns: ns,
        ifname: "eth0",
        mac: MacAddr::from_ipv4(Ipv4Addr::new(172, 17, 0, 2)),
        address: net("172.17.0.2/16"),
        gateway: Some(Ipv4Addr::new(172, 17, 0, 1)),
        mtu: Some(1400),
        hairpin: false,
    }
}

#[tokio::test]
async fn ensure_bridge_creates_once_and_completes_an_existing_one() {
    let nl = FakeNetlink::new();
    ensure_bridge(&nl, &bridge_cfg()).await.expect("create");
    ensure_bridge(&nl, &bridge_cfg()).await.expect("again");
    let adds = nl
        .calls()
        .iter()
        .filter(|(_, c)| matches!(c, Call::AddBridge { .. }))
        .count();
    assert_eq!(adds, 1, "an existing bridge is reused");
    let links = nl.links();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].addrs, [net("172.17.0.1/16")]);
    assert!(links[0].up);
    assert_eq!(links[0].mtu, Some(1400));

    // A non-bridge holding the name is refused.
    nl.add_veth("br-x", "br-y", None).await.expect("veth");
    let cfg = BridgeConfig {
        name: "br-x".into(),
        ..bridge_cfg()
    };
    assert!(matches!(
        ensure_bridge(&nl, &cfg).await,
        Err(LinkError::Exists { .. })
    ));

    remove_bridge(&nl, "skiff0").await.expect("remove");
    remove_bridge(&nl, "skiff0")
        .await
        .expect("remove twice is fine");
}

#[tokio::test]
async fn attach_builds_the_endpoint_in_order_inside_the_namespace() {
    let (_dir, ns, nl) = bridged().await;
    let key = Some(ns.id().expect("id"));
    let before = nl.calls().len();
    attach(&nl, &endpoint(&ns)).await.expect("attach");

    let calls: Vec<(NsKey, Call)> = nl.calls().split_off(before);
    let s = |v: &str| v.to_string();
    let expected = vec![
        (
            None,
            Call::AddVeth {
                name: s("veth1234567"),
                peer: s("vtmp1234567"),
                mtu: Some(1400),
            },
        ),
        (
            None,
            Call::SetController {
                name: s("veth1234567"),
                bridge: s("skiff0"),
            },
        ),
        (
            None,
            Call::SetUp {
                name: s("veth1234567"),
            },
        ),
        (
            None,
            Call::MoveToNetns {
                name: s("vtmp1234567"),
                ns: key,
            },
        ),
        (
            key,
            Call::Rename {
                name: s("vtmp1234567"),
                new_name: s("eth0"),
            },
        ),
        (
            key,
            Call::SetMac {
                name: s("eth0"),
                mac: "02:42:ac:11:00:02".parse().expect("mac"),
            },
        ),
        (
            key,
            Call::AddAddress {
                name: s("eth0"),
                addr: net("172.17.0.2/16"),
            },
        ),
        (key, Call::SetUp { name: s("eth0") }),
        (key, Call::SetUp { name: s("lo") }),
        (
            key,
            Call::AddDefaultRoute {
                gateway: Ipv4Addr::new(172, 17, 0, 1),
            },
        ),
    ];
    assert_eq!(calls, expected);

    let eth0 = nl
        .links()
        .into_iter()
        .find(|l| l.name == "eth0")
        .expect("eth0");
    assert_eq!(eth0.ns, key);
    assert!(eth0.up);
    let inside = nl.enter(&ns).await.expect("enter");
    assert_eq!(
        inside.list_routes().await.expect("routes"),
        [Ipv4Net::default()]
    );

    detach(&nl, "veth1234567").await.expect("detach");
    assert_eq!(nl.links().len(), 1, "both ends are gone, the bridge stays");
    detach(&nl, "veth1234567")
        .await
        .expect("detach twice is fine");
}

#[tokio::test]
async fn a_failed_attach_leaves_no_veth_behind() {
    let (_dir, ns, nl) = bridged().await;
    nl.fail_on("AddDefaultRoute");
    let err = attach(&nl, &endpoint(&ns)).await.expect_err("fails");
    assert!(
        matches!(
            err,
            LinkError::Netlink {
                op: "AddDefaultRoute",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        nl.links().iter().all(|l| l.kind == LinkKind::Bridge),
        "{:?}",
        nl.links()
    );
    let last = nl.calls().pop().expect("calls").1;
    assert_eq!(
        last,
        Call::DeleteLink {
            name: "veth1234567".into()
        }
    );
}

#[tokio::test]
async fn hairpin_is_set_on_the_bridge_port_when_asked() {
    let (dir, ns, nl) = bridged().await;
    attach(
        &nl,
        &EndpointConfig {
            hairpin: true,
            ..endpoint(&ns)
        },
    )
    .await
    .expect("attach");
    let calls: Vec<Call> = nl.calls().into_iter().map(|(_, c)| c).collect();
    let at = |want: &Call| calls.iter().position(|c| c == want).expect("called");
    let hairpin = Call::SetHairpin {
        name: "veth1234567".into(),
        on: true,
    };
    let controller = Call::SetController {
        name: "veth1234567".into(),
        bridge: "skiff0".into(),
    };
    assert!(
        at(&controller) < at(&hairpin),
        "a port first, then its hairpin mode"
    );
    let host = nl
        .links()
        .into_iter()
        .find(|l| l.name == "veth1234567")
        .expect("host end");
    assert!(host.hairpin);
    // Not asked: not set.
    let ns2 = fake_ns(&dir, "c2");
    let ep = EndpointConfig {
        host_ifname: "veth2",
        temp_ifname: "vtmp2",
        ..endpoint(&ns2)
    };
    attach(&nl, &ep).await.expect("attach");
    assert!(
        !nl.links()
            .into_iter()
            .find(|l| l.name == "veth2")
            .expect("veth2")
            .hairpin
    );
}

#[tokio::test]
async fn an_internal_endpoint_gets_no_default_route() {
    let (_dir, ns, nl) = bridged().await;
    attach(
        &nl,
        &EndpointConfig {
            gateway: None,
            ..endpoint(&ns)
        },
    )
    .await
    .expect("attach");
    assert!(
        !nl.calls()
            .iter()
            .any(|(_, c)| matches!(c, Call::AddDefaultRoute { .. }))
    );
}

#[tokio::test]
async fn name_clashes_and_bad_names_are_refused() {
    let nl = FakeNetlink::new();
    nl.add_bridge("br0", None).await.expect("br0");
    assert!(matches!(
        nl.add_bridge("br0", None).await,
        Err(LinkError::Exists { .. })
    ));
    assert!(matches!(
        nl.add_bridge("a-name-that-is-too-long", None).await,
        Err(LinkError::InvalidName { .. })
    ));
    assert!(matches!(
        nl.set_up("nope").await,
        Err(LinkError::NotFound { .. })
    ));
    nl.set_routes(&[net("10.0.0.0/8")]);
    assert_eq!(nl.list_routes().await.expect("routes"), [net("10.0.0.0/8")]);
}
