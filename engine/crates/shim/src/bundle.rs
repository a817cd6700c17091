//! Writing an OCI bundle (`config.json`) for the common docker case.
//!
//! [`BundleConfig`] holds what `docker run` usually varies; [`BundleConfig::to_spec`]
//! turns it into a runtime spec with docker's defaults: mount, pid, uts, ipc
//! and network namespaces (the network namespace has only `lo`, which the shim
//! brings up), docker's default capability set, `noNewPrivileges`, docker's
//! masked and read-only paths, `/proc`, a tmpfs `/dev` with devpts, shm and
//! mqueue, read-only `/sys` and cgroup mounts, a deny-all device cgroup (the
//! runtime adds the standard allowed devices), docker's default seccomp
//! profile ([`crate::seccomp`]) and memory / cpu / pids limits. A
//! privileged bundle has every capability, no seccomp filter, no masked or
//! read-only paths, writable `/sys`, and the host's devices.
//! No rlimits are set: the process inherits the shim's.
//! [`BundleConfig::write`] also stores the seccomp filter compiled to BPF
//! (once per distinct filter in the process) beside `config.json`, for the
//! shim to load ([`crate::seccomp::bpf`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBlockIoBuilder, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDevice, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::error::{Error, FileError, Result};
use crate::seccomp::{Profile, Target, bpf};

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

/// Every capability, in the kernel's numbering (bit `n` of `CapBnd` is
/// `ALL_CAPABILITIES[n]`).
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// Every capability this process can pass on: its bounding set (a sandbox
/// may lack some), what dockerd's `GetAllCapabilities` gives `--privileged`.
pub fn all_capabilities() -> Vec<Capability> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .map(|(_, cap)| *cap)
        .collect()
}

/// A capability by docker's name: any case, with or without `CAP_`.
pub fn parse_capability(name: &str) -> Option<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .unwrap_or(&upper)
        .parse::<Capability>()
        .ok()
}

/// Directories of `/dev` whose nodes a privileged container does not get
/// (runc's list): the container has its own.
const SKIPPED_DEV_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// The host's character and block devices under `/dev` (but `/dev/console`
/// and the directories the container has its own of), for `--privileged`.
pub fn host_devices() -> Vec<LinuxDevice> {
    let mut out = Vec::new();
    collect_devices(Path::new("/dev"), &mut out);
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

fn collect_devices(dir: &Path, out: &mut Vec<LinuxDevice>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            let name = entry.file_name();
            if !SKIPPED_DEV_DIRS.iter().any(|d| name == *d) {
                collect_devices(&path, out);
            }
            continue;
        }
        let typ = if ft.is_char_device() {
            oci_spec::runtime::LinuxDeviceType::C
        } else if ft.is_block_device() {
            oci_spec::runtime::LinuxDeviceType::B
        } else {
            continue;
        };
        if path == Path::new("/dev/console") {
            continue;
        }
        let rdev = meta.rdev();
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
        let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
        let device = oci_spec::runtime::LinuxDeviceBuilder::default()
            .path(path.clone())
            .typ(typ)
            .major(major as i64)
            .minor(minor as i64)
            .file_mode(meta.permissions().mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build();
        if let Ok(device) = device {
            out.push(device);
        }
    }
}

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
    /// NIS domain name (`--domainname`; the uts namespace too).
    pub domainname: Option<String>,
    /// Give the process a pty instead of pipes.
    pub tty: bool,
    /// Share the host's network namespace instead of a new one with `lo` only.
    pub host_network: bool,
    /// Join this network namespace (a `/proc/PID/ns/net` or a pinned or
    /// `/proc/PID/fd/N` namespace file) instead of making a new one; set
    /// up beforehand by skiffd (a bridge endpoint, `container:<id>`).
    /// Ignored when [`Self::host_network`] is set.
    pub network_ns: Option<PathBuf>,
    /// Share the host's pid namespace.
    pub host_pid: bool,
    /// A new cgroup namespace (docker's `--cgroupns private`): the container
    /// sees its own cgroup as `/`, and its cgroup2 mount cannot change the
    /// host's (in the initial cgroup namespace every cgroup2 mount
    /// re-applies the root's mount options).
    pub cgroup_ns: bool,
    /// Capabilities (bounding, effective, permitted).
    pub capabilities: Vec<Capability>,
    /// Set `no_new_privs` (docker's `--security-opt no-new-privileges`).
    pub no_new_privileges: bool,
    /// The seccomp profile, resolved against [`Self::capabilities`]
    /// (`None`: unconfined).
    pub seccomp: Option<Profile>,
    /// `--privileged`: no masked or read-only paths, writable `/sys` and
    /// cgroups, every device allowed (capabilities and seccomp are set
    /// apart).
    pub privileged: bool,
    /// Device nodes to create (e.g. the host's, for a privileged container).
    pub devices: Vec<LinuxDevice>,
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
    /// Memory soft limit in bytes (`--memory-reservation`).
    pub memory_reservation: Option<i64>,
    /// CPUs the container may use (`--cpuset-cpus`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (`--cpuset-mems`).
    pub cpuset_mems: Option<String>,
    /// Block I/O weight, 10–1000 (`--blkio-weight`).
    pub blkio_weight: Option<u16>,
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
            domainname: None,
            tty: false,
            host_network: false,
            network_ns: None,
            host_pid: false,
            cgroup_ns: false,
            capabilities: DEFAULT_CAPABILITIES.to_vec(),
            no_new_privileges: false,
            seccomp: Some(Profile::docker_default()),
            privileged: false,
            devices: Vec::new(),
            memory_limit: None,
            memory_swap: None,
            cpu_shares: None,
            cpu_quota: None,
            cpu_period: None,
            pids_limit: None,
            memory_reservation: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            blkio_weight: None,
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
            .build()
            .map_err(|e| self.spec_err(e))?;
        // The builder starts from oci-spec's defaults, which set RLIMIT_NOFILE.
        process.set_rlimits(None);
        process.set_console_size(None);
        // libcontainer loads the seccomp filter before dropping capabilities
        // only when the field is absent: `Some(false)` would make it load
        // the filter without CAP_SYS_ADMIN and fail.
        process.set_no_new_privileges(self.no_new_privileges.then_some(true));
        let seccomp = match &self.seccomp {
            Some(profile) => Some(
                profile
                    .resolve(&self.capabilities, &Target::host())
                    .map_err(|e| self.spec_err(e))?,
            ),
            None => None,
        };

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
        if self.cgroup_ns {
            namespaces.push(LinuxNamespaceType::Cgroup);
        }
        let namespaces = namespaces
            .into_iter()
            .map(|typ| {
                let mut ns = LinuxNamespaceBuilder::default().typ(typ);
                if typ == LinuxNamespaceType::Network
                    && let Some(path) = &self.network_ns
                {
                    ns = ns.path(path.clone());
                }
                ns.build()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.spec_err(e))?;

        let mut resources = LinuxResourcesBuilder::default().devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(self.privileged)
                .access("rwm")
                .build()
                .map_err(|e| self.spec_err(e))?,
        ]);
        if self.memory_limit.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some()
        {
            let mut memory = LinuxMemoryBuilder::default();
            if let Some(reservation) = self.memory_reservation {
                memory = memory.reservation(reservation);
            }
            if let Some(limit) = self.memory_limit {
                memory = memory.limit(limit);
            }
            if let Some(swap) = self.memory_swap {
                memory = memory.swap(swap);
            }
            resources = resources.memory(memory.build().map_err(|e| self.spec_err(e))?);
        }
        if self.cpu_shares.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_period.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
        {
            let mut cpu = LinuxCpuBuilder::default();
            if let Some(cpus) = &self.cpuset_cpus {
                cpu = cpu.cpus(cpus.clone());
            }
            if let Some(mems) = &self.cpuset_mems {
                cpu = cpu.mems(mems.clone());
            }
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
        if let Some(weight) = self.blkio_weight {
            resources = resources.block_io(
                LinuxBlockIoBuilder::default()
                    .weight(weight)
                    .build()
                    .map_err(|e| self.spec_err(e))?,
            );
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
        let paths = |list: &[&str]| -> Vec<String> {
            if self.privileged {
                Vec::new()
            } else {
                list.iter().map(|s| (*s).to_owned()).collect()
            }
        };
        let mut linux = LinuxBuilder::default()
            .namespaces(namespaces)
            .resources(resources)
            .cgroups_path(PathBuf::from(cgroups_path))
            .masked_paths(paths(&MASKED_PATHS))
            .readonly_paths(paths(&READONLY_PATHS))
            .build()
            .map_err(|e| self.spec_err(e))?;
        linux.set_seccomp(seccomp);
        if !self.devices.is_empty() {
            linux.set_devices(Some(self.devices.clone()));
        }

        let mut mounts = default_mounts().map_err(|e| self.spec_err(e))?;
        if self.privileged {
            // dockerd: /sys and the cgroup mount are writable when privileged.
            for m in &mut mounts {
                if let Some(options) = m.options().clone() {
                    m.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
                }
            }
        }
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
        spec.set_domainname(self.domainname.clone());
        spec.set_annotations(if self.annotations.is_empty() {
            None
        } else {
            Some(self.annotations.clone())
        });
        Ok(spec)
    }

    /// Writes `<bundle_dir>/config.json` (creating the directory) and, with
    /// a seccomp filter, its compiled program
    /// (`<bundle_dir>/seccomp-bpf.json`); returns the path of `config.json`.
    pub fn write(&self, bundle_dir: &Path) -> Result<PathBuf> {
        let spec = self.to_spec()?;
        std::fs::create_dir_all(bundle_dir).map_err(FileError::on("create", bundle_dir))?;
        let path = bundle_dir.join("config.json");
        let json = serde_json::to_vec_pretty(&spec).map_err(|e| self.spec_err(e))?;
        crate::paths::write_atomic(&path, &json).map_err(FileError::on("write", &path))?;
        self.write_seccomp(&spec, bundle_dir)?;
        Ok(path)
    }

    /// Stores the compiled seccomp filter beside `config.json` (compiled
    /// once per distinct filter in this process), or removes an old one.
    fn write_seccomp(&self, spec: &Spec, bundle_dir: &Path) -> Result<()> {
        let stored = bundle_dir.join(bpf::FILE_NAME);
        match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(seccomp) => {
                let program = bpf::compiled(seccomp).map_err(|e| self.spec_err(e))?;
                bpf::store(bundle_dir, seccomp, &program).map_err(|e| self.spec_err(e))?;
            }
            None => match std::fs::remove_file(&stored) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(FileError {
                        op: "remove",
                        path: stored,
                        source,
                    }
                    .into());
                }
            },
        }
        Ok(())
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
        cfg.domainname = Some("example.test".into());
        let spec = cfg.to_spec()?;
        let json = serde_json::to_value(&spec).map_err(|e| cfg.spec_err(e))?;
        let process = &json["process"];
        assert!(process.get("rlimits").is_none(), "no rlimits: {process}");
        // Docker's default: no `no_new_privs`; the field is left out so
        // libcontainer loads the filter while it still has CAP_SYS_ADMIN.
        assert!(process.get("noNewPrivileges").is_none(), "{process}");
        let seccomp = &json["linux"]["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(seccomp["defaultErrnoRet"], 1);
        assert!(
            seccomp["syscalls"][0]["names"]
                .as_array()
                .is_some_and(|n| n.len() > 300),
            "{seccomp}"
        );
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(process["env"][0], DEFAULT_PATH);
        let bounding = process["capabilities"]["bounding"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(bounding, 14);
        assert_eq!(json["hostname"], "box");
        assert_eq!(json["domainname"], "example.test");
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
    fn cgroup_ns_adds_a_cgroup_namespace() -> Result<()> {
        let namespaces = |cfg: &BundleConfig| -> Result<Vec<String>> {
            let json = serde_json::to_value(cfg.to_spec()?).map_err(|e| cfg.spec_err(e))?;
            Ok(json["linux"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["type"].as_str().map(str::to_owned))
                .collect())
        };
        let mut cfg = BundleConfig::new("c3", "/rootfs", vec!["sh".into()]);
        assert!(!namespaces(&cfg)?.iter().any(|n| n == "cgroup"));
        cfg.cgroup_ns = true;
        assert_eq!(
            namespaces(&cfg)?,
            ["mount", "uts", "ipc", "pid", "network", "cgroup"]
        );
        Ok(())
    }

    #[test]
    fn a_network_namespace_path_is_joined() -> Result<()> {
        let mut cfg = BundleConfig::new("c4", "/rootfs", vec!["sh".into()]);
        cfg.network_ns = Some("/proc/1/fd/7".into());
        let json = serde_json::to_value(cfg.to_spec()?).map_err(|e| cfg.spec_err(e))?;
        let net: Vec<&serde_json::Value> = json["linux"]["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["type"] == "network")
            .collect();
        assert_eq!(net.len(), 1);
        assert_eq!(net[0]["path"], "/proc/1/fd/7");
        // The host's network: no namespace at all, the path is ignored.
        cfg.host_network = true;
        let json = serde_json::to_value(cfg.to_spec()?).map_err(|e| cfg.spec_err(e))?;
        assert!(!json["linux"]["namespaces"].to_string().contains("network"));
        Ok(())
    }

    #[test]
    fn privileged_and_unconfined_bundles() -> Result<()> {
        let mut cfg = BundleConfig::new("c2", "/rootfs", vec!["sh".into()]);
        cfg.privileged = true;
        cfg.seccomp = None;
        cfg.no_new_privileges = true;
        cfg.capabilities = all_capabilities();
        cfg.devices = host_devices();
        let json = serde_json::to_value(cfg.to_spec()?).map_err(|e| cfg.spec_err(e))?;
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert!(json["linux"].get("seccomp").is_none());
        assert!(
            json["linux"]
                .get("maskedPaths")
                .is_none_or(|m| m == &serde_json::json!([]))
        );
        assert!(
            json["linux"]
                .get("readonlyPaths")
                .is_none_or(|m| m == &serde_json::json!([]))
        );
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], true);
        let sys = json["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["destination"] == "/sys")
            .cloned()
            .unwrap_or_default();
        assert!(
            !sys["options"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o == "ro"),
            "{sys}"
        );
        let devices: Vec<&str> = json["linux"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["path"].as_str())
            .collect();
        assert!(devices.contains(&"/dev/null"), "{devices:?}");
        assert!(
            !devices
                .iter()
                .any(|d| d.starts_with("/dev/pts/") || *d == "/dev/console")
        );
        Ok(())
    }

    #[test]
    fn capabilities_by_name_and_bounding_set() {
        assert_eq!(parse_capability("net_admin"), Some(Capability::NetAdmin));
        assert_eq!(parse_capability("CAP_CHOWN"), Some(Capability::Chown));
        assert_eq!(parse_capability("NOPE"), None);
        // Bit n of CapBnd is ALL_CAPABILITIES[n].
        assert_eq!(ALL_CAPABILITIES[21], Capability::SysAdmin);
        assert_eq!(ALL_CAPABILITIES[40], Capability::CheckpointRestore);
        let all = all_capabilities();
        assert!(
            all.contains(&Capability::Chown) && all.len() <= 41,
            "{all:?}"
        );
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
