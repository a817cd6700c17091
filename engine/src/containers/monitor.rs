//! Watching a running container: when its process exits, record how, clean
//! up the shim and the mount, publish `die`, then apply the restart policy
//! or `--rm`. Also reconnects to shims after a skiffd restart.

use std::sync::Arc;
use std::time::Duration;

use skiff_shim::ExitStatus;
use skiff_shim::client::ShimHandle;

use super::ContainerService;
use super::record::{ContainerRecord, Status};
use super::rootfs::Rootfs;
use crate::images::now_rfc3339;

impl ContainerService {
    /// Watch a started container's shim until the process exits.
    pub(crate) fn monitor(self: &Arc<Self>, id: String, handle: ShimHandle) {
        let svc = self.clone();
        tokio::spawn(async move {
            let h = handle.clone();
            let exit = tokio::task::spawn_blocking(move || h.wait()).await;
            let exit = match exit {
                Ok(Ok(e)) => Some(e),
                Ok(Err(e)) => {
                    tracing::warn!("waiting for container {id}: {e}");
                    ShimHandle::read_exit(svc.shim_dir(&id)).ok().flatten()
                }
                Err(e) => {
                    tracing::warn!("waiting for container {id}: {e}");
                    None
                }
            };
            svc.exited(&id, exit, Some(handle)).await;
        });
    }

    /// Record an exit and act on it.
    pub(crate) async fn exited(
        self: &Arc<Self>,
        id: &str,
        exit: Option<ExitStatus>,
        handle: Option<ShimHandle>,
    ) {
        let dir = self.store.dir(id);
        let cleanup = tokio::task::spawn_blocking(move || {
            if let Some(h) = handle {
                let _ = h.delete(true);
            }
            Rootfs::new(&dir).unmount()
        })
        .await;
        if let Ok(Err(e)) = cleanup {
            tracing::warn!("container {id}: {e}");
        }
        let code = exit.as_ref().map(|e| i64::from(e.exit_code)).unwrap_or(255);
        let Ok(record) = self.update(id, |r| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = exit.as_ref().is_some_and(|e| e.oom_killed);
            r.state.finished_at = exit
                .as_ref()
                .map(|e| e.finished_at.clone())
                .unwrap_or_else(now_rfc3339);
        }) else {
            return;
        };
        if record.state.oom_killed {
            self.record_event("oom", &record, &[]);
        }
        self.record_event("die", &record, &[("exitCode", &code.to_string())]);
        if should_restart(&record) {
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
        } else if record.host_config.auto_remove.unwrap_or(false) {
            let svc = self.clone();
            let id = id.to_owned();
            let _ = tokio::task::spawn_blocking(move || svc.remove_stopped(&id)).await;
        }
    }

    /// After a skiffd restart: reattach to live shims, and record the exits
    /// of containers that ended while skiffd was down.
    pub async fn reconcile(self: &Arc<Self>) {
        for record in self.store.all() {
            if !record.state.status.is_live() {
                continue;
            }
            let shim_dir = self.shim_dir(&record.id);
            let alive = {
                let dir = shim_dir.clone();
                tokio::task::spawn_blocking(move || {
                    ShimHandle::connect(&dir).ok().filter(|h| h.state().is_ok())
                })
                .await
                .ok()
                .flatten()
            };
            match alive {
                Some(handle) => self.monitor(record.id.clone(), handle),
                None => {
                    let exit = ShimHandle::read_exit(&shim_dir).ok().flatten();
                    self.exited(&record.id, exit, None).await;
                }
            }
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
