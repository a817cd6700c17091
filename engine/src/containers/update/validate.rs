//! The checks dockerd's `verifyContainerSettings` makes of an update, in
//! its words (all `400`s).

use super::super::error::ContainerError;
use super::UpdateRequest;

/// dockerd's `linuxMinMemory`.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument(msg.into())
}

/// Check `req`; its warnings (none today: what dockerd would warn about
/// and drop is refused instead).
pub(super) fn check(req: &mut UpdateRequest) -> Result<Vec<String>, ContainerError> {
    if req.memory != 0 && req.memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if req.memory > 0 && req.memory_swap > 0 && req.memory_swap < req.memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if req.memory_reservation > 0 && req.memory_reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if req.memory > 0 && req.memory_reservation > 0 && req.memory < req.memory_reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if req.kernel_memory != 0 {
        return Err(invalid(
            "Kernel memory limit (KernelMemory) is not supported by skiffd: kernel memory accounting is deprecated since Linux 5.4",
        ));
    }
    if req.nano_cpus > 0 && req.cpu_period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if req.nano_cpus > 0 && req.cpu_quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if req.nano_cpus < 0 || req.nano_cpus > cpus * 1_000_000_000 {
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    if req.cpu_period != 0 && !(1000..=1_000_000).contains(&req.cpu_period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if req.cpu_quota > 0 && req.cpu_quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if !req.cpuset_cpus.is_empty() {
        let available = online("/sys/devices/system/cpu/online", cpus);
        check_set(&req.cpuset_cpus, "cpus", "CPUs", &available)?;
    }
    if !req.cpuset_mems.is_empty() {
        let available = online("/sys/devices/system/node/online", 1);
        check_set(&req.cpuset_mems, "mems", "memory nodes", &available)?;
    }
    if req.blkio_weight > 0 && !(10..=1000).contains(&req.blkio_weight) {
        return Err(invalid("Range of blkio weight is from 10 to 1000"));
    }
    if let Some((name, count)) = &req.restart_policy {
        restart_policy(name, *count)?;
    }
    Ok(Vec::new())
}

/// dockerd's `validateRestartPolicy`.
fn restart_policy(name: &str, count: i64) -> Result<(), ContainerError> {
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => {
            return Err(invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )));
        }
    }
    if count < 0 {
        return Err(invalid(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    if count != 0 && name != "on-failure" {
        return Err(invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    Ok(())
}

/// The online list of `path` (`0-3`), or `0-<count - 1>` when unreadable.
fn online(path: &str, count: i64) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| parse_set(s).is_some())
        .unwrap_or_else(|| match count {
            ..=1 => "0".into(),
            n => format!("0-{}", n - 1),
        })
}

/// A cpuset list (`0-2,4`) as its members; `None` when malformed.
pub(super) fn parse_set(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// dockerd's `IsCpusetCpusAvailable` / `IsCpusetMemsAvailable` checks.
fn check_set(list: &str, key: &str, what: &str, available: &str) -> Result<(), ContainerError> {
    let Some(asked) = parse_set(list) else {
        return Err(invalid(format!(
            "Invalid value {list} for cpuset {key}: invalid format: {list}"
        )));
    };
    let members = parse_set(available).unwrap_or_default();
    if asked.iter().all(|n| members.contains(n)) {
        return Ok(());
    }
    Err(invalid(format!(
        "Requested {what} are not available - requested {list}, available: {available}"
    )))
}
