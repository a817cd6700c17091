//! The seam between the embedded DNS server and the networks service: what
//! a name means to one container.
//!
//! The server asks [`Names`] only; the networks service implements it (most
//! simply by keeping a [`NameTable`] up to date as endpoints come and go,
//! which is also the test double of the server's tests).

use std::net::IpAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Container names as the embedded DNS server of one container sees them.
///
/// Names passed in are lowercase and carry no trailing dot. Implementations
/// answer from the networks the requesting `container` is attached to and
/// from nothing else (a container never resolves names of a network it is
/// not on). Called on a tokio worker for every query: must not block.
pub trait Names: Send + Sync {
    /// The addresses `name` has for `container`: `None` when the name is not
    /// one of its networks' (the server then forwards the query upstream),
    /// `Some` (possibly without an address of the asked family, answered
    /// with an empty NOERROR, as dockerd does) when it is.
    fn lookup(&self, container: &str, name: &str) -> Option<Vec<IpAddr>>;

    /// The name a PTR query for `ip` answers for `container` (dockerd's
    /// `NAME.NETWORK`), `None` to forward the query.
    fn reverse(&self, container: &str, ip: IpAddr) -> Option<String>;
}

/// One container's endpoint on one network, as name resolution needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The network's name (`a.b` in `NAME.a.b` lookups, `NAME.NETWORK` in
    /// PTR answers).
    pub network: String,
    /// The container's full id: the requester key of [`Names`].
    pub container: String,
    /// The container's name without the leading `/`.
    pub name: String,
    /// Every name the endpoint answers to on the network: its name, its
    /// `--network-alias`es, its short id (dockerd's `DNSNames`; see
    /// [`Endpoint::dns_names`]).
    pub names: Vec<String>,
    /// `--link TARGET:ALIAS` of this container on this network, as
    /// `(alias, target container name)`: `ALIAS` resolves, for this container
    /// only, to the target's addresses on this network.
    pub links: Vec<(String, String)>,
    /// The endpoint's addresses (IPv4 and IPv6).
    pub addresses: Vec<IpAddr>,
}

impl Endpoint {
    /// dockerd's `DNSNames` of an endpoint: the container name, then its
    /// network aliases, then the 12-character short id.
    pub fn dns_names(name: &str, aliases: &[String], id: &str) -> Vec<String> {
        let mut names = vec![name.to_owned()];
        names.extend(aliases.iter().cloned());
        names.push(id.chars().take(12).collect());
        names
    }

    fn answers_to(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    fn link_target(&self, alias: &str) -> Option<&str> {
        self.links
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(alias))
            .map(|(_, target)| target.as_str())
    }
}

/// An in-memory [`Names`]: every endpoint of every network, updated by the
/// networks service as containers connect and disconnect.
///
/// Resolution is dockerd's (`Sandbox.ResolveName`): for `a.b.c` it tries
/// `a.b.c` on every network of the container, then `a.b` on network `c`,
/// then `a` on network `b.c`; at each step first the container's own link
/// aliases, then the names of the network's endpoints. The first network
/// (in the order the container's endpoints were added) with a match
/// answers, with the addresses of every endpoint that has the name (several
/// for a `compose --scale` service alias).
#[derive(Debug, Default)]
pub struct NameTable {
    endpoints: RwLock<Vec<Endpoint>>,
}

impl NameTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `endpoint`, replacing the one of the same container on the same
    /// network.
    pub fn set(&self, endpoint: Endpoint) {
        let mut all = self.write();
        match all
            .iter_mut()
            .find(|e| e.network == endpoint.network && e.container == endpoint.container)
        {
            Some(slot) => *slot = endpoint,
            None => all.push(endpoint),
        }
    }

    /// Removes `container`'s endpoint on `network` (disconnect, stop).
    pub fn remove(&self, network: &str, container: &str) {
        self.write()
            .retain(|e| !(e.network == network && e.container == container));
    }

    /// Removes every endpoint of `container`.
    pub fn remove_container(&self, container: &str) {
        self.write().retain(|e| e.container != container);
    }

    /// Every endpoint of `network` (a copy).
    pub fn endpoints_of(&self, network: &str) -> Vec<Endpoint> {
        self.read()
            .iter()
            .filter(|e| e.network == network)
            .cloned()
            .collect()
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<Endpoint>> {
        // A panic while holding the lock leaves a consistent Vec.
        self.endpoints.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<Endpoint>> {
        self.endpoints.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// `name` tried as dockerd does: `(name, any network)`, then for every dot
/// from the right `(before, network after)`.
fn candidates(name: &str) -> Vec<(&str, Option<&str>)> {
    let mut out = vec![(name, None)];
    let mut rest = name;
    while let Some(i) = rest.rfind('.') {
        out.push((&name[..i], Some(&name[i + 1..])));
        rest = &rest[..i];
    }
    out
}

fn on_network<'a>(all: &'a [Endpoint], network: &'a str, name: &'a str) -> Option<Vec<IpAddr>> {
    let mut found = false;
    let mut addrs = Vec::new();
    for e in all
        .iter()
        .filter(|e| e.network == network && e.answers_to(name))
    {
        found = true;
        addrs.extend(e.addresses.iter().copied());
    }
    found.then_some(addrs)
}

impl Names for NameTable {
    fn lookup(&self, container: &str, name: &str) -> Option<Vec<IpAddr>> {
        let all = self.read();
        let own: Vec<&Endpoint> = all.iter().filter(|e| e.container == container).collect();
        for (req, network) in candidates(name) {
            let mine = || {
                own.iter()
                    .filter(move |e| network.is_none_or(|n| n == e.network))
            };
            for e in mine() {
                if let Some(target) = e.link_target(req)
                    && let Some(found) = on_network(&all, &e.network, target)
                {
                    return Some(found);
                }
            }
            for e in mine() {
                if e.link_target(req).is_some() {
                    continue;
                }
                if let Some(found) = on_network(&all, &e.network, req) {
                    return Some(found);
                }
            }
        }
        None
    }

    fn reverse(&self, container: &str, ip: IpAddr) -> Option<String> {
        let all = self.read();
        all.iter()
            .filter(|e| e.container == container)
            .find_map(|own| {
                all.iter()
                    .find(|e| e.network == own.network && e.addresses.contains(&ip))
                    .map(|e| format!("{}.{}", e.name, e.network))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(network: &str, id: &str, name: &str, aliases: &[&str], ip: &str) -> Endpoint {
        let aliases: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
        Endpoint {
            network: network.into(),
            container: id.into(),
            name: name.into(),
            names: Endpoint::dns_names(name, &aliases, id),
            links: Vec::new(),
            addresses: vec![ip.parse().expect("ip")],
        }
    }

    fn ips(v: &[&str]) -> Option<Vec<IpAddr>> {
        Some(v.iter().map(|s| s.parse().expect("ip")).collect())
    }

    fn table() -> NameTable {
        let t = NameTable::new();
        t.set(ep("front", "aaaaaaaaaaaa1111", "web", &["www"], "10.1.0.2"));
        t.set(ep(
            "front",
            "bbbbbbbbbbbb2222",
            "api1",
            &["api"],
            "10.1.0.3",
        ));
        t.set(ep(
            "front",
            "cccccccccccc3333",
            "api2",
            &["api"],
            "10.1.0.4",
        ));
        t.set(ep("back", "bbbbbbbbbbbb2222", "api1", &[], "10.2.0.3"));
        t.set(ep(
            "back",
            "dddddddddddd4444",
            "db",
            &["Database"],
            "10.2.0.5",
        ));
        t
    }

    #[test]
    fn names_aliases_and_short_ids_resolve_on_shared_networks_only() {
        let t = table();
        let web = "aaaaaaaaaaaa1111";
        assert_eq!(t.lookup(web, "web"), ips(&["10.1.0.2"]));
        assert_eq!(t.lookup(web, "www"), ips(&["10.1.0.2"]));
        assert_eq!(t.lookup(web, "bbbbbbbbbbbb"), ips(&["10.1.0.3"]));
        assert_eq!(t.lookup(web, "api"), ips(&["10.1.0.3", "10.1.0.4"]));
        // db is on "back" only; web is not.
        assert_eq!(t.lookup(web, "db"), None);
        // api1 is on both: it resolves db (case-insensitively), via "back".
        assert_eq!(t.lookup("bbbbbbbbbbbb2222", "database"), ips(&["10.2.0.5"]));
        assert_eq!(t.lookup("unknown", "web"), None);
    }

    #[test]
    fn name_dot_network_picks_that_network() {
        let t = table();
        let api1 = "bbbbbbbbbbbb2222";
        assert_eq!(t.lookup(api1, "api1.back"), ips(&["10.2.0.3"]));
        assert_eq!(t.lookup(api1, "api1.front"), ips(&["10.1.0.3"]));
        assert_eq!(t.lookup(api1, "api1.nowhere"), None);
        assert_eq!(t.lookup("aaaaaaaaaaaa1111", "db.back"), None);
    }

    #[test]
    fn link_aliases_are_the_linking_containers_own() {
        let t = table();
        let mut web = ep("front", "aaaaaaaaaaaa1111", "web", &[], "10.1.0.2");
        web.links = vec![("backend".into(), "api1".into())];
        t.set(web);
        assert_eq!(t.lookup("aaaaaaaaaaaa1111", "backend"), ips(&["10.1.0.3"]));
        assert_eq!(t.lookup("cccccccccccc3333", "backend"), None);
    }

    #[test]
    fn removal_and_reverse() {
        let t = table();
        let ip: IpAddr = "10.1.0.4".parse().expect("ip");
        assert_eq!(
            t.reverse("aaaaaaaaaaaa1111", ip).as_deref(),
            Some("api2.front")
        );
        assert_eq!(t.reverse("dddddddddddd4444", ip), None);
        t.remove("front", "cccccccccccc3333");
        assert_eq!(t.lookup("aaaaaaaaaaaa1111", "api"), ips(&["10.1.0.3"]));
        t.remove_container("bbbbbbbbbbbb2222");
        assert_eq!(t.lookup("aaaaaaaaaaaa1111", "api"), None);
        assert_eq!(t.endpoints_of("back").len(), 1);
    }

    #[test]
    fn candidates_follow_dockerd() {
        assert_eq!(
            candidates("a.b.c"),
            vec![("a.b.c", None), ("a.b", Some("c")), ("a", Some("b.c"))]
        );
    }
}
