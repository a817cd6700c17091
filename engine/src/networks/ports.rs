//! Published ports: docker's `PortBindings`/`-P` into [`PortSpec`]s, host
//! ports from the allocator, a userland proxy per port, and (through the
//! firewall) a DNAT rule per port in skiff's table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard_stubs::models::{ContainerConfig, HostConfig};
use skiff_net::Protocol;
use skiff_net::ports::{PortAllocator, PortRequest};
use skiff_net::proxy::ProxySpec;

use super::error::PublishError;
use super::record::{NetState, PortMapping};
use super::{NetworkError, NetworkService};

/// One port to publish, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// tcp or udp.
    pub protocol: Protocol,
    /// The container port.
    pub container_port: u16,
    /// The host address (`0.0.0.0` for all).
    pub host_ip: Ipv4Addr,
    /// The host port: exact, a range, or any.
    pub host_port: PortRequest,
}

/// Splits docker's `80/tcp` key.
fn port_key(key: &str) -> Result<(u16, Protocol), NetworkError> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = proto.parse::<Protocol>().map_err(|_| {
        NetworkError::Invalid(format!(
            "publishing {proto} ports is not supported by this engine: {key}"
        ))
    })?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| NetworkError::Invalid(format!("invalid containerPort: {port}")))?;
    Ok((port, protocol))
}

/// The host port of a binding: `""` any, `N`, or `A-B`.
fn host_port(s: &str) -> Result<PortRequest, NetworkError> {
    let bad = || NetworkError::Invalid(format!("invalid hostPort: {s}"));
    if s.is_empty() {
        return Ok(PortRequest::Any);
    }
    match s.split_once('-') {
        Some((a, b)) => {
            let a: u16 = a.parse().map_err(|_| bad())?;
            let b: u16 = b.parse().map_err(|_| bad())?;
            if a == 0 || a > b {
                return Err(bad());
            }
            Ok(PortRequest::Range(a..=b))
        }
        None => match s.parse::<u16>().map_err(|_| bad())? {
            0 => Ok(PortRequest::Any),
            p => Ok(PortRequest::Exact(p)),
        },
    }
}

/// The ports a container publishes: its `PortBindings`, and with `-P`
/// every exposed port without a binding (on an ephemeral port). Host
/// addresses other than IPv4 are refused, named.
pub fn requested(
    host: &HostConfig,
    config: &ContainerConfig,
) -> Result<Vec<PortSpec>, NetworkError> {
    let mut out = Vec::new();
    let bindings = host.port_bindings.clone().unwrap_or_default();
    let mut keys: Vec<&String> = bindings.keys().collect();
    keys.sort();
    for key in keys {
        let (container_port, protocol) = port_key(key)?;
        let list = bindings.get(key).cloned().flatten().unwrap_or_default();
        let list = if list.is_empty() {
            vec![Default::default()]
        } else {
            list
        };
        for b in list {
            let b: bollard_stubs::models::PortBinding = b;
            let host_ip = match b.host_ip.as_deref().unwrap_or_default() {
                "" => Ipv4Addr::UNSPECIFIED,
                ip => match ip.parse::<IpAddr>() {
                    Ok(IpAddr::V4(v4)) => v4,
                    Ok(IpAddr::V6(_)) => {
                        return Err(NetworkError::Invalid(format!(
                            "publishing on IPv6 address {ip} is not supported by this engine"
                        )));
                    }
                    Err(_) => {
                        return Err(NetworkError::Invalid(format!("invalid IP address: {ip}")));
                    }
                },
            };
            out.push(PortSpec {
                protocol,
                container_port,
                host_ip,
                host_port: host_port(b.host_port.as_deref().unwrap_or_default())?,
            });
        }
    }
    if host.publish_all_ports.unwrap_or(false) {
        let mut exposed: Vec<&String> = config.exposed_ports.iter().flatten().collect();
        exposed.sort();
        for key in exposed {
            if bindings.contains_key(key) {
                continue;
            }
            let (container_port, protocol) = port_key(key)?;
            out.push(PortSpec {
                protocol,
                container_port,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: PortRequest::Any,
            });
        }
    }
    Ok(out)
}

impl NetworkService {
    /// Hands out host ports for `ports`, starts their proxies to the
    /// container's address on `network` (none: the ports are refused), and
    /// records them. On failure, what was handed out is released.
    pub(super) fn publish(
        &self,
        st: &mut NetState,
        id: &str,
        name: &str,
        network: Option<&str>,
        ports: &[PortSpec],
    ) -> Result<(), NetworkError> {
        let Some(ep) = network.and_then(|n| st.containers.get(id)?.endpoints.get(n).cloned())
        else {
            return Err(NetworkError::Invalid(
                "conflicting options: port publishing and the container type network mode".into(),
            ));
        };
        let mut live = self.live();
        let allocator = live.ports.get_or_insert_with(PortAllocator::from_system);
        let mut mapped = Vec::new();
        let mut failure = None;
        for p in ports {
            match allocator.request(IpAddr::V4(p.host_ip), p.protocol, p.host_port.clone()) {
                Ok(port) => mapped.push(PortMapping {
                    protocol: p.protocol,
                    container_port: p.container_port,
                    host_ip: p.host_ip,
                    host_port: port,
                }),
                Err(e) => {
                    failure = Some(PublishError::from(e));
                    break;
                }
            }
        }
        let mut proxies = Vec::new();
        if failure.is_none() {
            for m in &mapped {
                let spec = ProxySpec::new(
                    m.protocol,
                    SocketAddr::new(IpAddr::V4(m.host_ip), m.host_port),
                    SocketAddr::new(IpAddr::V4(ep.ip), m.container_port),
                );
                match self.kernel.proxy(spec) {
                    Ok(h) => proxies.push(h),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(source) = failure {
            drop(proxies);
            for m in &mapped {
                allocator.release(IpAddr::V4(m.host_ip), m.protocol, m.host_port);
            }
            return Err(NetworkError::Publish {
                endpoint: name.to_owned(),
                endpoint_id: ep.id,
                source,
            });
        }
        live.proxies.insert(id.to_owned(), proxies);
        drop(live);
        if let Some(c) = st.containers.get_mut(id) {
            c.ports = mapped;
        }
        Ok(())
    }

    /// Gives host ports back to the allocator.
    pub(super) fn release_ports(&self, ports: &[PortMapping]) {
        let mut live = self.live();
        if let Some(allocator) = live.ports.as_mut() {
            for m in ports {
                allocator.release(IpAddr::V4(m.host_ip), m.protocol, m.host_port);
            }
        }
    }

    /// After a restart: takes a running container's recorded ports again
    /// and restarts their proxies (a port someone else took meanwhile is
    /// logged and left out).
    pub(super) fn reserve_ports(&self, st: &NetState, id: &str) {
        let Some(c) = st.containers.get(id) else {
            return;
        };
        let Some(ep) = c.endpoints.values().next() else {
            return;
        };
        let mut live = self.live();
        let allocator = live.ports.get_or_insert_with(PortAllocator::from_system);
        for m in &c.ports {
            let _ = allocator.request(
                IpAddr::V4(m.host_ip),
                m.protocol,
                PortRequest::Exact(m.host_port),
            );
        }
        let mut proxies = Vec::new();
        for m in &c.ports {
            let spec = ProxySpec::new(
                m.protocol,
                SocketAddr::new(IpAddr::V4(m.host_ip), m.host_port),
                SocketAddr::new(IpAddr::V4(ep.ip), m.container_port),
            );
            match self.kernel.proxy(spec) {
                Ok(h) => proxies.push(h),
                Err(e) => tracing::warn!("container {id}: {e}"),
            }
        }
        live.proxies.insert(id.to_owned(), proxies);
    }

    /// Container `id`'s published ports, as docker's `NetworkSettings.Ports`
    /// keys (`80/tcp`) to `(host ip, host port)` lists.
    pub fn ports_of(&self, id: &str) -> HashMap<String, Vec<(Ipv4Addr, u16)>> {
        let st = self.view();
        let mut out: HashMap<String, Vec<(Ipv4Addr, u16)>> = HashMap::new();
        for m in st
            .containers
            .get(id)
            .map(|c| c.ports.as_slice())
            .unwrap_or_default()
        {
            out.entry(format!("{}/{}", m.container_port, m.protocol))
                .or_default()
                .push((m.host_ip, m.host_port));
        }
        out
    }
}
