//! Facts about the machine skiffd runs on, for `/info` and `/version`.

/// Kernel, OS and hardware facts.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel_version: String,
    /// PRETTY_NAME from os-release.
    pub operating_system: String,
    /// VERSION_ID from os-release.
    pub os_version: String,
    /// The hostname.
    pub hostname: String,
    /// Logical CPUs.
    pub ncpu: i64,
    /// Total memory in bytes.
    pub mem_total: i64,
    /// OCI architecture name (`amd64`, `arm64`).
    pub architecture: String,
    /// Whether the cgroup v2 unified hierarchy is the only one mounted.
    pub cgroup_v2_only: bool,
}

impl HostFacts {
    /// Read the facts of this host.
    pub fn read() -> Self {
        let uname = nix::sys::utsname::uname().ok();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .map(|v| v.trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines().find_map(|l| {
                    l.strip_prefix("MemTotal:")
                        .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
                })
            })
            .and_then(|kb| kb.parse::<i64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        Self {
            kernel_version: uname
                .as_ref()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            operating_system: field("PRETTY_NAME"),
            os_version: field("VERSION_ID"),
            hostname: uname
                .as_ref()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total,
            architecture: oci_arch(std::env::consts::ARCH).to_owned(),
            cgroup_v2_only: std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        }
    }
}

/// Map a Rust target architecture to its OCI name.
pub fn oci_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// What the kernel offers that `/info` reports (dockerd's `SysInfo`),
/// narrowed to what skiffd applies: a limit skiffd does not set for a
/// container is reported `false` even where the kernel has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostFeatures {
    /// The memory controller (`--memory`).
    pub memory_limit: bool,
    /// Swap accounting (`--memory-swap`).
    pub swap_limit: bool,
    /// CFS bandwidth (`--cpus`: period and quota).
    pub cpu_cfs: bool,
    /// CPU weights (`--cpu-shares`).
    pub cpu_shares: bool,
    /// The pids controller (`--pids-limit`).
    pub pids_limit: bool,
    /// `net.ipv4.ip_forward` is 1.
    pub ipv4_forwarding: bool,
    /// `net.bridge.bridge-nf-call-iptables` is 1.
    pub bridge_nf_iptables: bool,
    /// `net.bridge.bridge-nf-call-ip6tables` is 1.
    pub bridge_nf_ip6tables: bool,
    /// The kernel has seccomp filters (skiffd applies docker's profile).
    pub seccomp: bool,
}

impl HostFeatures {
    /// Read them from `/sys/fs/cgroup` and `/proc` now.
    pub fn read() -> Self {
        let cg = std::path::Path::new("/sys/fs/cgroup");
        let v2 = std::fs::read_to_string(cg.join("cgroup.controllers")).ok();
        // v2: the controllers of the root; v1 (or hybrid): a hierarchy each.
        let has = |controller: &str, v1_file: &str| match &v2 {
            Some(list) => list.split_whitespace().any(|c| c == controller),
            None => cg.join(controller).join(v1_file).exists(),
        };
        let sysctl = |path: &str| std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
        let memory = has("memory", "memory.limit_in_bytes");
        let swap = match &v2 {
            Some(_) => {
                memory
                    && std::fs::read_dir(cg).is_ok_and(|entries| {
                        // The root has no memory.swap.max; any child cgroup shows it.
                        entries
                            .flatten()
                            .any(|e| e.path().join("memory.swap.max").exists())
                    })
            }
            None => cg.join("memory/memory.memsw.limit_in_bytes").exists(),
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Self {
            memory_limit: memory,
            swap_limit: swap,
            cpu_cfs: has("cpu", "cpu.cfs_quota_us"),
            cpu_shares: has("cpu", "cpu.shares"),
            pids_limit: has("pids", "pids.max"),
            ipv4_forwarding: sysctl("/proc/sys/net/ipv4/ip_forward"),
            bridge_nf_iptables: sysctl("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            bridge_nf_ip6tables: sysctl("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
            seccomp: status.lines().any(|l| l.starts_with("Seccomp:")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plausible_facts() {
        let h = HostFacts::read();
        assert!(h.ncpu >= 1);
        assert!(h.mem_total > 0);
        assert!(!h.kernel_version.is_empty());
        assert_eq!(oci_arch("x86_64"), "amd64");
        assert_eq!(oci_arch("aarch64"), "arm64");
    }

    #[test]
    fn features_follow_the_cgroup_controllers() {
        let f = HostFeatures::read();
        let cg = std::path::Path::new("/sys/fs/cgroup");
        let pids = match std::fs::read_to_string(cg.join("cgroup.controllers")) {
            Ok(list) => list.split_whitespace().any(|c| c == "pids"),
            Err(_) => cg.join("pids/pids.max").exists(),
        };
        assert_eq!(f.pids_limit, pids);
        assert!(
            !f.swap_limit || f.memory_limit,
            "swap accounting needs memory"
        );
    }
}
