//! Watching a running container: when its process exits, record how, clean
//! up the shim and the mount, publish `die`, then apply the restart policy
//! or `--rm`. Also reconnects to shims after a skiffd restart.

use std::sync::Arc;
use std::time::Duration;

use skiff_shim::ExitStatus;
use skiff_shim::paths;

use super::ContainerService;
use super::record::{ContainerRecord, Status};
use super::rootfs::Rootfs;
use super::runtime::ShimRef;
use crate::images::now_rfc3339;

impl ContainerService {
    /// Watch a started container's shim until the process exits (on the
    /// runtime: no thread is held per running container).
    pub(crate) fn monitor(self: &Arc<Self>, id: String, handle: ShimRef) {
        let svc = self.clone();
        tokio::spawn(async move {
            let exit = match handle.wait_exit().await {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!("waiting for container {id}: {e}");
                    let shims = &svc.runtime.shims;
                    shims.read_exit(&svc.shim_dir(&id)).ok().flatten()
                }
            };
            svc.exited(&id, exit, Some(handle)).await;
        });
    }

    /// Record an exit and act on it: clean up (the unmount, the shim's
    /// delete — which removes the cgroups — then whatever cgroup a dead
    /// shim left), record the exit, publish `die`, then restart or
    /// remove. An `--rm` container's exit is recorded in memory only: it is
    /// removed right after, and if skiffd dies in between, its record on
    /// disk still says it runs, so the restart's reconcile removes it.
    pub(crate) async fn exited(
        self: &Arc<Self>,
        id: &str,
        exit: Option<ExitStatus>,
        handle: Option<ShimRef>,
    ) {
        let monitored = self.stop_health(id);
        let owned = id.to_owned();
        let cgroup = self.cgroup_of(id);
        let dir = self.store.dir(id);
        let host = self.runtime.host.clone();
        let svc = self.clone();
        let leaving = owned.clone();
        // The network's release (deleting a veth waits for the kernel's RCU
        // grace periods: tens of ms) runs beside the unmount and the
        // shim's delete, which need nothing of it.
        let left = tokio::task::spawn_blocking(move || svc.network_leave(&leaving));
        let cleanup = tokio::task::spawn_blocking(move || {
            // Volatile for --rm containers: no sync, a fraction of a ms.
            let unmounted = host.unmount(&Rootfs::new(&dir));
            if let Some(h) = handle {
                let _ = h.delete(true);
            }
            unmounted.and(host.remove_cgroups(&owned, &cgroup))
        })
        .await;
        if let Err(e) = left.await {
            tracing::warn!("container {id}: {e}");
        }
        self.unmount_volumes(id);
        match cleanup {
            Ok(Err(e)) => tracing::warn!("container {id}: {e}"),
            Err(e) => tracing::warn!("container {id}: {e}"),
            Ok(Ok(())) => {}
        }
        skiff_failpoint::point!(skiff_failpoint::EXIT_BEFORE_RECORD);

        let Some(current) = self.store.get(id) else {
            return;
        };
        let code = exit.as_ref().map(|e| i64::from(e.exit_code)).unwrap_or(255);
        let apply = |r: &mut ContainerRecord| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = exit.as_ref().is_some_and(|e| e.oom_killed);
            r.state.finished_at = exit
                .as_ref()
                .map(|e| e.finished_at.clone())
                .unwrap_or_else(now_rfc3339);
            if monitored {
                super::health::mark_unmonitored(r);
            }
        };
        let mut next = current;
        apply(&mut next);
        let auto_remove = next.host_config.auto_remove.unwrap_or(false) && !should_restart(&next);

        // The exit is recorded, then `oom` / `die` published, then the
        // waiters (`stop`, `wait`, `attach`) woken: a client reading the
        // state after `die` sees it exited, and `stop` always follows
        // `die`, as dockerd orders them.
        let recorded = if auto_remove {
            self.store.update_in_memory(id, apply)
        } else {
            self.store.update(id, apply)
        };
        let Ok(record) = recorded else {
            return;
        };
        if record.state.oom_killed {
            self.record_event("oom", &record, &[]);
        }
        self.record_event("die", &record, &[("exitCode", &code.to_string())]);
        self.notify(id, Some(record.clone()));
        if auto_remove {
            let svc = self.clone();
            let id = id.to_owned();
            let removed = tokio::task::spawn_blocking(move || svc.remove_exited(&id)).await;
            if let Ok(Err(e)) = removed {
                tracing::warn!("removing container {}: {e}", record.id);
            }
        } else if should_restart(&record) {
            let _ = self.update(id, |r| r.restart_count += 1);
            let delay =
                Duration::from_millis(100 * 2u64.pow(record.restart_count.clamp(0, 8) as u32));
            let svc = self.clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(e) = svc.start(&id).await {
                    tracing::warn!("restarting container {id}: {e}");
                }
            });
        }
    }

    /// After a skiffd restart: reattach to live shims, and record the exits
    /// of containers that ended while skiffd was down — all of them before
    /// this returns (and the API serves), whether their shim is gone or
    /// still waiting to be deleted.
    pub async fn reconcile(self: &Arc<Self>) {
        // What stopped containers may have left while skiffd was down: a
        // shim prepared for a start that never came (see `prepare`), the
        // cgroups of a shim killed before it deleted them, a mount.
        let stopped: Vec<String> = self
            .store
            .snapshot()
            .iter()
            .filter(|r| !r.state.status.is_live())
            .map(|r| r.id.clone())
            .collect();
        let svc = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for id in stopped {
                svc.tidy_stopped(&id);
            }
        })
        .await;
        for record in self.store.all() {
            if !record.state.status.is_live() {
                continue;
            }
            let shim_dir = self.shim_dir(&record.id);
            let alive = {
                let handle = self.shim(&record.id);
                tokio::task::spawn_blocking(move || {
                    let state = handle.state().ok()?;
                    Some((handle, state.exit))
                })
                .await
                .ok()
                .flatten()
            };
            match alive {
                Some((handle, Some(exit))) => {
                    self.exited(&record.id, Some(exit), Some(handle)).await;
                }
                Some((handle, None)) => {
                    self.monitor(record.id.clone(), handle);
                    // As dockerd's restore: health starts again from `starting`.
                    if let Err(e) = self.update(&record.id, super::health::reset_for_start) {
                        tracing::warn!("container {}: {e}", record.id);
                    }
                    self.start_health(&record.id);
                }
                None => {
                    let exit = self.runtime.shims.read_exit(&shim_dir).ok().flatten();
                    self.exited(&record.id, exit, None).await;
                }
            }
        }
        // Running containers get their published ports back; what dead
        // ones held is released.
        if let Some(networks) = self.networks().cloned() {
            let live: std::collections::HashSet<String> = self
                .store
                .snapshot()
                .iter()
                .filter(|r| r.state.status.is_live())
                .map(|r| r.id.clone())
                .collect();
            let _ = tokio::task::spawn_blocking(move || {
                networks.restore(|id| live.contains(id));
            })
            .await;
        }
        // Restart policies act on daemon start too.
        for record in self.store.all() {
            let policy = record
                .host_config
                .restart_policy
                .as_ref()
                .and_then(|p| p.name.map(|n| n.to_string()))
                .unwrap_or_default();
            if record.state.status == Status::Exited
                && (policy == "always"
                    || (policy == "unless-stopped" && !record.state.stopped_by_user))
            {
                if let Err(e) = self.start(&record.id).await {
                    tracing::warn!("restarting container {}: {e}", record.id);
                }
            }
        }
    }
}

impl ContainerService {
    /// Blocking: deletes a shim, cgroups and a mount left for a container
    /// that does not run.
    fn tidy_stopped(&self, id: &str) {
        self.network_leave(id);
        let shim_dir = self.shim_dir(id);
        if paths::socket(&shim_dir).exists()
            && let Ok(h) = self.connect_shim(id)
        {
            let _ = h.delete(true);
        }
        let host = &self.runtime.host;
        if let Err(e) = host.remove_cgroups(id, &self.cgroup_of(id)) {
            tracing::warn!("container {id}: {e}");
        }
        let rootfs = Rootfs::new(&self.store.dir(id));
        if host.is_mounted(&rootfs)
            && let Err(e) = host.unmount(&rootfs)
        {
            tracing::warn!("container {id}: {e}");
        }
    }
}

/// Docker's restart decision after an exit.
pub fn should_restart(record: &ContainerRecord) -> bool {
    if record.state.stopped_by_user {
        return false;
    }
    let Some(policy) = &record.host_config.restart_policy else {
        return false;
    };
    let name = policy.name.map(|n| n.to_string()).unwrap_or_default();
    match name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            let max = policy.maximum_retry_count.unwrap_or(0);
            record.state.exit_code != 0 && (max == 0 || record.restart_count < max)
        }
        _ => false,
    }
}
