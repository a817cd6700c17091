//! `docker network ls` and `docker network inspect`: views of networks
//! with their endpoints, and docker's list filters.

use super::record::{ContainerNet, Endpoint, NetworkRecord};
use super::{NetworkError, NetworkService};

/// A network with the containers that have an endpoint on it.
#[derive(Debug, Clone)]
pub struct NetworkView {
    /// The network.
    pub network: NetworkRecord,
    /// `(container id, container name, endpoint)`, by container id.
    pub endpoints: Vec<(String, String, Endpoint)>,
}

/// docker's `network ls` filters; empty lists match everything. Within a
/// key any value may match; all keys must.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `name=`: substring of the name.
    pub names: Vec<String>,
    /// `id=`: prefix of the id.
    pub ids: Vec<String>,
    /// `driver=`: exact driver.
    pub drivers: Vec<String>,
    /// `label=KEY` or `label=KEY=VALUE`.
    pub labels: Vec<String>,
    /// `type=custom|builtin`.
    pub types: Vec<String>,
    /// `dangling=true|false`: user networks with no endpoint (or not).
    pub dangling: Option<bool>,
    /// `scope=local` (every network here is local).
    pub scopes: Vec<String>,
}

impl ListFilter {
    fn matches(&self, view: &NetworkView) -> bool {
        let n = &view.network;
        let any = |vals: &[String], f: &dyn Fn(&str) -> bool| {
            vals.is_empty() || vals.iter().any(|v| f(v))
        };
        any(&self.names, &|v| n.name.contains(v))
            && any(&self.ids, &|v| n.id.starts_with(v))
            && any(&self.drivers, &|v| v == n.driver.as_str())
            && any(&self.scopes, &|v| v == "local")
            && any(&self.types, &|v| match v {
                "builtin" => n.predefined,
                _ => !n.predefined,
            })
            && self.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                None => n.labels.contains_key(l),
            })
            && self
                .dangling
                .is_none_or(|d| d == (!n.predefined && view.endpoints.is_empty()))
    }
}

fn view(
    n: &NetworkRecord,
    containers: &std::collections::BTreeMap<String, ContainerNet>,
) -> NetworkView {
    NetworkView {
        network: n.clone(),
        endpoints: containers
            .iter()
            .filter_map(|(id, c)| {
                c.endpoints
                    .get(&n.id)
                    .map(|e| (id.clone(), c.name.clone(), e.clone()))
            })
            .collect(),
    }
}

impl NetworkService {
    /// The networks `filter` matches, by name.
    pub fn list(&self, filter: &ListFilter) -> Vec<NetworkView> {
        let st = self.view();
        let mut out: Vec<NetworkView> = st
            .networks
            .values()
            .map(|n| view(n, &st.containers))
            .filter(|v| filter.matches(v))
            .collect();
        out.sort_by(|a, b| a.network.name.cmp(&b.network.name));
        out
    }

    /// The network `what` names, with its endpoints.
    pub fn inspect(&self, what: &str) -> Result<NetworkView, NetworkError> {
        let st = self.view();
        let n = Self::find(&st, what)?;
        Ok(view(n, &st.containers))
    }
}
