//! The networking parts of container JSON: `NetworkingConfig` on create,
//! `NetworkSettings` of inspect, the `Ports`/`NetworkSettings` of `ps` rows,
//! as dockerd prints them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use skiff_engine::containers::record::ContainerRecord;
use skiff_engine::networks::NetworkService;
use skiff_engine::networks::connect::{NetworkSetting, Settings};
use skiff_engine::networks::record::{Attachment, Driver};

use crate::error::ApiError;
use crate::networks::EndpointBody;

#[derive(Deserialize, Default)]
struct CreateProbe {
    #[serde(rename = "NetworkingConfig")]
    networking_config: Option<NetworkingConfig>,
}

#[derive(Deserialize, Default)]
struct NetworkingConfig {
    #[serde(rename = "EndpointsConfig")]
    endpoints_config: Option<BTreeMap<String, Option<EndpointBody>>>,
}

/// `NetworkingConfig.EndpointsConfig` of a create body: per network, the
/// endpoint's settings (what skiffd does not do is refused, named).
pub(super) fn endpoints_config(bytes: &[u8]) -> Result<Vec<(String, Attachment)>, ApiError> {
    let probe: CreateProbe = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    probe
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ep)| Ok((name, ep.unwrap_or_default().attachment()?)))
        .collect()
}

/// The exposed ports of a record (`80/tcp` keys), sorted.
fn exposed(r: &ContainerRecord) -> Vec<String> {
    let mut keys: Vec<String> = r.config.exposed_ports.iter().flatten().cloned().collect();
    for k in r.host_config.port_bindings.iter().flat_map(|m| m.keys()) {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys.sort();
    keys
}

fn endpoint_json(s: &NetworkSetting) -> Value {
    let ep = s.endpoint.as_ref();
    let ipam = s
        .attachment
        .ipv4
        .map(|ip| json!({"IPv4Address": ip.to_string()}))
        .unwrap_or(Value::Null);
    json!({
        "IPAMConfig": ipam,
        "Links": if s.attachment.links.is_empty() { Value::Null } else { json!(s.attachment.links) },
        "Aliases": if s.attachment.aliases.is_empty() { Value::Null } else { json!(s.attachment.aliases) },
        "NetworkID": s.network.id,
        "EndpointID": ep.map(|e| e.id.clone()).unwrap_or_default(),
        "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.map(|e| e.mac.to_string()).unwrap_or_default(),
        "DriverOpts": null,
    })
}

/// `NetworkSettings.Ports`: while running, every exposed port, with its
/// bindings or `null`; `{}` otherwise.
fn ports_json(r: &ContainerRecord, s: &Settings) -> Value {
    let mut out = serde_json::Map::new();
    if !r.state.status.is_live() {
        return Value::Object(out);
    }
    for key in exposed(r) {
        let bindings: Vec<Value> = s
            .ports
            .iter()
            .filter(|p| format!("{}/{}", p.container_port, p.protocol) == key)
            .map(|p| json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}))
            .collect();
        out.insert(
            key,
            if bindings.is_empty() {
                Value::Null
            } else {
                json!(bindings)
            },
        );
    }
    Value::Object(out)
}

/// `NetworkSettings` of container inspect, as dockerd prints it (with the
/// top-level fields of the default bridge's endpoint).
pub(super) fn settings(r: &ContainerRecord, networks: &NetworkService) -> Value {
    let s = networks.settings(&r.id);
    let nets: serde_json::Map<String, Value> = s
        .networks
        .iter()
        .map(|(name, n)| (name.clone(), endpoint_json(n)))
        .collect();
    let bridge = s.networks.get("bridge").and_then(|n| n.endpoint.clone());
    // Where its namespace is pinned while it runs, once it has run
    // (dockerd keeps showing the path after the exit too).
    let started = r.state.started_at != skiff_engine::containers::record::ZERO_TIME;
    let sandbox = if started
        && s.networks
            .values()
            .any(|n| n.network.driver == Driver::Bridge)
    {
        networks.sandbox_key(&r.id).display().to_string()
    } else {
        String::new()
    };
    json!({
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_json(r, &s),
        "SandboxKey": sandbox,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.as_ref().map(|e| e.id.clone()).unwrap_or_default(),
        "Gateway": bridge.as_ref().map(|e| e.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.as_ref().map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": bridge.as_ref().map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "MacAddress": bridge.as_ref().map(|e| e.mac.to_string()).unwrap_or_default(),
        "Networks": nets,
    })
}

/// The `Ports` and `NetworkSettings.Networks` of a `ps` row.
pub(super) fn list_parts(r: &ContainerRecord, networks: &NetworkService) -> (Vec<Value>, Value) {
    let s = networks.settings(&r.id);
    let mut ports = Vec::new();
    if r.state.status.is_live() {
        for key in exposed(r) {
            let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
            let private: u16 = port.parse().unwrap_or(0);
            let mapped: Vec<_> = s
                .ports
                .iter()
                .filter(|p| p.container_port == private && p.protocol.as_str() == proto)
                .collect();
            if mapped.is_empty() {
                ports.push(json!({"PrivatePort": private, "Type": proto}));
            }
            for p in mapped {
                ports.push(json!({
                    "IP": p.host_ip.to_string(),
                    "PrivatePort": private,
                    "PublicPort": p.host_port,
                    "Type": proto,
                }));
            }
        }
    }
    let nets: serde_json::Map<String, Value> = s
        .networks
        .iter()
        .map(|(name, n)| (name.clone(), endpoint_json(n)))
        .collect();
    (ports, Value::Object(nets))
}
