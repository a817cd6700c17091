//! dockerd's default local address pools and the choice of the next free one.
//!
//! dockerd (libnetwork `ipamutils`) splits these bases into pools:
//! `172.17.0.0/16` … `172.31.0.0/16` (15 pools of /16), then
//! `192.168.0.0/16` in /20s (`192.168.0.0/20`, `192.168.16.0/20`, …,
//! `192.168.240.0/20`, 16 pools). The default `bridge` network takes the
//! first free one, so it is `172.17.0.0/16` on a host where nothing else
//! uses it.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// dockerd's default local-scope pools, in the order it hands them out.
pub fn default_pools() -> Vec<Ipv4Net> {
    // 172.17.0.0/16 .. 172.31.0.0/16 (dockerd never hands out 172.16.0.0/16).
    let mut pools: Vec<Ipv4Net> = (17..=31u8)
        .filter_map(|second| Ipv4Net::new(Ipv4Addr::new(172, second, 0, 0), 16).ok())
        .collect();
    // 192.168.0.0/16 split in /20s.
    if let Ok(base) = Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16)
        && let Ok(subnets) = base.subnets(20)
    {
        pools.extend(subnets);
    }
    pools
}

/// The first pool of `pools` that overlaps neither an allocated subnet nor
/// a host route. Routes of length 0 (default routes) are ignored: they
/// overlap everything and say nothing about which subnets are in use (dockerd
/// only looks at on-link routes).
pub fn first_free(
    pools: &[Ipv4Net],
    allocated: &[Ipv4Net],
    host_routes: &[Ipv4Net],
) -> Option<Ipv4Net> {
    pools.iter().copied().find(|pool| {
        !allocated.iter().any(|a| overlaps(a, pool))
            && !host_routes
                .iter()
                .filter(|r| r.prefix_len() > 0)
                .any(|r| overlaps(r, pool))
    })
}

/// Whether two prefixes share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("test prefix")
    }

    #[test]
    fn default_pools_are_dockerds() {
        let pools = default_pools();
        assert_eq!(pools.len(), 31);
        assert_eq!(pools[0], net("172.17.0.0/16"));
        assert_eq!(pools[1], net("172.18.0.0/16"));
        assert_eq!(pools[14], net("172.31.0.0/16"));
        assert_eq!(pools[15], net("192.168.0.0/20"));
        assert_eq!(pools[16], net("192.168.16.0/20"));
        assert_eq!(pools[30], net("192.168.240.0/20"));
    }

    #[test]
    fn skips_allocated_and_routed_pools() {
        let pools = default_pools();
        // dockerd's own docker0 on the host, and a /8 route over 192.168.
        let routes = [net("172.17.0.0/16"), net("0.0.0.0/0"), net("172.19.5.0/24")];
        let allocated = [net("172.18.0.0/16")];
        assert_eq!(
            first_free(&pools, &allocated, &routes),
            Some(net("172.20.0.0/16"))
        );
        let everything = [net("172.16.0.0/12"), net("192.168.0.0/16")];
        assert_eq!(first_free(&pools, &[], &everything), None);
    }

    #[test]
    fn overlap_is_symmetric() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.1.0.0/16"), &net("10.2.0.0/16")));
    }
}
