//! `docker rm` (refusing running containers unless forced) and the removal
//! that `--rm` does after an exit.

use std::sync::Arc;

use super::ContainerService;
use super::error::ContainerError;
use super::record::ContainerRecord;
use super::rootfs::Rootfs;

impl ContainerService {
    /// Remove a container; `force` kills a running one first.
    pub async fn remove(self: &Arc<Self>, what: &str, force: bool) -> Result<(), ContainerError> {
        self.remove_with_volumes(what, force, false).await
    }

    /// Remove a container (`force`: kill a running one first); `volumes`
    /// (`docker rm -v`): its anonymous volumes too, unless another
    /// container uses them. Named volumes are never removed.
    pub async fn remove_with_volumes(
        self: &Arc<Self>,
        what: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(what)?;
        if record.state.status.is_live() {
            if !force {
                return Err(ContainerError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    record.name
                )));
            }
            let mut watch = self.watch(&record.id);
            self.kill(&record.id, Some("SIGKILL")).await?;
            let _ = watch
                .wait_for(|r| r.as_ref().is_none_or(|r| !r.state.status.is_live()))
                .await;
            if record.host_config.auto_remove.unwrap_or(false) {
                // The exit handler removes it; wait for that.
                let _ = watch.wait_for(Option::is_none).await;
                return Ok(());
            }
        }
        let svc = self.clone();
        tokio::task::spawn_blocking(move || {
            svc.remove_stopped(&record.id)?;
            if volumes {
                svc.release_mounts(&record, true);
            }
            Ok(())
        })
        .await?
    }

    /// Blocking: remove a container that does not run (deleting a shim
    /// and cgroups that may be left, and unmounting).
    pub(crate) fn remove_stopped(&self, id: &str) -> Result<(), ContainerError> {
        self.discard_prepared(id);
        let Some(record) = self.store.get(id) else {
            return Ok(());
        };
        if record.state.status.is_live() {
            return Err(ContainerError::Conflict(format!(
                "cannot remove container \"/{}\": container is running",
                record.name
            )));
        }
        if let Ok(h) = self.connect_shim(id) {
            let _ = h.delete(true);
        }
        let host = &self.runtime.host;
        if let Err(e) = host.remove_cgroups(id, &record.cgroup()) {
            tracing::warn!("{e}");
        }
        host.unmount(&Rootfs::new(&self.store.dir(id)))?;
        skiff_failpoint::point!(skiff_failpoint::RM_AFTER_UNMOUNT);
        self.forget(&record)
    }

    /// Blocking: remove an `--rm` container whose exit was just handled
    /// (shim deleted, cgroups removed, unmounted) — unless it was started
    /// again meanwhile.
    pub(crate) fn remove_exited(&self, id: &str) -> Result<(), ContainerError> {
        match self.store.get(id) {
            Some(record) if !record.state.status.is_live() => self.forget(&record),
            _ => Ok(()),
        }
    }

    /// Drop the record (its directory is deleted in the background) and
    /// its execs, and tell the waiters.
    fn forget(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let id = record.id.as_str();
        self.stop_health(id);
        self.store.remove(id)?;
        self.network_forget(id);
        // `--rm` takes the anonymous volumes with it, as dockerd's does.
        self.release_mounts(record, record.host_config.auto_remove.unwrap_or(false));
        self.forget_execs(id);
        self.remember_exit(id, record.state.exit_code);
        self.notify(id, None);
        self.watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.record_event("destroy", record, &[]);
        Ok(())
    }
}
