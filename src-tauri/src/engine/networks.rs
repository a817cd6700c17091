//! Networks: list (subnets, and the containers attached with their
//! addresses), create, remove.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerSummary, Ipam, IpamConfig, Network as EngineNetwork, NetworkCreateRequest,
};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use serde::{Deserialize, Serialize};

use super::Engine;
use super::containers::non_empty;
use crate::error::{Error, Result};

/// The networks every engine has and that cannot be removed.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// A row of the networks view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// The full id.
    pub id: String,
    /// The name.
    pub name: String,
    /// `bridge`, `host`, `null`, ...
    pub driver: String,
    /// The IPAM subnets (`172.18.0.0/16`, ...).
    pub subnets: Vec<String>,
    /// The IPAM gateways.
    pub gateways: Vec<String>,
    /// No route to the outside.
    pub internal: bool,
    /// RFC 3339, as the engine gives it.
    pub created: Option<String>,
    /// One of [`PREDEFINED`]: cannot be removed.
    pub predefined: bool,
    /// The containers attached (running or not), sorted by name.
    pub containers: Vec<Attached>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// A container on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// The container's name.
    pub name: String,
    /// The container's id.
    pub id: String,
    /// `172.18.0.2/16`, empty while it is not running.
    pub ipv4: String,
    /// Its IPv6 address with prefix, if any.
    pub ipv6: String,
}

/// `create_network`'s request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateNetwork {
    /// The name.
    pub name: String,
    /// The driver; `bridge` when absent or blank.
    #[serde(default)]
    pub driver: Option<String>,
    /// A subnet in CIDR form; the engine picks one when absent or blank.
    #[serde(default)]
    pub subnet: Option<String>,
    /// The gateway (needs a subnet).
    #[serde(default)]
    pub gateway: Option<String>,
    /// No route to the outside.
    #[serde(default)]
    pub internal: bool,
    /// `KEY=value` labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Every network, sorted by name, with the containers attached.
pub async fn list(engine: &Engine) -> Result<Vec<Network>> {
    let networks = engine
        .call(|d| async move { d.list_networks(None::<ListNetworksOptions>).await })
        .await?;
    let options = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let containers = engine
        .call(|d| async move { d.list_containers(Some(options)).await })
        .await?;
    Ok(rows(networks, &containers))
}

/// The rows for `networks`, with their containers among `containers`.
pub fn rows(networks: Vec<EngineNetwork>, containers: &[ContainerSummary]) -> Vec<Network> {
    let attached = attached(containers);
    let mut rows: Vec<Network> = networks
        .into_iter()
        .map(|n| {
            let id = n.id.unwrap_or_default();
            let name = n.name.unwrap_or_default();
            let configs = n.ipam.and_then(|i| i.config).unwrap_or_default();
            let mut containers = attached
                .get(&id)
                .or_else(|| attached.get(&name))
                .cloned()
                .unwrap_or_default();
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            Network {
                subnets: configs.iter().filter_map(|c| c.subnet.clone()).collect(),
                gateways: configs.iter().filter_map(|c| c.gateway.clone()).collect(),
                driver: n.driver.unwrap_or_default(),
                internal: n.internal.unwrap_or_default(),
                created: n.created.as_ref().and_then(super::rfc3339),
                predefined: PREDEFINED.contains(&name.as_str()),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
                containers,
                id,
                name,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// Network id (and name, for engines that leave the id out) → the
/// containers on it.
fn attached(containers: &[ContainerSummary]) -> HashMap<String, Vec<Attached>> {
    let mut by_network: HashMap<String, Vec<Attached>> = HashMap::new();
    for c in containers {
        let networks = c
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.as_ref());
        for (network, endpoint) in networks.into_iter().flatten() {
            let with_prefix = |ip: &Option<String>, prefix: Option<i64>| match ip.as_deref() {
                Some(ip) if !ip.is_empty() => match prefix {
                    Some(p) if p > 0 => format!("{ip}/{p}"),
                    _ => ip.to_string(),
                },
                _ => String::new(),
            };
            let row = Attached {
                name: super::containers::display_name(c),
                id: c.id.clone().unwrap_or_default(),
                ipv4: with_prefix(&endpoint.ip_address, endpoint.ip_prefix_len),
                ipv6: with_prefix(
                    &endpoint.global_ipv6_address,
                    endpoint.global_ipv6_prefix_len,
                ),
            };
            let key = endpoint
                .network_id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| network.clone());
            by_network.entry(key).or_default().push(row);
        }
    }
    by_network
}

/// Creates a network; returns its id.
pub async fn create(engine: &Engine, request: CreateNetwork) -> Result<String> {
    let body = create_body(&request)?;
    let created = engine
        .call(|d| async move { d.create_network(body).await })
        .await?;
    Ok(created.id)
}

/// The engine's create body for `request`.
pub fn create_body(request: &CreateNetwork) -> Result<NetworkCreateRequest> {
    let name = non_empty(&request.name, "network name")?;
    let trimmed = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let subnet = trimmed(&request.subnet);
    let gateway = trimmed(&request.gateway);
    if gateway.is_some() && subnet.is_none() {
        return Err(Error::InvalidRequest(
            "a gateway needs a subnet to belong to".to_string(),
        ));
    }
    let ipam = subnet.map(|subnet| Ipam {
        config: Some(vec![IpamConfig {
            subnet: Some(subnet),
            gateway,
            ..Default::default()
        }]),
        ..Default::default()
    });
    let labels = super::labels(&request.labels)?;
    Ok(NetworkCreateRequest {
        name: name.to_string(),
        driver: Some(trimmed(&request.driver).unwrap_or_else(|| "bridge".to_string())),
        internal: request.internal.then_some(true),
        ipam,
        labels: (!labels.is_empty()).then_some(labels),
        ..Default::default()
    })
}

/// Removes network `id` (an id or a name).
pub async fn remove(engine: &Engine, id: &str) -> Result<()> {
    let id = non_empty(id, "network id")?;
    engine
        .call(|d| async move { d.remove_network(id).await })
        .await
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerSummaryNetworkSettings, EndpointSettings};

    use super::*;

    fn network(id: &str, name: &str, subnet: Option<&str>) -> EngineNetwork {
        EngineNetwork {
            id: Some(id.into()),
            name: Some(name.into()),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(
                    subnet
                        .map(|s| IpamConfig {
                            subnet: Some(s.into()),
                            gateway: Some("172.18.0.1".into()),
                            ..Default::default()
                        })
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn container(name: &str, on: &[(&str, &str, &str)]) -> ContainerSummary {
        ContainerSummary {
            id: Some(format!("{name}-id")),
            names: Some(vec![format!("/{name}")]),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(
                    on.iter()
                        .map(|(net, id, ip)| {
                            (
                                (*net).to_string(),
                                EndpointSettings {
                                    network_id: Some((*id).to_string()),
                                    ip_address: Some((*ip).to_string()),
                                    ip_prefix_len: Some(16),
                                    ..Default::default()
                                },
                            )
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rows_list_subnets_and_the_containers_with_their_addresses() {
        let containers = [
            container("web", &[("app", "n1", "172.18.0.3")]),
            container("db", &[("app", "n1", "172.18.0.2"), ("bridge", "n0", "")]),
        ];
        let rows = rows(
            vec![
                network("n1", "app", Some("172.18.0.0/16")),
                network("n0", "bridge", None),
            ],
            &containers,
        );
        assert_eq!(rows[0].name, "app");
        assert!(!rows[0].predefined);
        assert_eq!(rows[0].subnets, ["172.18.0.0/16"]);
        assert_eq!(rows[0].gateways, ["172.18.0.1"]);
        let on_app: Vec<_> = rows[0]
            .containers
            .iter()
            .map(|a| (a.name.as_str(), a.ipv4.as_str()))
            .collect();
        assert_eq!(on_app, [("db", "172.18.0.2/16"), ("web", "172.18.0.3/16")]);
        assert!(rows[1].predefined);
        assert_eq!(rows[1].containers[0].ipv4, "");
    }

    #[test]
    fn create_bodies_default_to_bridge_and_need_a_subnet_for_a_gateway() {
        let request: CreateNetwork = serde_json::from_value(serde_json::json!({
            "name": "app", "subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "internal": true
        }))
        .expect("parse");
        let body = create_body(&request).expect("valid");
        assert_eq!(body.driver.as_deref(), Some("bridge"));
        assert_eq!(body.internal, Some(true));
        let config = &body.ipam.and_then(|i| i.config).expect("ipam")[0];
        assert_eq!(config.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(config.gateway.as_deref(), Some("10.9.0.1"));
        let no_subnet = CreateNetwork {
            subnet: None,
            ..request.clone()
        };
        assert_eq!(
            create_body(&no_subnet).expect_err("gateway alone").kind(),
            "invalid_request"
        );
        let blank = CreateNetwork {
            name: " ".into(),
            ..request
        };
        assert!(create_body(&blank).is_err());
    }
}
