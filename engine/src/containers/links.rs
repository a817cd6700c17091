//! Legacy links (`docker run --link TARGET[:ALIAS]`) on the default bridge,
//! as dockerd keeps them (moby's `registerLinks`, `setupLinkedContainers`,
//! `daemon/links`).
//!
//! Contracts:
//! - at create ([`ContainerService::register_links`]) every link names an
//!   existing container (else 400 `could not get container for NAME`), the
//!   container is not on `host` or `container:` networking (dockerd's
//!   conflict errors), and `HostConfig.Links` is stored as dockerd shows it:
//!   `/TARGET:/NAME/ALIAS`. A container on a user-defined network keeps its
//!   links as given (dockerd registers none there);
//! - at start on the default bridge ([`ContainerService::legacy_links`])
//!   every target must run (`Cannot link to a non running container: /T AS
//!   /NAME/ALIAS`) and be on the default bridge; the container then gets
//!   one `/etc/hosts` line per link (`IP ALIAS HOSTNAME [TARGET]`) and the
//!   link's environment ([`env_vars`]), which its own `Env` overrides.

use bollard_stubs::models::{ContainerConfig, HostConfig};
use skiff_net::hosts;

use super::ContainerService;
use super::error::ContainerError;
use super::record::ContainerRecord;
use crate::networks::BRIDGE;
use crate::networks::connect::NetMode;

/// What a start on the default bridge gets from its links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSetup {
    /// `/etc/hosts` records, in link order.
    pub hosts: Vec<hosts::Record>,
    /// Environment variables, in link order.
    pub env: Vec<String>,
}

/// dockerd's `ParseLink`: `NAME`, `NAME:ALIAS`, or the stored
/// `/NAME:/PARENT/ALIAS` form; `(target name, alias)`.
pub fn parse_link(link: &str) -> Result<(String, String), ContainerError> {
    if link.is_empty() {
        return Err(ContainerError::InvalidArgument(
            "empty string specified for links".into(),
        ));
    }
    let parts: Vec<&str> = link.split(':').collect();
    match parts[..] {
        [name] => Ok((name.to_owned(), name.to_owned())),
        [name, alias] => match name.strip_prefix('/') {
            Some(stored) => {
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                Ok((stored.to_owned(), alias.to_owned()))
            }
            None => Ok((name.to_owned(), alias.to_owned())),
        },
        _ => Err(ContainerError::InvalidArgument(format!(
            "bad format for links: {link}"
        ))),
    }
}

/// The environment dockerd gives a container for a link named `name`
/// (`/PARENT/ALIAS`) to a target at `child_ip` with `child_env` and
/// `exposed` ports (`80/tcp`…): `ALIAS_PORT…`, `ALIAS_NAME`,
/// `ALIAS_ENV_…` (without `HOME` and `PATH`). `ALIAS` is upper case with
/// `-` as `_`; ports are sorted TCP first, and a run of consecutive ports
/// also gets `…_START`/`…_END` variables.
pub fn env_vars(
    name: &str,
    child_ip: &str,
    child_env: &[String],
    exposed: &[String],
) -> Vec<String> {
    let alias = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_uppercase()
        .replace('-', "_");
    let mut ports: Vec<(u16, String)> = exposed
        .iter()
        .filter_map(|p| {
            let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some((num.parse().ok()?, proto.to_lowercase()))
        })
        .collect();
    ports.sort_by(|a, b| (a.1 != "tcp", &a.1, a.0).cmp(&(b.1 != "tcp", &b.1, b.0)));
    let mut env = Vec::new();
    let mut start: Option<(u16, String)> = None;
    let mut end: Option<(u16, String)> = None;
    for (i, (num, proto)) in ports.iter().enumerate() {
        if i == 0 {
            start = Some((*num, proto.clone()));
            end = start.clone();
            env.push(format!("{alias}_PORT={proto}://{child_ip}:{num}"));
        }
        let up = proto.to_uppercase();
        let prefix = format!("{alias}_PORT_{num}_{up}");
        env.push(format!("{prefix}={proto}://{child_ip}:{num}"));
        env.push(format!("{prefix}_ADDR={child_ip}"));
        env.push(format!("{prefix}_PORT={num}"));
        env.push(format!("{prefix}_PROTO={proto}"));
        if let Some((e, ep)) = &end
            && *num == e + 1
            && proto == ep
        {
            end = Some((*num, proto.clone()));
            if i < ports.len() - 1 {
                continue;
            }
        }
        if let (Some((s, sp)), Some((e, ep))) = (&start, &end)
            && (s, sp) != (e, ep)
        {
            let prefix = format!("{alias}_PORT_{s}_{}", sp.to_uppercase());
            env.push(format!("{prefix}_START={sp}://{child_ip}:{s}"));
            env.push(format!("{prefix}_PORT_START={s}"));
            env.push(format!("{prefix}_END={ep}://{child_ip}:{e}"));
            env.push(format!("{prefix}_PORT_END={e}"));
        }
        start = Some((*num, proto.clone()));
        end = start.clone();
    }
    env.push(format!("{alias}_NAME={name}"));
    for v in child_env {
        let Some((k, val)) = v.split_once('=') else {
            continue;
        };
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{alias}_ENV_{k}={val}"));
    }
    env
}

/// `env` with `links` added after its first entry (`HOSTNAME`), each
/// unless `env` sets the variable itself (dockerd's
/// `ReplaceOrAppendEnvValues`: the container's own `Env` wins).
pub fn merge_env(env: &mut Vec<String>, links: &[String]) {
    let key = |v: &str| v.split_once('=').map_or(v, |(k, _)| k).to_owned();
    let own: std::collections::HashSet<String> = env.iter().map(|v| key(v)).collect();
    let at = env.len().min(1);
    let add: Vec<String> = links
        .iter()
        .filter(|v| !own.contains(&key(v)))
        .cloned()
        .collect();
    env.splice(at..at, add);
}

fn bare(name: &str) -> &str {
    name.trim_start_matches('/')
}

impl ContainerService {
    /// At create of container `name`: checks `host.links` and stores them
    /// as dockerd shows them (see the module docs).
    pub(super) fn register_links(
        &self,
        name: &str,
        host: &mut HostConfig,
    ) -> Result<(), ContainerError> {
        let Some(links) = host.links.as_ref().filter(|l| !l.is_empty()) else {
            return Ok(());
        };
        let host_conflict = || {
            ContainerError::InvalidArgument(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
            )
        };
        match NetMode::parse(host.network_mode.as_deref()) {
            NetMode::Host => return Err(host_conflict()),
            NetMode::Container(_) => {
                return Err(ContainerError::InvalidArgument(
                    "conflicting options: container type network can't be used with links. This would result in undefined behavior".into(),
                ));
            }
            NetMode::Network(_) => return Ok(()),
            NetMode::Bridge | NetMode::None => {}
        }
        let mut stored = Vec::with_capacity(links.len());
        for link in links {
            let (target, alias) = parse_link(link)?;
            let child = self.store.resolve(&target).map_err(|e| match e {
                ContainerError::NotFound(_) => ContainerError::InvalidArgument(format!(
                    "could not get container for {target}: {e}"
                )),
                e => e,
            })?;
            if NetMode::parse(child.host_config.network_mode.as_deref()) == NetMode::Host {
                return Err(host_conflict());
            }
            stored.push(format!("/{}:/{}/{alias}", bare(&child.name), bare(name)));
        }
        host.links = Some(stored);
        Ok(())
    }

    /// Blocking, at start after the join: the hosts records and
    /// environment of `record`'s links when it is on the default bridge
    /// (see the module docs).
    pub(super) fn legacy_links(
        &self,
        record: &ContainerRecord,
    ) -> Result<LinkSetup, ContainerError> {
        let mut out = LinkSetup::default();
        let Some(links) = record.host_config.links.as_ref().filter(|l| !l.is_empty()) else {
            return Ok(out);
        };
        if NetMode::parse(record.host_config.network_mode.as_deref()) != NetMode::Bridge {
            return Ok(out);
        }
        let Some(networks) = self.networks() else {
            return Ok(out);
        };
        for link in links {
            let (target, alias) = parse_link(link)?;
            let link_name = format!("/{}/{alias}", bare(&record.name));
            let child = self.store.resolve(&target)?;
            let settings = networks.settings(&child.id);
            let Some(on_bridge) = settings.networks.get(BRIDGE) else {
                return Err(ContainerError::InvalidArgument(format!(
                    "Cannot link to /{}, as it does not belong to the default network",
                    bare(&child.name)
                )));
            };
            if !child.state.status.is_live() {
                return Err(ContainerError::InvalidArgument(format!(
                    "Cannot link to a non running container: /{} AS {link_name}",
                    bare(&child.name)
                )));
            }
            let ip = on_bridge.endpoint.as_ref().map(|e| e.ip).ok_or_else(|| {
                ContainerError::InvalidArgument(format!(
                    "container {} not attached to default bridge network",
                    child.id
                ))
            })?;
            let hostname = child
                .config
                .hostname
                .clone()
                .unwrap_or_else(|| child.short_id().to_owned());
            out.hosts.push(hosts::link_record(
                std::net::IpAddr::V4(ip),
                &alias,
                &hostname,
                bare(&child.name),
            ));
            out.env.extend(env_vars(
                &link_name,
                &ip.to_string(),
                child.config.env.as_deref().unwrap_or_default(),
                &exposed(&child.config),
            ));
        }
        Ok(out)
    }
}

impl ContainerService {
    /// `docker rm --link PARENT/ALIAS` (`DELETE /containers/PARENT/ALIAS?link=1`),
    /// as dockerd's `rmLink`: the link `ALIAS` goes from `PARENT`'s
    /// `HostConfig.Links` (persisted; the container itself stays). A name
    /// without a parent is refused if the container exists (500, dockerd's
    /// wording); an unknown parent or alias is `No such container:
    /// PARENT/ALIAS` (404), as dockerd finds no container by that link name.
    /// A running parent keeps its `/etc/hosts` until its next start.
    pub fn remove_link(&self, name: &str) -> Result<(), ContainerError> {
        let full = bare(name);
        let Some((parent, alias)) = full.rsplit_once('/') else {
            self.resolve(full)?;
            return Err(ContainerError::Runtime(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        };
        let not_found = || ContainerError::NotFound(full.to_owned());
        let record = self.store.resolve(parent).map_err(|e| match e {
            ContainerError::NotFound(_) => not_found(),
            e => e,
        })?;
        // The link name is the parent's *name*, not an id prefix.
        if bare(&record.name) != parent {
            return Err(not_found());
        }
        let links = record.host_config.links.clone().unwrap_or_default();
        let kept: Vec<String> = links
            .iter()
            .filter(|l| parse_link(l).map_or(true, |(_, a)| a != alias))
            .cloned()
            .collect();
        if kept.len() == links.len() {
            return Err(not_found());
        }
        self.update(&record.id, |r| r.host_config.links = Some(kept.clone()))?;
        Ok(())
    }
}

fn exposed(config: &ContainerConfig) -> Vec<String> {
    config.exposed_ports.iter().flatten().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_links_as_dockerd() {
        let p = |s: &str| parse_link(s).expect(s);
        assert_eq!(p("web"), ("web".into(), "web".into()));
        assert_eq!(p("web:w"), ("web".into(), "w".into()));
        assert_eq!(p("/web:/client/w"), ("web".into(), "w".into()));
        assert!(parse_link("").is_err());
        assert!(parse_link("a:b:c").is_err());
    }

    #[test]
    fn env_vars_match_moby_links() {
        let env = env_vars(
            "/client/my-db",
            "172.17.0.2",
            &["PATH=/bin".into(), "PASSWORD=x=y".into()],
            &["5433/tcp".into(), "53/udp".into(), "5432/tcp".into()],
        );
        assert_eq!(
            env,
            [
                "MY_DB_PORT=tcp://172.17.0.2:5432",
                "MY_DB_PORT_5432_TCP=tcp://172.17.0.2:5432",
                "MY_DB_PORT_5432_TCP_ADDR=172.17.0.2",
                "MY_DB_PORT_5432_TCP_PORT=5432",
                "MY_DB_PORT_5432_TCP_PROTO=tcp",
                "MY_DB_PORT_5433_TCP=tcp://172.17.0.2:5433",
                "MY_DB_PORT_5433_TCP_ADDR=172.17.0.2",
                "MY_DB_PORT_5433_TCP_PORT=5433",
                "MY_DB_PORT_5433_TCP_PROTO=tcp",
                "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_5432_TCP_START=tcp://172.17.0.2:5432",
                "MY_DB_PORT_5432_TCP_PORT_START=5432",
                "MY_DB_PORT_5432_TCP_END=tcp://172.17.0.2:5433",
                "MY_DB_PORT_5432_TCP_PORT_END=5433",
                "MY_DB_NAME=/client/my-db",
                "MY_DB_ENV_PASSWORD=x=y",
            ]
        );
    }

    #[test]
    fn own_env_wins_over_link_env() {
        let mut env = vec!["HOSTNAME=h".to_owned(), "W_NAME=mine".to_owned()];
        merge_env(&mut env, &["W_NAME=/c/w".into(), "W_PORT=tcp://x:1".into()]);
        assert_eq!(env, ["HOSTNAME=h", "W_PORT=tcp://x:1", "W_NAME=mine"]);
    }
}
