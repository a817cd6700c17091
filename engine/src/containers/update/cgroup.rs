//! A container's resource limits written to its cgroups: the files of each
//! cgroup v1 controller's hierarchy, or of the unified v2 one, under
//! `skiff/<id>` (see `containers::cgroups`), with the conversions runc
//! makes for v2 (`cpu.shares` → `cpu.weight`, memory + swap → swap only).

use std::path::Path;

use bollard_stubs::models::HostConfig;

use super::super::cgroups;
use super::super::error::ContainerError;

/// docker's CFS period for `--cpus`, µs.
const CPU_PERIOD: u64 = 100_000;

/// dockerd's warning when the host has no block I/O weight.
const NO_BLKIO_WEIGHT: &str =
    "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.";

/// The limits of a host config that go to the cgroups (`None`: not
/// limited by the config, left as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory + swap bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// Soft limit, bytes.
    pub memory_reservation: Option<i64>,
    /// Relative weight (v1 shares).
    pub cpu_shares: Option<u64>,
    /// CFS period, µs.
    pub cpu_period: Option<u64>,
    /// CFS quota, µs per period (-1: unlimited).
    pub cpu_quota: Option<i64>,
    /// CPUs the container may use.
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    pub cpuset_mems: Option<String>,
    /// Process limit (0 or less: unlimited).
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10–1000.
    pub blkio_weight: Option<i64>,
}

impl CgroupLimits {
    /// The limits `h` sets (`--cpus` as a quota of docker's period).
    pub fn of(h: &HostConfig) -> Self {
        let positive = |v: Option<i64>| v.filter(|v| *v > 0);
        let (cpu_period, cpu_quota) = match positive(h.nano_cpus) {
            Some(nano) => (
                Some(CPU_PERIOD),
                Some(nano * CPU_PERIOD as i64 / 1_000_000_000),
            ),
            None => (
                positive(h.cpu_period).map(|p| p as u64),
                h.cpu_quota.filter(|q| *q != 0),
            ),
        };
        let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Self {
            memory: positive(h.memory),
            memory_swap: h.memory_swap.filter(|s| *s != 0),
            memory_reservation: positive(h.memory_reservation),
            cpu_shares: positive(h.cpu_shares).map(|s| s as u64),
            cpu_period,
            cpu_quota,
            cpuset_cpus: text(&h.cpuset_cpus),
            cpuset_mems: text(&h.cpuset_mems),
            pids_limit: h.pids_limit,
            blkio_weight: h.blkio_weight.filter(|w| *w > 0).map(i64::from),
        }
    }
}

/// Write `value` to `dir/file` if the file exists; whether it does.
fn write(dir: &Path, file: &str, value: &str) -> Result<bool, ContainerError> {
    let path = dir.join(file);
    if !path.exists() {
        return Ok(false);
    }
    std::fs::write(&path, value)
        .map(|()| true)
        .map_err(|e| ContainerError::io(format!("write {}", path.display()), e))
}

/// Write a limit and its partner in the order the kernel accepts: `first`
/// then `second`, or, if `first` is refused (v1 refuses a memory limit
/// above the memory + swap limit), the other way round.
fn write_pair(
    dir: &Path,
    first: (&str, String),
    second: Option<(&str, String)>,
) -> Result<(), ContainerError> {
    match write(dir, first.0, &first.1) {
        Ok(_) => {
            if let Some((file, value)) = &second {
                write(dir, file, value)?;
            }
            Ok(())
        }
        Err(e) => {
            let Some((file, value)) = &second else {
                return Err(e);
            };
            write(dir, file, value)?;
            write(dir, first.0, &first.1).map(drop)
        }
    }
}

/// runc's `ConvertCPUSharesToCgroupV2Value`.
fn cpu_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

fn pids(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

/// Apply `l` to the cgroup directory `dir` of one hierarchy (v1: whichever
/// controller's files it has; v2: the unified files). Whether it has a
/// block I/O weight file.
fn apply_dir(dir: &Path, l: &CgroupLimits) -> Result<bool, ContainerError> {
    let unified = dir.join("cgroup.controllers").exists();
    let mut weighted = false;
    if unified {
        if let Some(m) = l.memory {
            let swap = match l.memory_swap {
                Some(-1) => Some("max".to_owned()),
                Some(s) if s > 0 => Some((s - m).max(0).to_string()),
                _ => None,
            };
            write(dir, "memory.max", &m.to_string())?;
            if let Some(swap) = swap {
                write(dir, "memory.swap.max", &swap)?;
            }
        }
        if let Some(r) = l.memory_reservation {
            write(dir, "memory.low", &r.to_string())?;
        }
        if let Some(s) = l.cpu_shares {
            write(dir, "cpu.weight", &cpu_weight(s).to_string())?;
        }
        if l.cpu_quota.is_some() || l.cpu_period.is_some() {
            let quota = match l.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            let value = match l.cpu_period {
                Some(p) => format!("{quota} {p}"),
                None => quota,
            };
            write(dir, "cpu.max", &value)?;
        }
        if let Some(w) = l.blkio_weight {
            weighted = write(dir, "io.bfq.weight", &w.to_string())?
                || write(dir, "io.weight", &format!("default {w}"))?;
        }
    } else {
        if let Some(m) = l.memory {
            let swap = l
                .memory_swap
                .map(|s| ("memory.memsw.limit_in_bytes", s.to_string()));
            write_pair(dir, ("memory.limit_in_bytes", m.to_string()), swap)?;
        } else if let Some(s) = l.memory_swap {
            write(dir, "memory.memsw.limit_in_bytes", &s.to_string())?;
        }
        if let Some(r) = l.memory_reservation {
            write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
        }
        if let Some(s) = l.cpu_shares {
            write(dir, "cpu.shares", &s.to_string())?;
        }
        if let Some(p) = l.cpu_period {
            write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(q) = l.cpu_quota {
            write(dir, "cpu.cfs_quota_us", &q.to_string())?;
        }
        if let Some(w) = l.blkio_weight {
            weighted = write(dir, "blkio.weight", &w.to_string())?
                || write(dir, "blkio.bfq.weight", &w.to_string())?;
        }
    }
    if let Some(c) = &l.cpuset_cpus {
        write(dir, "cpuset.cpus", c)?;
    }
    if let Some(m) = &l.cpuset_mems {
        write(dir, "cpuset.mems", m)?;
    }
    if let Some(p) = l.pids_limit {
        write(dir, "pids.max", &pids(p))?;
    }
    Ok(weighted)
}

/// Whether this host's cgroups take a block I/O weight (v1 `blkio.weight`
/// or `blkio.bfq.weight`, v2 the `io` controller), probed once.
pub fn blkio_weight_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let root = Path::new("/sys/fs/cgroup");
        root.join("blkio/blkio.weight").exists()
            || root.join("blkio/blkio.bfq.weight").exists()
            || std::fs::read_to_string(root.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|x| x == "io"))
    })
}

/// Apply `l` to cgroup `cgroup` (its relative path) of running container
/// `id`; dockerd's warnings for what this host cannot limit.
pub fn apply(id: &str, cgroup: &str, l: &CgroupLimits) -> Result<Vec<String>, ContainerError> {
    let dirs = cgroups::dirs(cgroup);
    if dirs.is_empty() {
        return Err(ContainerError::Runtime(format!(
            "container {id} has no cgroup"
        )));
    }
    let mut weighted = false;
    for dir in &dirs {
        weighted |= apply_dir(dir, l)?;
    }
    let mut warnings = Vec::new();
    if l.blkio_weight.is_some() && !weighted {
        warnings.push(NO_BLKIO_WEIGHT.to_owned());
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_host_config_like_the_bundle() {
        let h = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            nano_cpus: Some(500_000_000),
            cpu_period: Some(50_000),
            pids_limit: Some(0),
            cpuset_cpus: Some(String::new()),
            ..HostConfig::default()
        };
        let l = CgroupLimits::of(&h);
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(l.memory_swap, Some(-1));
        assert_eq!(
            (l.cpu_period, l.cpu_quota),
            (Some(CPU_PERIOD), Some(50_000))
        );
        assert_eq!(l.pids_limit, Some(0));
        assert_eq!(l.cpuset_cpus, None);
        assert_eq!(pids(0), "max");
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(2), 1);
    }

    #[test]
    fn v1_and_v2_files_get_their_values() -> Result<(), Box<dyn std::error::Error>> {
        let l = CgroupLimits {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpu_shares: Some(512),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            pids_limit: Some(20),
            blkio_weight: Some(300),
            ..CgroupLimits::default()
        };
        let v1 = tempfile::tempdir()?;
        for f in [
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "cpu.shares",
            "cpu.cfs_quota_us",
            "pids.max",
        ] {
            std::fs::write(v1.path().join(f), "")?;
        }
        assert!(!apply_dir(v1.path(), &l)?, "no blkio weight file");
        let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
        assert_eq!(read(v1.path(), "memory.limit_in_bytes"), "67108864");
        assert_eq!(read(v1.path(), "memory.memsw.limit_in_bytes"), "134217728");
        assert_eq!(read(v1.path(), "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(v1.path(), "pids.max"), "20");
        assert!(
            !v1.path().join("cpu.cfs_period_us").exists(),
            "only existing files"
        );
        let v2 = tempfile::tempdir()?;
        for f in [
            "cgroup.controllers",
            "memory.max",
            "memory.swap.max",
            "cpu.weight",
            "cpu.max",
            "io.weight",
        ] {
            std::fs::write(v2.path().join(f), "")?;
        }
        assert!(apply_dir(v2.path(), &l)?);
        assert_eq!(read(v2.path(), "memory.swap.max"), "67108864");
        assert_eq!(read(v2.path(), "cpu.max"), "50000 100000");
        assert_eq!(read(v2.path(), "io.weight"), "default 300");
        Ok(())
    }
}
