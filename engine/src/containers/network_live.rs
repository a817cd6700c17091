//! `docker network connect`/`disconnect` of a container, as dockerd's
//! sandbox does them: the network service's change, then — when the
//! container runs — its `/etc/hosts` and `/etc/resolv.conf` follow.
//!
//! Contracts (moby's `sbJoin`/`sbLeave`, `startResolver`):
//! - a connect of a running container gives `/etc/hosts` a line for the new
//!   address; the first user-defined network it joins switches its
//!   resolv.conf to the embedded server (`127.0.0.11`, forwarding to what
//!   the file named before) and starts that server in its namespace, so it
//!   resolves the other containers by name at once;
//! - a disconnect drops the address from `/etc/hosts`; the resolver keeps
//!   running (as dockerd's does) and the container's names leave every
//!   other container's view at once ([`crate::networks::dns`]);
//! - the files are rewritten in place (same inode): they are bind-mounted
//!   into the container;
//! - `host` and `container:` containers have no files of their own to
//!   change.

use std::path::PathBuf;

use skiff_net::resolvconf;

use super::ContainerService;
use super::error::ContainerError;
use super::etc_files;
use super::network::NetJoin;
use super::record::ContainerRecord;
use crate::networks::connect::NetMode;
use crate::networks::record::Attachment;

impl ContainerService {
    /// Blocking: `docker network connect NETWORK CONTAINER` with `att`.
    pub fn network_connect(
        &self,
        network: &str,
        record: &ContainerRecord,
        att: Attachment,
    ) -> Result<(), ContainerError> {
        let Some(networks) = self.networks() else {
            return Err(ContainerError::InvalidArgument(
                "connecting a container needs the network service".into(),
            ));
        };
        let pid = running_pid(record);
        networks.connect(network, &record.id, &record.name, att, pid)?;
        if pid.is_some() {
            self.refresh_network_files(record)?;
        }
        Ok(())
    }

    /// Blocking: `docker network disconnect NETWORK CONTAINER`.
    pub fn network_disconnect(
        &self,
        network: &str,
        record: &ContainerRecord,
    ) -> Result<(), ContainerError> {
        let Some(networks) = self.networks() else {
            return Err(ContainerError::InvalidArgument(
                "disconnecting a container needs the network service".into(),
            ));
        };
        networks.disconnect(network, &record.id, &record.name)?;
        if running_pid(record).is_some() {
            self.refresh_network_files(record)?;
        }
        Ok(())
    }

    /// Rewrites a running container's `/etc/hosts` for its endpoints now
    /// and, when it has just joined its first user-defined network, its
    /// resolv.conf, starting its embedded server.
    fn refresh_network_files(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let mode = NetMode::parse(record.host_config.network_mode.as_deref());
        if matches!(mode, NetMode::Host | NetMode::Container(_)) {
            return Ok(());
        }
        let Some(networks) = self.networks() else {
            return Ok(());
        };
        let Some(pid) = running_pid(record) else {
            return Ok(());
        };
        let live = networks.live_files(&record.id);
        let pinned = networks.sandbox_key(&record.id);
        let netns = if pinned.exists() {
            pinned
        } else {
            PathBuf::from(format!("/proc/{pid}/ns/net"))
        };
        let switch = live.on_user_network && !live.dns_running;
        let net = NetJoin {
            host: false,
            netns: Some(netns.clone()),
            addresses: live.addresses,
            gateway: live.gateway,
            embedded_dns: live.on_user_network || live.dns_running,
            shared_with: None,
            links: self.legacy_links(record).unwrap_or_default(),
        };
        let dir = self.store.dir(&record.id);
        let io = |e| ContainerError::io(format!("writing {}", dir.display()), e);
        let hostname = record
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| record.short_id().to_owned());
        let hosts = etc_files::hosts_file(
            &record.config,
            &record.host_config,
            &hostname,
            &net,
            self.config.vm_host_ip,
        )?;
        std::fs::write(dir.join("hosts"), hosts).map_err(io)?;
        if !switch {
            return Ok(());
        }
        let overrides = etc_files::overrides(&record.host_config)?;
        let host = std::fs::read_to_string(resolvconf::HOST_PATH).ok();
        let rendered = resolvconf::render(
            host.as_deref(),
            resolvconf::HOST_PATH,
            &overrides,
            etc_files::mode(&net),
        );
        std::fs::write(dir.join("resolv.conf"), &rendered.content).map_err(io)?;
        networks.start_dns(&record.id, &netns, etc_files::dns_setup(&rendered))?;
        Ok(())
    }
}

/// The pid of `record`'s process while it runs.
fn running_pid(record: &ContainerRecord) -> Option<i32> {
    (record.state.status.is_live() && record.state.pid > 0)
        .then(|| i32::try_from(record.state.pid).ok())
        .flatten()
}
