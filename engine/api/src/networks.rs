//! Network endpoints: `/networks/…` (list, inspect, create, remove,
//! connect, disconnect, prune). The HTTP layer only: each request is parsed
//! into an [`Action`], then handed to the network service.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use hyper::body::Incoming;
use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;
use serde_json::{Value, json};
use skiff_engine::daemon::Daemon;
use skiff_engine::networks::record::{Attachment, Driver};
use skiff_engine::networks::{CreateRequest, ListFilter, NetworkView};

use crate::body;
use crate::call::Call;
use crate::error::ApiError;
use crate::response::{self, Response};

/// A parsed network request.
#[derive(Debug)]
pub enum Action {
    /// `GET /networks`.
    List(ListFilter),
    /// `GET /networks/{id}`.
    Inspect(String),
    /// `POST /networks/create`.
    Create,
    /// `DELETE /networks/{id}`.
    Remove(String),
    /// `POST /networks/{id}/connect`.
    Connect(String),
    /// `POST /networks/{id}/disconnect`.
    Disconnect(String),
    /// `POST /networks/prune`.
    Prune(Vec<String>),
}

/// Parse a network request.
pub fn parse(call: &Call) -> Result<Action, ApiError> {
    let rest = call
        .path
        .trim_start_matches("/networks")
        .trim_start_matches('/');
    let q = &call.query;
    let parts: Vec<&str> = rest.split('/').collect();
    match (&call.method, parts.as_slice()) {
        (&Method::GET, [""]) => {
            let f = q.filters()?;
            f.only(&["name", "id", "driver", "label", "type", "dangling", "scope"])?;
            for t in f.get("type") {
                if t != "custom" && t != "builtin" {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter: 'type'='{t}'"
                    )));
                }
            }
            let dangling = match f.get("dangling") {
                [] => None,
                [v] if v == "true" || v == "1" => Some(true),
                [v] if v == "false" || v == "0" => Some(false),
                v => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter 'dangling={}'",
                        v.join(",")
                    )));
                }
            };
            Ok(Action::List(ListFilter {
                names: f.get("name").to_vec(),
                ids: f.get("id").to_vec(),
                drivers: f.get("driver").to_vec(),
                labels: f.get("label").to_vec(),
                types: f.get("type").to_vec(),
                dangling,
                scopes: f.get("scope").to_vec(),
            }))
        }
        (&Method::POST, ["create"]) => Ok(Action::Create),
        (&Method::POST, ["prune"]) => {
            let f = q.filters()?;
            f.only(&["label", "until"])?;
            if !f.get("until").is_empty() {
                return Err(ApiError::bad_request(
                    "the until filter of network prune is not supported by this engine",
                ));
            }
            Ok(Action::Prune(f.get("label").to_vec()))
        }
        (&Method::GET, [id]) => Ok(Action::Inspect((*id).to_owned())),
        (&Method::DELETE, [id]) => Ok(Action::Remove((*id).to_owned())),
        (&Method::POST, [id, "connect"]) => Ok(Action::Connect((*id).to_owned())),
        (&Method::POST, [id, "disconnect"]) => Ok(Action::Disconnect((*id).to_owned())),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `POST /networks/create`'s body (moby's `NetworkCreateRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    driver: Option<String>,
    scope: Option<String>,
    internal: Option<bool>,
    attachable: Option<bool>,
    ingress: Option<bool>,
    config_only: Option<bool>,
    config_from: Option<Value>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<IpamBody>,
    options: Option<HashMap<String, String>>,
    labels: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamBody {
    driver: Option<String>,
    config: Option<Vec<IpamConfigBody>>,
    options: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfigBody {
    subnet: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
    gateway: Option<String>,
    auxiliary_addresses: Option<HashMap<String, String>>,
}

fn unsupported(what: &str) -> ApiError {
    ApiError::bad_request(format!("{what} is not supported by this engine"))
}

fn v4net(s: &str, what: &str) -> Result<Ipv4Net, ApiError> {
    match s.parse::<IpNet>() {
        Ok(IpNet::V4(n)) => Ok(n),
        Ok(IpNet::V6(_)) => Err(unsupported("IPv6 networks")),
        Err(_) => Err(ApiError::bad_request(format!("invalid {what} {s}"))),
    }
}

/// The typed request of a create body; what skiffd does not do is refused,
/// named.
fn create_request(body: CreateBody) -> Result<CreateRequest, ApiError> {
    if body.enable_ipv6.unwrap_or(false) {
        return Err(unsupported("IPv6 (--ipv6)"));
    }
    if body.ingress.unwrap_or(false) {
        return Err(unsupported("an ingress network"));
    }
    if body.config_only.unwrap_or(false) || body.config_from.as_ref().is_some_and(|v| !v.is_null())
    {
        return Err(unsupported(
            "a config-only network (--config-only, --config-from)",
        ));
    }
    if body
        .scope
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s != "local")
    {
        return Err(unsupported("a network scope other than local"));
    }
    let mut req = CreateRequest {
        name: body.name,
        driver: body.driver.unwrap_or_default(),
        internal: body.internal.unwrap_or(false),
        attachable: body.attachable.unwrap_or(false),
        labels: body.labels.unwrap_or_default(),
        options: body.options.unwrap_or_default(),
        ..CreateRequest::default()
    };
    if let Some(ipam) = body.ipam {
        if ipam
            .driver
            .as_deref()
            .is_some_and(|d| !d.is_empty() && d != "default")
        {
            return Err(unsupported(
                "an IPAM driver other than default (--ipam-driver)",
            ));
        }
        if ipam.options.is_some_and(|o| !o.is_empty()) {
            return Err(unsupported("IPAM options (--ipam-opt)"));
        }
        let configs = ipam.config.unwrap_or_default();
        if configs.len() > 1 {
            return Err(unsupported("more than one subnet per network"));
        }
        if let Some(c) = configs.into_iter().next() {
            if c.auxiliary_addresses.is_some_and(|a| !a.is_empty()) {
                return Err(unsupported("auxiliary addresses (--aux-address)"));
            }
            req.subnet = c
                .subnet
                .filter(|s| !s.is_empty())
                .map(|s| v4net(&s, "subnet"))
                .transpose()?;
            req.ip_range = c
                .ip_range
                .filter(|s| !s.is_empty())
                .map(|s| v4net(&s, "ip-range"))
                .transpose()?;
            req.gateway = match c.gateway.filter(|s| !s.is_empty()) {
                None => None,
                Some(g) => match g.parse::<IpAddr>() {
                    Ok(IpAddr::V4(v4)) => Some(v4),
                    Ok(IpAddr::V6(_)) => return Err(unsupported("IPv6 networks")),
                    Err(_) => return Err(ApiError::bad_request(format!("invalid gateway {g}"))),
                },
            };
        }
    }
    Ok(req)
}

/// `EndpointConfig` of connect and of a container's `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EndpointBody {
    aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
    mac_address: Option<String>,
    links: Option<Vec<String>>,
    driver_opts: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    ipv6_address: Option<String>,
    #[serde(rename = "LinkLocalIPs")]
    link_local_ips: Option<Vec<String>>,
}

impl EndpointBody {
    /// The typed attachment; driver options, IPv6 refused, named.
    pub(crate) fn attachment(self) -> Result<Attachment, ApiError> {
        let links = self.links.unwrap_or_default();
        for l in &links {
            skiff_engine::containers::links::parse_link(l)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        if self.driver_opts.is_some_and(|o| !o.is_empty()) {
            return Err(unsupported("endpoint driver options"));
        }
        let mut att = Attachment {
            aliases: self.aliases.unwrap_or_default(),
            links,
            ..Attachment::default()
        };
        if let Some(ipam) = self.ipam_config {
            if ipam.ipv6_address.is_some_and(|a| !a.is_empty()) {
                return Err(unsupported("--ip6"));
            }
            if ipam.link_local_ips.is_some_and(|a| !a.is_empty()) {
                return Err(unsupported("--link-local-ip"));
            }
            att.ipv4 = match ipam.ipv4_address.filter(|a| !a.is_empty()) {
                None => None,
                Some(a) => Some(
                    a.parse::<Ipv4Addr>()
                        .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {a}")))?,
                ),
            };
        }
        att.mac = match self.mac_address.filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => Some(
                m.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid MAC address: {m}")))?,
            ),
        };
        Ok(att)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointBody>,
    force: Option<bool>,
}

/// docker's JSON of a network; `containers` adds its endpoints (inspect).
pub fn render(view: &NetworkView, containers: bool) -> Value {
    let n = &view.network;
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(subnet), Some(gateway)) => {
            let mut c = json!({"Subnet": subnet.to_string(), "Gateway": gateway.to_string()});
            if let Some(range) = n.ip_range {
                c["IPRange"] = json!(range.to_string());
            }
            vec![c]
        }
        _ => vec![],
    };
    let mut eps = serde_json::Map::new();
    if containers {
        for (id, name, ep) in &view.endpoints {
            eps.insert(
                id.clone(),
                json!({
                    "Name": name,
                    "EndpointID": ep.id,
                    "MacAddress": ep.mac.to_string(),
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                    "IPv6Address": "",
                }),
            );
        }
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver.as_str(),
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": if n.predefined { Value::Null } else { json!({}) },
            "Config": config,
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": eps,
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// Handle a network request.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    body: Incoming,
) -> Result<Response, ApiError> {
    let svc = daemon.networks.clone();
    let blocking = |f: Box<dyn FnOnce() -> Result<Response, ApiError> + Send>| async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(ApiError::internal)?
    };
    match parse(call)? {
        Action::List(filter) => {
            let list: Vec<Value> = svc.list(&filter).iter().map(|v| render(v, false)).collect();
            Ok(response::json(StatusCode::OK, &list))
        }
        Action::Inspect(id) => Ok(response::json(
            StatusCode::OK,
            &render(&svc.inspect(&id)?, true),
        )),
        Action::Create => {
            let bytes: Bytes = body::collect(body).await?;
            let body: CreateBody = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            let req = create_request(body)?;
            blocking(Box::new(move || {
                let id = svc.create(req)?;
                Ok(response::json(
                    StatusCode::CREATED,
                    &json!({"Id": id, "Warning": ""}),
                ))
            }))
            .await
        }
        Action::Remove(id) => {
            blocking(Box::new(move || {
                svc.remove(&id)?;
                Ok(response::empty(StatusCode::NO_CONTENT))
            }))
            .await
        }
        Action::Prune(labels) => {
            blocking(Box::new(move || {
                let removed = svc.prune(|n| {
                    !labels.iter().all(|l| match l.split_once('=') {
                        Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                        None => n.labels.contains_key(l),
                    })
                })?;
                Ok(response::json(
                    StatusCode::OK,
                    &json!({"NetworksDeleted": removed}),
                ))
            }))
            .await
        }
        Action::Connect(net) | Action::Disconnect(net) => {
            let connect = matches!(parse(call)?, Action::Connect(_));
            let bytes: Bytes = body::collect(body).await?;
            let body: ConnectBody = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            let record = daemon.containers.resolve(&body.container)?;
            let network = svc.get(&net)?;
            if network.driver != Driver::Bridge && connect {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "container cannot be disconnected from host network or connected to host network",
                ));
            }
            let att = body.endpoint_config.unwrap_or_default().attachment()?;
            let _ = body.force;
            let containers = daemon.containers.clone();
            blocking(Box::new(move || {
                if connect {
                    containers.network_connect(&net, &record, att)?;
                } else {
                    containers.network_disconnect(&net, &record)?;
                }
                Ok(response::empty(StatusCode::OK))
            }))
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call;

    #[test]
    fn parses_the_routes() {
        assert!(matches!(
            parse(&test_call(Method::GET, "/networks", "")).expect("list"),
            Action::List(_)
        ));
        assert!(matches!(
            parse(&test_call(Method::GET, "/networks/abc", "")).expect("inspect"),
            Action::Inspect(id) if id == "abc"
        ));
        assert!(matches!(
            parse(&test_call(Method::POST, "/networks/abc/connect", "")).expect("connect"),
            Action::Connect(id) if id == "abc"
        ));
        assert!(matches!(
            parse(&test_call(Method::DELETE, "/networks/abc", "")).expect("rm"),
            Action::Remove(id) if id == "abc"
        ));
        assert!(
            parse(&test_call(
                Method::GET,
                "/networks",
                "filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D"
            ))
            .is_err()
        );
    }

    #[test]
    fn refuses_what_it_does_not_do() {
        let req = |v: Value| create_request(serde_json::from_value(v).expect("body"));
        assert!(req(json!({"Name": "n", "EnableIPv6": true})).is_err());
        assert!(req(json!({"Name": "n", "IPAM": {"Driver": "other"}})).is_err());
        let ok = req(json!({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]}}))
            .expect("ok");
        assert_eq!(ok.subnet, Some("10.9.0.0/24".parse().expect("net")));
        assert_eq!(ok.gateway, Some(Ipv4Addr::new(10, 9, 0, 1)));
        let att = EndpointBody {
            links: Some(vec!["a:b".into()]),
            ..EndpointBody::default()
        }
        .attachment()
        .expect("links");
        assert_eq!(att.links, ["a:b"]);
        let err = EndpointBody {
            links: Some(vec!["a:b:c".into()]),
            ..EndpointBody::default()
        }
        .attachment()
        .expect_err("bad link");
        assert_eq!(err.message, "bad format for links: a:b:c");
    }
}
