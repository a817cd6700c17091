use std::collections::BTreeSet;

use super::*;

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("test prefix")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn subnet_req(subnet: &str) -> PoolRequest {
    PoolRequest {
        subnet: Some(net(subnet)),
        ..PoolRequest::default()
    }
}

#[test]
fn default_bridge_then_user_networks_take_the_next_pools() {
    let mut ipam = Ipam::new();
    let bridge = ipam
        .request_pool(&PoolRequest::default(), &[])
        .expect("bridge")
        .clone();
    assert_eq!(bridge.subnet, net("172.17.0.0/16"));
    assert_eq!(bridge.gateway, ip("172.17.0.1"));
    let user = ipam
        .request_pool(&PoolRequest::default(), &[])
        .expect("user")
        .subnet;
    assert_eq!(user, net("172.18.0.0/16"));
    // A released pool is the first free one again.
    assert!(ipam.release_pool(bridge.subnet));
    assert!(!ipam.release_pool(bridge.subnet));
    assert_eq!(
        ipam.request_pool(&PoolRequest::default(), &[])
            .expect("again")
            .subnet,
        bridge.subnet
    );
}

#[test]
fn pools_overlapping_host_routes_are_skipped() {
    let mut ipam = Ipam::new();
    // dockerd's docker0 and a VPN route on the host; the default route is ignored.
    let routes = [net("0.0.0.0/0"), net("172.17.0.0/16"), net("172.18.3.0/24")];
    assert_eq!(
        ipam.request_pool(&PoolRequest::default(), &routes)
            .expect("pool")
            .subnet,
        net("172.19.0.0/16")
    );
}

#[test]
fn after_172_31_come_the_192_168_slash_20s() {
    let mut ipam = Ipam::new();
    for _ in 17..=31 {
        ipam.request_pool(&PoolRequest::default(), &[])
            .expect("172 pool");
    }
    assert_eq!(
        ipam.request_pool(&PoolRequest::default(), &[])
            .expect("192")
            .subnet,
        net("192.168.0.0/20")
    );
    assert_eq!(
        ipam.request_pool(&PoolRequest::default(), &[])
            .expect("192")
            .subnet,
        net("192.168.16.0/20")
    );
}

#[test]
fn exhausted_default_pools_say_so() {
    let mut ipam = Ipam::with_pools(vec![net("10.9.0.0/24")]);
    ipam.request_pool(&PoolRequest::default(), &[])
        .expect("only pool");
    let err = ipam
        .request_pool(&PoolRequest::default(), &[])
        .expect_err("none left");
    assert_eq!(err, IpamError::NoMoreSubnets);
    assert!(
        err.to_string()
            .starts_with("could not find an available, non-overlapping IPv4 address pool")
    );
}

#[test]
fn user_subnets_must_not_overlap_and_skip_the_default_pool() {
    let mut ipam = Ipam::new();
    ipam.request_pool(&subnet_req("172.17.5.0/24"), &[])
        .expect("user subnet");
    let err = ipam
        .request_pool(&subnet_req("172.17.0.0/16"), &[])
        .expect_err("overlap");
    assert_eq!(
        err.to_string(),
        "invalid pool request: Pool overlaps with other one on this address space"
    );
    // The default pool that overlaps the user subnet is not handed out.
    assert_eq!(
        ipam.request_pool(&PoolRequest::default(), &[])
            .expect("pool")
            .subnet,
        net("172.18.0.0/16")
    );
    // A user subnet is not checked against host routes (dockerd does not).
    ipam.request_pool(&subnet_req("10.1.0.0/16"), &[net("10.0.0.0/8")])
        .expect("routed subnet");
}

#[test]
fn user_subnet_validation_uses_dockers_wording() {
    let mut ipam = Ipam::new();
    let err = ipam
        .request_pool(&subnet_req("172.20.0.5/16"), &[])
        .expect_err("host bits");
    assert_eq!(
        err.to_string(),
        "invalid subnet 172.20.0.5/16: it should be 172.20.0.0/16"
    );

    let req = PoolRequest {
        ip_range: Some(net("10.0.0.0/24")),
        ..subnet_req("172.20.0.0/16")
    };
    let err = ipam.request_pool(&req, &[]).expect_err("range outside");
    assert_eq!(
        err.to_string(),
        "invalid ip-range 10.0.0.0/24: parent subnet 172.20.0.0/16 doesn't contain ip-range"
    );

    let req = PoolRequest {
        ip_range: Some(net("172.0.0.0/8")),
        ..subnet_req("172.20.0.0/16")
    };
    let err = ipam.request_pool(&req, &[]).expect_err("range bigger");
    assert_eq!(
        err.to_string(),
        "invalid ip-range 172.0.0.0/8: CIDR block is bigger than its parent subnet 172.20.0.0/16"
    );

    let req = PoolRequest {
        gateway: Some(ip("10.0.0.1")),
        ..subnet_req("172.20.0.0/16")
    };
    let err = ipam.request_pool(&req, &[]).expect_err("gateway outside");
    assert_eq!(
        err.to_string(),
        "invalid gateway 10.0.0.1: parent subnet 172.20.0.0/16 doesn't contain this address"
    );

    let req = PoolRequest {
        gateway: Some(ip("10.0.0.1")),
        ..PoolRequest::default()
    };
    assert_eq!(ipam.request_pool(&req, &[]), Err(IpamError::MissingSubnet));
    assert!(
        ipam.subnets().is_empty(),
        "a refused request hands nothing out"
    );
}

#[test]
fn user_gateway_and_ip_range_are_honoured() {
    let mut ipam = Ipam::new();
    let req = PoolRequest {
        subnet: Some(net("10.50.0.0/16")),
        ip_range: Some(net("10.50.7.0/30")),
        gateway: Some(ip("10.50.0.254")),
    };
    let s = ipam.request_pool(&req, &[]).expect("pool").clone();
    assert_eq!(s.gateway, ip("10.50.0.254"));
    let a = ipam.request_address(s.subnet, None).expect("first");
    let b = ipam.request_address(s.subnet, None).expect("second");
    let c = ipam.request_address(s.subnet, None).expect("third");
    let d = ipam.request_address(s.subnet, None).expect("fourth");
    assert_eq!(
        [a, b, c, d],
        [
            ip("10.50.7.0"),
            ip("10.50.7.1"),
            ip("10.50.7.2"),
            ip("10.50.7.3")
        ]
    );
    let err = ipam
        .request_address(s.subnet, None)
        .expect_err("range full");
    assert_eq!(err, IpamError::NoAvailableAddresses { subnet: s.subnet });
    // --ip may still pick an address of the subnet outside the range.
    assert_eq!(
        ipam.request_address(s.subnet, Some(ip("10.50.9.9"))),
        Ok(ip("10.50.9.9"))
    );
}

#[test]
fn addresses_skip_network_gateway_and_broadcast_and_are_never_handed_out_twice() {
    let mut ipam = Ipam::new();
    let s = ipam
        .request_pool(&subnet_req("10.7.0.0/29"), &[])
        .expect("pool")
        .clone();
    assert_eq!(s.gateway, ip("10.7.0.1"));
    let mut seen = BTreeSet::new();
    while let Ok(addr) = ipam.request_address(s.subnet, None) {
        assert!(seen.insert(addr), "{addr} handed out twice");
    }
    let expected: BTreeSet<Ipv4Addr> = (2..=6).map(|h| Ipv4Addr::new(10, 7, 0, h)).collect();
    assert_eq!(seen, expected);
    for special in ["10.7.0.0", "10.7.0.1", "10.7.0.7", "10.7.0.3"] {
        let err = ipam
            .request_address(s.subnet, Some(ip(special)))
            .expect_err("taken");
        assert_eq!(err.to_string(), "Address already in use");
    }
}

#[test]
fn allocation_is_serial_so_a_released_address_is_not_reused_at_once() {
    let mut ipam = Ipam::new();
    let s = ipam
        .request_pool(&subnet_req("10.8.0.0/24"), &[])
        .expect("pool")
        .subnet;
    let first = ipam.request_address(s, None).expect("first");
    assert_eq!(first, ip("10.8.0.2"));
    assert_eq!(ipam.release_address(s, first), Ok(true));
    assert_eq!(
        ipam.release_address(s, first),
        Ok(false),
        "double release is a no-op"
    );
    assert_eq!(ipam.request_address(s, None), Ok(ip("10.8.0.3")));
    // The gateway cannot be released.
    assert_eq!(ipam.release_address(s, ip("10.8.0.1")), Ok(false));
    assert!(ipam.subnet(s).expect("subnet").is_allocated(ip("10.8.0.1")));
}

#[test]
fn wraps_around_to_released_addresses() {
    let mut ipam = Ipam::new();
    let s = ipam
        .request_pool(&subnet_req("10.9.0.0/29"), &[])
        .expect("pool")
        .subnet;
    let all: Vec<Ipv4Addr> = std::iter::from_fn(|| ipam.request_address(s, None).ok()).collect();
    assert_eq!(all.len(), 5);
    ipam.release_address(s, ip("10.9.0.3")).expect("release");
    assert_eq!(ipam.request_address(s, None), Ok(ip("10.9.0.3")));
}

#[test]
fn preferred_address_outside_the_subnet_is_refused_with_dockers_wording() {
    let mut ipam = Ipam::new();
    let s = ipam
        .request_pool(&subnet_req("10.10.0.0/24"), &[])
        .expect("pool")
        .subnet;
    let err = ipam
        .request_address(s, Some(ip("10.11.0.5")))
        .expect_err("outside");
    assert_eq!(
        err.to_string(),
        "Invalid address 10.11.0.5: It does not belong to any of this network's subnets"
    );
    assert_eq!(
        ipam.request_address(s, Some(ip("10.10.0.200"))),
        Ok(ip("10.10.0.200"))
    );
    let unknown = net("10.99.0.0/24");
    assert_eq!(
        ipam.request_address(unknown, None),
        Err(IpamError::UnknownSubnet { subnet: unknown })
    );
}

#[test]
fn state_round_trips_through_json() {
    let mut ipam = Ipam::new();
    let s = ipam
        .request_pool(&PoolRequest::default(), &[])
        .expect("pool")
        .subnet;
    ipam.request_address(s, None).expect("addr");
    ipam.request_address(s, Some(ip("172.17.0.9")))
        .expect("addr");
    let json = serde_json::to_string(&ipam).expect("serialise");
    let mut back: Ipam = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, ipam);
    // The restored state keeps both the addresses and the serial cursor.
    assert_eq!(
        back.request_address(s, Some(ip("172.17.0.9"))),
        Err(IpamError::AddressInUse {
            ip: ip("172.17.0.9")
        })
    );
    assert_eq!(back.request_address(s, None), Ok(ip("172.17.0.3")));
    let endpoints: Vec<Ipv4Addr> = back.subnet(s).expect("subnet").endpoints().collect();
    assert_eq!(
        endpoints,
        [ip("172.17.0.2"), ip("172.17.0.3"), ip("172.17.0.9")]
    );
}
