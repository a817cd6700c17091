//! `docker update` (`POST /containers/{id}/update`): change a container's
//! resources and restart policy. The request is checked as dockerd's
//! `verifyContainerSettings` checks it, merged into the host config as its
//! `UpdateContainer` does, applied to the running container's cgroups
//! ([`cgroup`], v1 and v2, through the runtime's `HostOps`), and only then
//! persisted and published (`update`). A container that does not run gets
//! the new values at its next start.

pub mod cgroup;
mod validate;

use std::sync::Arc;

use bollard_stubs::models::{HostConfig, RestartPolicy, RestartPolicyNameEnum};

use super::ContainerService;
use super::error::ContainerError;
use super::record::Status;

pub use cgroup::CgroupLimits;

/// What `docker update` may change (zero / empty / `None`: unchanged, as
/// dockerd reads its `UpdateConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateRequest {
    /// `--memory`, bytes.
    pub memory: i64,
    /// `--memory-swap`, bytes of memory + swap (-1: unlimited).
    pub memory_swap: i64,
    /// `--memory-reservation`, bytes.
    pub memory_reservation: i64,
    /// `--kernel-memory` (refused: not supported).
    pub kernel_memory: i64,
    /// `--cpus` × 10⁹.
    pub nano_cpus: i64,
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `--cpu-period`, µs.
    pub cpu_period: i64,
    /// `--cpu-quota`, µs (-1: unlimited).
    pub cpu_quota: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (10–1000).
    pub blkio_weight: i64,
    /// `--restart`: the policy's name as given and its retry count.
    pub restart_policy: Option<(String, i64)>,
}

/// Refused with dockerd's kind: a conflict with the container's settings.
fn conflict(id: &str, msg: &str) -> ContainerError {
    ContainerError::Conflict(format!("Cannot update container {id}: {msg}"))
}

/// Merge `req` into `h` as dockerd's `UpdateContainer` does (its
/// conflicts refused, worded as it words them).
fn merge(id: &str, h: &mut HostConfig, req: &UpdateRequest) -> Result<(), ContainerError> {
    let set = |v: Option<i64>| v.unwrap_or(0) > 0;
    if req.nano_cpus > 0 && set(h.cpu_period) {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if req.nano_cpus > 0 && set(h.cpu_quota) {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if req.cpu_period > 0 && set(h.nano_cpus) {
        return Err(conflict(
            id,
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if req.cpu_quota > 0 && set(h.nano_cpus) {
        return Err(conflict(
            id,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    let keep = |field: &mut Option<i64>, v: i64| {
        if v != 0 {
            *field = Some(v);
        }
    };
    if req.blkio_weight != 0 {
        // Checked to be 10–1000.
        h.blkio_weight = u16::try_from(req.blkio_weight).ok();
    }
    keep(&mut h.cpu_shares, req.cpu_shares);
    keep(&mut h.nano_cpus, req.nano_cpus);
    keep(&mut h.cpu_period, req.cpu_period);
    keep(&mut h.cpu_quota, req.cpu_quota);
    if !req.cpuset_cpus.is_empty() {
        h.cpuset_cpus = Some(req.cpuset_cpus.clone());
    }
    if !req.cpuset_mems.is_empty() {
        h.cpuset_mems = Some(req.cpuset_mems.clone());
    }
    if req.memory != 0 {
        if req.memory > h.memory_swap.unwrap_or(0) && req.memory_swap == 0 {
            return Err(conflict(
                id,
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        h.memory = Some(req.memory);
    }
    keep(&mut h.memory_swap, req.memory_swap);
    keep(&mut h.memory_reservation, req.memory_reservation);
    if let Some(limit) = req.pids_limit {
        h.pids_limit = Some(limit);
    }
    if let Some((name, count)) = &req.restart_policy
        && !name.is_empty()
    {
        if h.auto_remove.unwrap_or(false) && name != "no" {
            return Err(conflict(
                id,
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ));
        }
        h.restart_policy = Some(RestartPolicy {
            name: Some(policy_name(name)),
            maximum_retry_count: Some(*count),
        });
    }
    Ok(())
}

/// The API's enum of a policy name checked by [`validate`].
fn policy_name(name: &str) -> RestartPolicyNameEnum {
    match name {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        "no" => RestartPolicyNameEnum::NO,
        _ => RestartPolicyNameEnum::EMPTY,
    }
}

impl ContainerService {
    /// `docker update`: returns docker's warnings.
    pub async fn update_container(
        self: &Arc<Self>,
        what: &str,
        mut req: UpdateRequest,
    ) -> Result<Vec<String>, ContainerError> {
        let mut warnings = validate::check(&mut req)?;
        let record = self.resolve(what)?;
        if matches!(record.state.status, Status::Removing | Status::Dead) {
            return Err(ContainerError::Conflict(format!(
                "Cannot update container {}: container is marked for removal and cannot be \"update\"",
                record.id
            )));
        }
        let mut host_config = record.host_config.clone();
        merge(&record.id, &mut host_config, &req)?;
        if matches!(record.state.status, Status::Running | Status::Paused) {
            let limits = CgroupLimits::of(&host_config);
            let host = self.runtime.host.clone();
            let id = record.id.clone();
            let cgroup = record.cgroup();
            let applied =
                tokio::task::spawn_blocking(move || host.update_cgroups(&id, &cgroup, &limits))
                    .await?;
            match applied {
                Ok(more) => warnings.extend(more),
                Err(e) => {
                    return Err(ContainerError::Runtime(format!(
                        "Cannot update container {}: {e}",
                        record.id
                    )));
                }
            }
        }
        let record = self.update(&record.id, |r| r.host_config = host_config)?;
        self.record_event("update", &record, &[]);
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests;
