//! A container's networking, as the container service asks it of the
//! network service: attachments at create, the namespace and endpoints at
//! start, their release at exit and removal. Without a network service
//! (unit tests of the lifecycle) a container gets a namespace with `lo`
//! only and published ports are refused.

use std::path::PathBuf;
use std::sync::Arc;

use bollard_stubs::models::{ContainerConfig, HostConfig};

use super::ContainerService;
use super::error::ContainerError;
use super::record::ContainerRecord;
use crate::networks::connect::NetMode;
use crate::networks::ports::{self, PortSpec};
use crate::networks::record::Attachment;
use crate::networks::{NetworkError, NetworkService};

/// What a start needs to put in the bundle.
#[derive(Debug, Clone, Default)]
pub struct NetJoin {
    /// Share the daemon's namespace (`--network host`).
    pub host: bool,
    /// Join this namespace (a bridge endpoint's, or `container:`'s).
    pub netns: Option<PathBuf>,
    /// The container's addresses, for `/etc/hosts`.
    pub addresses: Vec<std::net::Ipv4Addr>,
    /// The first network's gateway (`host-gateway`).
    pub gateway: Option<std::net::Ipv4Addr>,
    /// On a user-defined network: the embedded DNS server.
    pub embedded_dns: bool,
    /// `container:<id>`: the container (id) whose namespace, hostname and
    /// `/etc` files this one shares, as dockerd does.
    pub shared_with: Option<String>,
    /// Legacy links on the default bridge: `/etc/hosts` records and
    /// environment ([`super::links`]).
    pub links: super::links::LinkSetup,
}

impl ContainerService {
    /// Gives the service its network service (once, at daemon open).
    ///
    /// The network entries of containers that no longer exist are dropped
    /// first: a removal whose network write failed (a full disk) or was cut
    /// by a crash leaves one behind.
    pub fn set_networks(&self, networks: Arc<NetworkService>) {
        let known: std::collections::HashSet<String> =
            self.store.all().into_iter().map(|r| r.id).collect();
        networks.retain_containers(|id| known.contains(id));
        let _ = self.networks.set(networks);
    }

    /// The network service, if set.
    pub fn networks(&self) -> Option<&Arc<NetworkService>> {
        self.networks.get()
    }

    /// At create: checks the network mode, `NetworkingConfig` (`extra`)
    /// and published ports against dockerd's rules and records the
    /// container's attachments. Returns docker's warnings.
    pub(super) fn network_create(
        &self,
        id: &str,
        name: &str,
        host: &HostConfig,
        config: &ContainerConfig,
        extra: Vec<(String, Attachment)>,
    ) -> Result<Vec<String>, ContainerError> {
        let mode = NetMode::parse(host.network_mode.as_deref());
        let wants_ports = !ports::requested(host, config)?.is_empty();
        let Some(networks) = self.networks() else {
            if wants_ports {
                return Err(ContainerError::InvalidArgument(
                    "publishing ports needs the network service".into(),
                ));
            }
            return Ok(vec![]);
        };
        let mut warnings = Vec::new();
        match &mode {
            NetMode::Container(other) => {
                if wants_ports {
                    return Err(NetworkError::Invalid(
                        "conflicting options: port publishing and the container type network mode"
                            .into(),
                    )
                    .into());
                }
                self.store.resolve(other)?;
            }
            NetMode::Host if wants_ports => {
                warnings.push("Published ports are discarded when using host network mode".into());
            }
            _ => {}
        }
        networks.attach_container(id, name, &mode, extra)?;
        Ok(warnings)
    }

    /// Blocking, at start: the container's namespace and endpoints.
    pub(super) fn network_join(&self, record: &ContainerRecord) -> Result<NetJoin, ContainerError> {
        let mode = NetMode::parse(record.host_config.network_mode.as_deref());
        match mode {
            NetMode::Host => {
                return Ok(NetJoin {
                    host: true,
                    ..NetJoin::default()
                });
            }
            NetMode::Container(other) => {
                let other = self.store.resolve(&other)?;
                if !other.state.status.is_live() || other.state.pid <= 0 {
                    return Err(ContainerError::Conflict(format!(
                        "cannot join network of a non running container: {}",
                        other.id
                    )));
                }
                return Ok(NetJoin {
                    netns: Some(PathBuf::from(format!("/proc/{}/ns/net", other.state.pid))),
                    shared_with: Some(other.id),
                    ..NetJoin::default()
                });
            }
            NetMode::None | NetMode::Bridge | NetMode::Network(_) => {}
        }
        let Some(networks) = self.networks() else {
            return Ok(NetJoin::default());
        };
        let ports: Vec<PortSpec> = if mode == NetMode::None {
            Vec::new()
        } else {
            ports::requested(&record.host_config, &record.config)?
        };
        let joined = networks.join(&record.id, &ports)?;
        let links = self.legacy_links(record)?;
        Ok(NetJoin {
            host: false,
            netns: joined.netns,
            addresses: joined.addresses,
            gateway: joined.gateway,
            embedded_dns: joined.embedded_dns,
            shared_with: None,
            links,
        })
    }

    /// Blocking: releases the container's endpoints and ports (after its
    /// exit, or a failed start). Idempotent.
    pub(super) fn network_leave(&self, id: &str) {
        if let Some(n) = self.networks() {
            n.leave(id);
        }
    }

    /// Blocking: forgets the container's attachments (at its removal).
    pub(super) fn network_forget(&self, id: &str) {
        if let Some(n) = self.networks() {
            n.remove_container(id);
        }
    }
}
