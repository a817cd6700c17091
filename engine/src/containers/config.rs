//! The container service's settings, fixed when it opens (from the
//! daemon's flags): each service has its own, so two services in one
//! process never share them.

use std::sync::OnceLock;

use bollard_stubs::models::HostConfigCgroupnsModeEnum;

use super::spec::InitConfig;

/// What `ContainerService::open` is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// `--init` / `--init-path`.
    pub init: InitConfig,
    /// The cgroup namespace mode of containers that ask for none
    /// (`--default-cgroupns-mode`, else [`default_cgroupns`] for this host).
    pub default_cgroupns: HostConfigCgroupnsModeEnum,
    /// The parent cgroup of containers that name none (`--cgroup-parent`,
    /// normalised; [`super::cgroups::DEFAULT_PARENT`] by default).
    pub cgroup_parent: String,
    /// In Skiff's VM (`--vm`): the host folders shared into it
    /// (`--host-share`); a bind outside them is checked by
    /// [`crate::mounts::HostShares::check`]. `None` on any other host.
    pub host_shares: Option<crate::mounts::HostShares>,
    /// In Skiff's VM (`--vm-host-ip`): the host's address, named
    /// `host.docker.internal` and `gateway.docker.internal` in every
    /// container's `/etc/hosts` and the value of `host-gateway`.
    pub vm_host_ip: Option<std::net::IpAddr>,
}

impl ContainerConfig {
    /// The settings from dockerd's flags: `--init`/`--init-path`, and
    /// `--default-cgroupns-mode` (`Some(true)`: private, `Some(false)`:
    /// host, `None`: this host's default).
    pub fn new(init: InitConfig, default_cgroupns_private: Option<bool>) -> Self {
        let default_cgroupns = match default_cgroupns_private {
            Some(true) => HostConfigCgroupnsModeEnum::PRIVATE,
            Some(false) => HostConfigCgroupnsModeEnum::HOST,
            None => default_cgroupns(host_is_unified()),
        };
        Self {
            init,
            default_cgroupns,
            cgroup_parent: super::cgroups::DEFAULT_PARENT.to_owned(),
            host_shares: None,
            vm_host_ip: None,
        }
    }

    /// With `parent` (normalised) as the parent cgroup of containers that
    /// name none.
    pub fn with_cgroup_parent(mut self, parent: String) -> Self {
        self.cgroup_parent = parent;
        self
    }

    /// Running in Skiff's VM with `shares` shared from the host.
    pub fn with_host_shares(mut self, shares: crate::mounts::HostShares) -> Self {
        self.host_shares = Some(shares);
        self
    }

    /// With `ip` as the host's address seen from Skiff's VM.
    pub fn with_vm_host_ip(mut self, ip: Option<std::net::IpAddr>) -> Self {
        self.vm_host_ip = ip;
        self
    }
}

impl Default for ContainerConfig {
    /// No init by default, this host's cgroup namespace default.
    fn default() -> Self {
        Self::new(InitConfig::default(), None)
    }
}

/// Docker's default cgroup namespace mode: `private` on a cgroup v2 host
/// (`/sys/fs/cgroup` is the unified hierarchy), `host` on a v1 or hybrid
/// one, where a private namespace would hide nothing useful and old
/// tools expect the host's paths.
pub fn default_cgroupns(unified: bool) -> HostConfigCgroupnsModeEnum {
    if unified {
        HostConfigCgroupnsModeEnum::PRIVATE
    } else {
        HostConfigCgroupnsModeEnum::HOST
    }
}

/// Whether `/sys/fs/cgroup` is a cgroup2 mount (dockerd's
/// `IsCgroup2UnifiedMode`), probed once (a fact of the host, not a
/// setting).
pub fn host_is_unified() -> bool {
    static UNIFIED: OnceLock<bool> = OnceLock::new();
    *UNIFIED.get_or_init(|| {
        nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    })
}
