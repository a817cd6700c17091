//! A container's `/etc/resolv.conf` and `/etc/hosts` at each start, as
//! dockerd writes them (skiff-net's [`resolvconf`] and [`hosts`]), and its
//! embedded DNS server on user-defined networks.
//!
//! - user-defined networks: `nameserver 127.0.0.11` (the embedded server,
//!   started here in the container's namespace, whose upstreams are the
//!   host's nameservers or `--dns`), `--dns-search`, `--dns-option`, and
//!   dockerd's `ndots:0`;
//! - default `bridge`, `none`, `container:`: the host's file filtered
//!   (loopback nameservers dropped) with the overrides; no name resolution
//!   between containers;
//! - `host`: the host's file with the overrides.
//!
//! `/etc/hosts`: the default records, `--add-host` entries
//! (`host-gateway` is the first network's gateway), then the container's
//! addresses with `HOST` or `FQDN HOST` (`--domainname`).

use std::net::IpAddr;
use std::path::Path;

use bollard_stubs::models::{ContainerConfig, HostConfig};
use skiff_net::dns::EMBEDDED_DNS_IP;
use skiff_net::{hosts, resolvconf};

use super::ContainerService;
use super::error::ContainerError;
use super::network::NetJoin;
use super::record::ContainerRecord;
use crate::networks::dns::DnsSetup;

/// `--dns`, `--dns-search`, `--dns-option` of `h`; an address that is
/// not one is refused, naming it (as the CLI does).
pub fn overrides(h: &HostConfig) -> Result<resolvconf::Overrides, ContainerError> {
    let nameservers = h
        .dns
        .iter()
        .flatten()
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| ContainerError::InvalidArgument(format!("{s} is not an ip address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(resolvconf::Overrides {
        nameservers,
        search: h.dns_search.clone().unwrap_or_default(),
        options: h.dns_options.clone().unwrap_or_default(),
    })
}

/// `--add-host` records of `h`, `host-gateway` being `gateway`.
pub fn extra_hosts(
    h: &HostConfig,
    gateway: Option<IpAddr>,
) -> Result<Vec<hosts::Record>, ContainerError> {
    h.extra_hosts
        .iter()
        .flatten()
        .map(|e| {
            hosts::parse_add_host(e, gateway)
                .map_err(|err| ContainerError::InvalidArgument(err.to_string()))
        })
        .collect()
}

/// The resolv.conf mode of a container joined as `net`.
pub fn mode(net: &NetJoin) -> resolvconf::Mode {
    if net.host {
        resolvconf::Mode::Host
    } else if net.embedded_dns {
        resolvconf::Mode::Internal(IpAddr::V4(EMBEDDED_DNS_IP))
    } else {
        resolvconf::Mode::Legacy { ipv6: false }
    }
}

/// The names Docker Desktop gives the host inside containers.
pub const VM_HOST_NAMES: &str = "host.docker.internal gateway.docker.internal";

/// The `/etc/hosts` text of a container of `config` and `h` joined as `net`.
/// In Skiff's VM, `vm_host` (the host's address) is `host-gateway` and,
/// after the `--add-host` entries (which win: resolvers take the first
/// match), is named [`VM_HOST_NAMES`]; with `--network host` the VM's own
/// file has those names.
pub fn hosts_file(
    config: &ContainerConfig,
    h: &HostConfig,
    hostname: &str,
    net: &NetJoin,
    vm_host: Option<IpAddr>,
) -> Result<String, ContainerError> {
    let mut extra = extra_hosts(h, vm_host.or(net.gateway.map(IpAddr::V4)))?;
    extra.extend(net.links.hosts.iter().cloned());
    if net.host {
        let host = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        return Ok(hosts::render_host_network(&host, &extra));
    }
    if let Some(ip) = vm_host {
        extra.push(hosts::Record::new(ip, VM_HOST_NAMES));
    }
    Ok(hosts::render(&hosts::HostsSpec {
        hostname: hostname.to_owned(),
        domainname: config.domainname.clone().unwrap_or_default(),
        addresses: net.addresses.iter().map(|a| IpAddr::V4(*a)).collect(),
        extra,
        ipv6_disabled: false,
    }))
}

impl ContainerService {
    /// Blocking, at start after the join: writes `hosts` and `resolv.conf`
    /// in the container's directory `dir` and, on a user-defined network,
    /// starts its embedded DNS server (stopped when its endpoints are
    /// released).
    pub(super) fn network_files(
        &self,
        record: &ContainerRecord,
        dir: &Path,
        hostname: &str,
        net: &NetJoin,
    ) -> Result<(), ContainerError> {
        if net.shared_with.is_some() {
            return Ok(());
        }
        let io = |e| ContainerError::io(format!("writing {}", dir.display()), e);
        let overrides = overrides(&record.host_config)?;
        let host = std::fs::read_to_string(resolvconf::HOST_PATH).ok();
        let rendered = resolvconf::render(
            host.as_deref(),
            resolvconf::HOST_PATH,
            &overrides,
            mode(net),
        );
        std::fs::write(
            dir.join("hosts"),
            hosts_file(
                &record.config,
                &record.host_config,
                hostname,
                net,
                self.config.vm_host_ip,
            )?,
        )
        .map_err(io)?;
        std::fs::write(dir.join("resolv.conf"), &rendered.content).map_err(io)?;
        if !net.embedded_dns {
            return Ok(());
        }
        let (Some(networks), Some(netns)) = (self.networks(), net.netns.as_deref()) else {
            return Ok(());
        };
        networks.start_dns(&record.id, netns, dns_setup(&rendered))?;
        Ok(())
    }
}

impl ContainerService {
    /// A `container:<other>` container (`net.shared_with`): its bundle
    /// takes `other`'s hostname and bind-mounts `other`'s `/etc/hostname`,
    /// `/etc/hosts` and `/etc/resolv.conf` (dockerd's
    /// `initializeNetworking`), so both see one set of files.
    pub(super) fn share_etc_files(
        &self,
        bundle: &mut skiff_shim::bundle::BundleConfig,
        net: &NetJoin,
    ) -> Result<(), ContainerError> {
        let Some(other) = net.shared_with.as_deref() else {
            return Ok(());
        };
        let record = self.store.resolve(other)?;
        let dir = self.store.dir(&record.id);
        bundle.hostname = Some(
            record
                .config
                .hostname
                .clone()
                .unwrap_or_else(|| record.short_id().to_owned()),
        );
        bundle.domainname = record.config.domainname.clone().filter(|d| !d.is_empty());
        for m in &mut bundle.mounts {
            let file = match m.destination().to_str() {
                Some("/etc/hostname") => "hostname",
                Some("/etc/hosts") => "hosts",
                Some("/etc/resolv.conf") => "resolv.conf",
                _ => continue,
            };
            m.set_source(Some(dir.join(file)));
        }
        Ok(())
    }
}

/// What the embedded DNS server of a container whose resolv.conf is
/// `rendered` forwards to.
pub fn dns_setup(rendered: &resolvconf::Rendered) -> DnsSetup {
    DnsSetup {
        upstreams: rendered
            .upstreams
            .iter()
            .map(|u| {
                let up = u.upstream();
                (up.addr, up.from_host)
            })
            .collect(),
        ndots_set: rendered.ndots_set,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn host(v: serde_json::Value) -> HostConfig {
        serde_json::from_value(v).expect("host config")
    }

    #[test]
    fn dns_flags_become_overrides_and_bad_addresses_are_refused() {
        let h = host(
            serde_json::json!({"Dns": ["127.0.0.1"], "DnsSearch": ["example.test"],
            "DnsOptions": ["ndots:2"]}),
        );
        let o = overrides(&h).expect("overrides");
        assert_eq!(o.nameservers, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let internal = NetJoin {
            embedded_dns: true,
            ..NetJoin::default()
        };
        let r = resolvconf::render(Some("nameserver 10.0.0.1\n"), "/x", &o, mode(&internal));
        assert!(
            r.content.contains("nameserver 127.0.0.11\n"),
            "{}",
            r.content
        );
        assert!(r.content.contains("search example.test\n"), "{}", r.content);
        assert!(r.ndots_set);
        assert_eq!(r.upstreams.len(), 1);
        assert!(!r.upstreams[0].host_loopback);
        let e = overrides(&host(serde_json::json!({"Dns": ["nope"]}))).expect_err("bad");
        assert!(e.to_string().contains("nope"), "{e}");
        assert_eq!(
            mode(&NetJoin::default()),
            resolvconf::Mode::Legacy { ipv6: false }
        );
    }

    #[test]
    fn hosts_has_add_hosts_gateway_and_domain() {
        let h = host(serde_json::json!({"ExtraHosts": ["x:1.2.3.4", "gw:host-gateway"]}));
        let c: ContainerConfig =
            serde_json::from_value(serde_json::json!({"Domainname": "example.test"}))
                .expect("config");
        let net = NetJoin {
            addresses: vec![Ipv4Addr::new(10, 0, 0, 2)],
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..NetJoin::default()
        };
        let text = hosts_file(&c, &h, "box", &net, None).expect("hosts");
        assert!(text.contains("1.2.3.4\tx\n"), "{text}");
        assert!(text.contains("10.0.0.1\tgw\n"), "{text}");
        assert!(text.contains("10.0.0.2\tbox.example.test box\n"), "{text}");
        assert!(!text.contains("docker.internal"), "{text}");
        // In Skiff's VM: the host's names after the --add-host entries,
        // and host-gateway is the host.
        let vm_host = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)));
        let text = hosts_file(&c, &h, "box", &net, vm_host).expect("hosts");
        assert!(text.contains("10.0.2.2\tgw\n"), "{text}");
        let names = format!("10.0.2.2\t{VM_HOST_NAMES}\n");
        let at = text.find(&names).unwrap_or_else(|| panic!("{text}"));
        assert!(text.find("1.2.3.4\tx\n").is_some_and(|x| x < at), "{text}");
        let no_gw = extra_hosts(&h, None).expect_err("no gateway");
        assert!(no_gw.to_string().contains("host-gateway"), "{no_gw}");
    }
}
