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
}
