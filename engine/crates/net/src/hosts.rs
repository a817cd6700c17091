//! A container's `/etc/hosts` and `/etc/hostname`, as dockerd writes them
//! (moby's `libnetwork/etchosts` and the sandbox that drives it).
//!
//! `/etc/hosts` (bridge, user networks, `none`): the default records
//! (`127.0.0.1 localhost` and the IPv6 ones, left out with every other
//! IPv6 line when the container has IPv6 disabled), then the extra records
//! in order — the `--add-host` entries, then `--link` entries (default bridge)
//! — then one line per address of the container with its hostname (`FQDN
//! HOST` when it has a domain). Each line is `IP<TAB>NAMES`. With
//! `--network host` and no `--add-host`, dockerd copies the host's file
//! instead ([`render_host_network`]).
//!
//! Pure: parsing `--add-host`, building link records, rendering text.

use std::net::IpAddr;

/// One line: an address and the names it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The address.
    pub ip: IpAddr,
    /// Space-separated names.
    pub names: String,
}

impl Record {
    /// A record of `names` at `ip`.
    pub fn new(ip: IpAddr, names: impl Into<String>) -> Self {
        Record {
            ip,
            names: names.into(),
        }
    }
}

/// dockerd's default records: what every container's file starts with.
pub const DEFAULT_RECORDS: [(&str, &str); 6] = [
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::", "ip6-localnet"),
    ("ff00::", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
];

/// The value of `--add-host NAME:host-gateway`.
pub const HOST_GATEWAY: &str = "host-gateway";

/// A `--add-host` entry dockerd refuses. The texts are dockerd's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddHostError {
    /// No `:` or no name.
    #[error("bad format for add-host: {0:?}")]
    Format(String),
    /// Not an address nor `host-gateway`.
    #[error("invalid IP address in add-host: {0:?}")]
    Address(String),
    /// `host-gateway` but the daemon knows no host gateway address.
    #[error("unable to derive the IP value for host-gateway")]
    NoHostGateway,
}

/// Parses one `HostConfig.ExtraHosts` entry, `NAME:IP` (split at the first
/// `:`, so `NAME:::1` is IPv6; `[…]` brackets allowed), with `host-gateway`
/// replaced by `host_gateway` (the default bridge's gateway address, or the
/// daemon's `host-gateway-ip`).
pub fn parse_add_host(entry: &str, host_gateway: Option<IpAddr>) -> Result<Record, AddHostError> {
    let Some((name, ip)) = entry.split_once(':') else {
        return Err(AddHostError::Format(entry.to_owned()));
    };
    if name.is_empty() {
        return Err(AddHostError::Format(entry.to_owned()));
    }
    if ip == HOST_GATEWAY {
        return host_gateway
            .map(|gw| Record::new(gw, name))
            .ok_or(AddHostError::NoHostGateway);
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip);
    bare.parse::<IpAddr>()
        .map(|addr| Record::new(addr, name))
        .map_err(|_| AddHostError::Address(ip.to_owned()))
}

/// The record of a `--link TARGET:ALIAS` on the default bridge: the
/// target's address with `ALIAS TARGET_HOSTNAME`, and ` TARGET_NAME` when
/// the alias differs from the target's name (dockerd's
/// `buildSandboxOptions`). `target_name` is without the leading `/`.
pub fn link_record(ip: IpAddr, alias: &str, target_hostname: &str, target_name: &str) -> Record {
    let mut names = format!("{alias} {target_hostname}");
    if alias != target_name {
        names.push(' ');
        names.push_str(target_name);
    }
    Record::new(ip, names)
}

/// The names of the container's own lines: `HOST` or, with a domain (in
/// `--domainname` or a dotted `--hostname`), `FQDN HOST`.
pub fn own_names(hostname: &str, domainname: &str) -> String {
    let mut fqdn = hostname.to_owned();
    if !domainname.is_empty() {
        fqdn.push('.');
        fqdn.push_str(domainname);
    }
    match fqdn.split_once('.') {
        Some((host, _)) => {
            let host = host.to_owned();
            format!("{fqdn} {host}")
        }
        None => fqdn,
    }
}

/// What goes into a container's `/etc/hosts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsSpec {
    /// `Config.Hostname`.
    pub hostname: String,
    /// `Config.Domainname`.
    pub domainname: String,
    /// The container's addresses, one line each, in network order.
    pub addresses: Vec<IpAddr>,
    /// `--add-host` records ([`parse_add_host`]) then `--link` records
    /// ([`link_record`]), in that order.
    pub extra: Vec<Record>,
    /// IPv6 is disabled in the container (`net.ipv6.conf.all.disable_ipv6`):
    /// no IPv6 line at all — default records, extra records or its own
    /// addresses (dockerd's `BuildNoIPv6`).
    pub ipv6_disabled: bool,
}

fn line(out: &mut String, ip: impl std::fmt::Display, names: &str) {
    out.push_str(&format!("{ip}\t{names}\n"));
}

/// The container's `/etc/hosts`.
pub fn render(spec: &HostsSpec) -> String {
    let mut out = String::with_capacity(256);
    let keep = |v6: bool| !(spec.ipv6_disabled && v6);
    for (ip, names) in DEFAULT_RECORDS {
        if keep(ip.contains(':')) {
            line(&mut out, ip, names);
        }
    }
    for r in spec.extra.iter().filter(|r| keep(r.ip.is_ipv6())) {
        line(&mut out, r.ip, &r.names);
    }
    let own = own_names(&spec.hostname, &spec.domainname);
    for ip in spec.addresses.iter().filter(|ip| keep(ip.is_ipv6())) {
        line(&mut out, ip, &own);
    }
    out
}

/// `/etc/hosts` of a `--network host` container: the host's file
/// (`host_file`, empty when it has none) when there is no `--add-host`;
/// otherwise, as dockerd, the default records and the extra ones (the
/// host's file is not used).
pub fn render_host_network(host_file: &str, extra: &[Record]) -> String {
    if extra.is_empty() {
        return host_file.to_owned();
    }
    render(&HostsSpec {
        extra: extra.to_vec(),
        ..HostsSpec::default()
    })
}

/// The container's `/etc/hostname`: `Config.Hostname` and a newline
/// (the domain name is not in it, as with dockerd).
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    const DEFAULTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

    #[test]
    fn a_plain_container_matches_dockerd() {
        // `docker run busybox cat /etc/hosts` on docker 28.
        let spec = HostsSpec {
            hostname: "70daeb4cf098".into(),
            addresses: vec![ip("172.17.0.3")],
            ..HostsSpec::default()
        };
        assert_eq!(
            render(&spec),
            format!("{DEFAULTS}172.17.0.3\t70daeb4cf098\n")
        );
    }

    #[test]
    fn add_hosts_links_and_a_domain() {
        let gw = Some(ip("172.17.0.1"));
        let spec = HostsSpec {
            hostname: "web".into(),
            domainname: "example.com".into(),
            addresses: vec![ip("172.17.0.4"), ip("fd00::4")],
            extra: vec![
                parse_add_host("db:10.0.0.5", gw).expect("db"),
                parse_add_host("v6:::1", gw).expect("v6"),
                parse_add_host("host.docker.internal:host-gateway", gw).expect("gw"),
                link_record(ip("172.17.0.3"), "cache", "0123456789ab", "redis"),
                link_record(ip("172.17.0.5"), "api", "api", "api"),
            ],
            ipv6_disabled: false,
        };
        let want = format!(
            "{DEFAULTS}10.0.0.5\tdb\n::1\tv6\n172.17.0.1\thost.docker.internal\n\
             172.17.0.3\tcache 0123456789ab redis\n172.17.0.5\tapi api\n\
             172.17.0.4\tweb.example.com web\nfd00::4\tweb.example.com web\n"
        );
        assert_eq!(render(&spec), want);
        let v4_only = HostsSpec {
            ipv6_disabled: true,
            ..spec
        };
        assert_eq!(
            render(&v4_only),
            "127.0.0.1\tlocalhost\n10.0.0.5\tdb\n172.17.0.1\thost.docker.internal\n\
             172.17.0.3\tcache 0123456789ab redis\n172.17.0.5\tapi api\n\
             172.17.0.4\tweb.example.com web\n"
        );
    }

    #[test]
    fn dotted_hostname_gives_fqdn_and_short_name() {
        assert_eq!(own_names("a.b.c", ""), "a.b.c a");
        assert_eq!(own_names("a", "b.c"), "a.b.c a");
        assert_eq!(own_names("a", ""), "a");
        assert_eq!(hostname_file("a"), "a\n");
    }

    #[test]
    fn add_host_errors_are_dockerds() {
        assert_eq!(
            parse_add_host("nocolon", None),
            Err(AddHostError::Format("nocolon".into()))
        );
        assert_eq!(
            parse_add_host(":1.2.3.4", None).map_err(|e| e.to_string()),
            Err("bad format for add-host: \":1.2.3.4\"".into())
        );
        assert_eq!(
            parse_add_host("a:300.1.1.1", None).map_err(|e| e.to_string()),
            Err("invalid IP address in add-host: \"300.1.1.1\"".into())
        );
        assert_eq!(
            parse_add_host("a:host-gateway", None),
            Err(AddHostError::NoHostGateway)
        );
        assert_eq!(
            parse_add_host("a:[fd00::1]", None),
            Ok(Record::new(ip("fd00::1"), "a"))
        );
    }

    #[test]
    fn host_network_copies_the_hosts_file_unless_add_host() {
        assert_eq!(render_host_network("10.0.0.1 me\n", &[]), "10.0.0.1 me\n");
        let extra = [Record::new(ip("1.2.3.4"), "x")];
        assert_eq!(
            render_host_network("10.0.0.1 me\n", &extra),
            format!("{DEFAULTS}1.2.3.4\tx\n")
        );
    }
}
