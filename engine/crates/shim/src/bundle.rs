//! Writing an OCI bundle (`config.json`) for the common docker case.
//!
//! [`BundleConfig`] holds what `docker run` usually varies; [`BundleConfig::to_spec`]
//! turns it into a runtime spec with docker's defaults: mount, pid, uts, ipc
//! and network namespaces (the network namespace has only `lo`, which the shim
//! brings up), docker's default capability set, `noNewPrivileges`, docker's
//! masked and read-only paths, `/proc`, a tmpfs `/dev` with devpts, shm and
//! mqueue, read-only `/sys` and cgroup mounts, a deny-all device cgroup (the
//! runtime adds the standard allowed devices) and memory / cpu / pids limits.
//! No rlimits are set: the process inherits the shim's.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use crate::error::{Error, Result};

/// `PATH` given to a process whose environment has none (docker's default).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Docker's masked paths (bind-mounted over with /dev/null or an empty tmpfs).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What varies between containers; everything else is docker's default.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    /// Container id (names the cgroup by default).
    pub id: String,
    /// Root filesystem (e.g. the overlay mount point), absolute or relative
    /// to the bundle directory.
    pub rootfs: PathBuf,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
    /// Command and arguments (`args[0]` is looked up in the env's `PATH`).
    pub args: Vec<String>,
    /// Environment, `KEY=value`; [`DEFAULT_PATH`] is added when there is no `PATH`.
    pub env: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Hostname (needs the uts namespace, which is always new).
    pub hostname: Option<String>,
    /// Give the process a pty instead of pipes.
    pub tty: bool,
    /// Share the host's network namespace instead of a new one with `lo` only.
    pub host_network: bool,
    /// Share the host's pid namespace.
    pub host_pid: bool,
    /// Capabilities (bounding, effective, permitted).
    pub capabilities: Vec<Capability>,
    /// Set `no_new_privs`.
    pub no_new_privileges: bool,
    /// Memory limit in bytes.
    pub memory_limit: Option<i64>,
    /// Memory + swap limit in bytes (-1: unlimited swap).
    pub memory_swap: Option<i64>,
    /// Relative CPU weight (docker's `--cpu-shares`).
    pub cpu_shares: Option<u64>,
    /// CFS quota in µs per period (docker's `--cpus` × period).
    pub cpu_quota: Option<i64>,
    /// CFS period in µs.
    pub cpu_period: Option<u64>,
    /// Maximum number of processes (`--pids-limit`).
    pub pids_limit: Option<i64>,
    /// Cgroup path (default `/skiff/<id>`).
    pub cgroups_path: Option<String>,
    /// More mounts (binds, volumes, tmpfs), after the defaults.
    pub mounts: Vec<Mount>,
    /// Annotations.
    pub annotations: HashMap<String, String>,
}

impl BundleConfig {
    /// A config with docker's defaults for `args` in `rootfs`.
    pub fn new(id: impl Into<String>, rootfs: impl Into<PathBuf>, args: Vec<String>) -> Self {
        BundleConfig {
            id: id.into(),
            rootfs: rootfs.into(),
            readonly_rootfs: false,
            args,
            env: Vec::new(),
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            hostname: None,
            tty: false,
            host_network: false,
            host_pid: false,
            capabilities: DEFAULT_CAPABILITIES.to_vec(),
            no_new_privileges: true,
            memory_limit: None,
            memory_swap: None,
            cpu_shares: None,
            cpu_quota: None,
            cpu_period: None,
            pids_limit: None,
            cgroups_path: None,
            mounts: Vec::new(),
            annotations: HashMap::new(),
        }
    }

    fn spec_err(&self, e: impl std::fmt::Display) -> Error {
        Error::Spec {
            id: self.id.clone(),
            message: e.to_string(),
        }
    }

    /// The runtime spec.
    pub fn to_spec(&self) -> Result<Spec> {
        crate::paths::validate_id(&self.id).map_err(|reason| Error::InvalidId {
            id: self.id.clone(),
            reason,
        })?;
        if self.args.is_empty() {
            return Err(self.spec_err("no command given"));
        }
        if !self.cwd.starts_with('/') {
            return Err(self.spec_err(format!("working directory {:?} is not absolute", self.cwd)));
        }

        let mut env = self.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_owned());
        }
        let caps: HashSet<Capability> = self.capabilities.iter().copied().collect();
        let capabilities = LinuxCapabilitiesBuilder::default()
            .bounding(caps.clone())
            .effective(caps.clone())
            .permitted(caps)
            .build()
            .map_err(|e| self.spec_err(e))?;
        let mut capabilities = capabilities;
        capabilities.set_inheritable(None);
        capabilities.set_ambient(None);

        let mut user = UserBuilder::default()
            .uid(self.uid)
            .gid(self.gid)
            .build()
            .map_err(|e| self.spec_err(e))?;
        if !self.additional_gids.is_empty() {
            user.set_additional_gids(Some(self.additional_gids.clone()));
        }

        let mut process = ProcessBuilder::default()
            .terminal(self.tty)
            .user(user)
            .args(self.args.clone())
            .env(env)
            .cwd(self.cwd.clone())
            .capabilities(capabilities)
            .no_new_privileges(self.no_new_privileges)
            .build()
            .map_err(|e| self.spec_err(e))?;
        // The builder starts from oci-spec's defaults, which set RLIMIT_NOFILE.
        process.set_rlimits(None);
        process.set_console_size(None);

        let mut namespaces = vec![
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Ipc,
        ];
        if !self.host_pid {
            namespaces.push(LinuxNamespaceType::Pid);
        }
        if !self.host_network {
            namespaces.push(LinuxNamespaceType::Network);
        }
        let namespaces = namespaces
            .into_iter()
            .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.spec_err(e))?;

        let mut resources = LinuxResourcesBuilder::default().devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .map_err(|e| self.spec_err(e))?,
        ]);
        if self.memory_limit.is_some() || self.memory_swap.is_some() {
            let mut memory = LinuxMemoryBuilder::default();
            if let Some(limit) = self.memory_limit {
                memory = memory.limit(limit);
            }
            if let Some(swap) = self.memory_swap {
                memory = memory.swap(swap);
            }
            resources = resources.memory(memory.build().map_err(|e| self.spec_err(e))?);
        }
        if self.cpu_shares.is_some() || self.cpu_quota.is_some() || self.cpu_period.is_some() {
            let mut cpu = LinuxCpuBuilder::default();
            if let Some(shares) = self.cpu_shares {
                cpu = cpu.shares(shares);
            }
            if let Some(quota) = self.cpu_quota {
                cpu = cpu.quota(quota);
            }
            if let Some(period) = self.cpu_period {
                cpu = cpu.period(period);
            }
            resources = resources.cpu(cpu.build().map_err(|e| self.spec_err(e))?);
        }
        if let Some(limit) = self.pids_limit {
            resources = resources.pids(
                LinuxPidsBuilder::default()
                    .limit(limit)
                    .build()
                    .map_err(|e| self.spec_err(e))?,
            );
        }
        let resources = resources.build().map_err(|e| self.spec_err(e))?;

        let cgroups_path = self
            .cgroups_path
            .clone()
            .unwrap_or_else(|| format!("/skiff/{}", self.id));
        let linux = LinuxBuilder::default()
            .namespaces(namespaces)
            .resources(resources)
            .cgroups_path(PathBuf::from(cgroups_path))
            .masked_paths(
                MASKED_PATHS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect::<Vec<_>>(),
            )
            .readonly_paths(
                READONLY_PATHS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect::<Vec<_>>(),
            )
            .build()
            .map_err(|e| self.spec_err(e))?;

        let mut mounts = default_mounts().map_err(|e| self.spec_err(e))?;
        mounts.extend(self.mounts.iter().cloned());

        let root = RootBuilder::default()
            .path(self.rootfs.clone())
            .readonly(self.readonly_rootfs)
            .build()
            .map_err(|e| self.spec_err(e))?;

        let mut spec = SpecBuilder::default()
            .version("1.0.2")
            .root(root)
            .process(process)
            .mounts(mounts)
            .linux(linux)
            .build()
            .map_err(|e| self.spec_err(e))?;
        spec.set_hostname(self.hostname.clone());
        spec.set_annotations(if self.annotations.is_empty() {
            None
        } else {
            Some(self.annotations.clone())
        });
        Ok(spec)
    }

    /// Writes `<bundle_dir>/config.json` (creating the directory); returns
    /// its path.
    pub fn write(&self, bundle_dir: &Path) -> Result<PathBuf> {
        let spec = self.to_spec()?;
        std::fs::create_dir_all(bundle_dir).map_err(|source| Error::File {
            op: "create",
            path: bundle_dir.to_path_buf(),
            source,
        })?;
        let path = bundle_dir.join("config.json");
        let json = serde_json::to_vec_pretty(&spec).map_err(|e| self.spec_err(e))?;
        crate::paths::write_atomic(&path, &json).map_err(|source| Error::File {
            op: "write",
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// A bind mount of `source` on `destination` (`rbind`, private).
pub fn bind_mount(
    source: impl Into<PathBuf>,
    destination: impl Into<PathBuf>,
    readonly: bool,
) -> Result<Mount, oci_spec::OciSpecError> {
    let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
    options.push(if readonly { "ro" } else { "rw" }.to_owned());
    MountBuilder::default()
        .destination(destination.into())
        .typ("bind")
        .source(source.into())
        .options(options)
        .build()
}

fn mount(
    destination: &str,
    typ: &str,
    source: &str,
    options: &[&str],
) -> Result<Mount, oci_spec::OciSpecError> {
    MountBuilder::default()
        .destination(PathBuf::from(destination))
        .typ(typ)
        .source(PathBuf::from(source))
        .options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .build()
}

/// Docker's default mounts.
pub fn default_mounts() -> Result<Vec<Mount>, oci_spec::OciSpecError> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_has_docker_defaults() -> Result<()> {
        let mut cfg = BundleConfig::new("c1", "/rootfs", vec!["sh".into()]);
        cfg.memory_limit = Some(64 << 20);
        cfg.pids_limit = Some(100);
        cfg.hostname = Some("box".into());
        let spec = cfg.to_spec()?;
        let json = serde_json::to_value(&spec).map_err(|e| cfg.spec_err(e))?;
        let process = &json["process"];
        assert!(process.get("rlimits").is_none(), "no rlimits: {process}");
        assert_eq!(process["noNewPrivileges"], true);
        assert_eq!(process["env"][0], DEFAULT_PATH);
        let bounding = process["capabilities"]["bounding"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(bounding, 14);
        assert_eq!(json["hostname"], "box");
        assert_eq!(json["linux"]["cgroupsPath"], "/skiff/c1");
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], 100);
        assert_eq!(
            json["linux"]["maskedPaths"].as_array().map(Vec::len),
            Some(11)
        );
        let ns: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(ns, ["mount", "uts", "ipc", "pid", "network"]);
        let dests: Vec<&str> = json["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_input() {
        assert!(BundleConfig::new("c1", "/r", vec![]).to_spec().is_err());
        assert!(
            BundleConfig::new("bad/id", "/r", vec!["sh".into()])
                .to_spec()
                .is_err()
        );
    }
}
