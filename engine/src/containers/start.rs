//! `docker start`: mount the root filesystem, write the bundle, spawn the
//! shim with the start deferred, let early attachers connect, then start
//! the process and watch for its exit.

use std::sync::Arc;
use std::time::Duration;

use skiff_shim::client::{LogTarget, SpawnOptions};
use tokio::sync::oneshot;

use super::ContainerService;
use super::error::ContainerError;
use super::init_layer;
use super::record::Status;
use super::rootfs::Rootfs;
use super::runtime::ShimRef;
use super::spec;
use crate::images::now_rfc3339;

/// How long a pre-start attacher has to connect.
const ATTACH_GRACE: Duration = Duration::from_secs(5);

/// What a start did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// The process now runs.
    Yes,
    /// It was running already (docker answers 304).
    AlreadyRunning,
}

impl ContainerService {
    /// Start a container.
    pub async fn start(self: &Arc<Self>, what: &str) -> Result<Started, ContainerError> {
        let record = self.resolve(what)?;
        match record.state.status {
            Status::Running | Status::Restarting => return Ok(Started::AlreadyRunning),
            Status::Paused => {
                return Err(ContainerError::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ));
            }
            Status::Removing | Status::Dead => {
                return Err(ContainerError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    record.id
                )));
            }
            Status::Created | Status::Exited => {}
        }
        let id = record.id.clone();
        let svc = self.clone();
        let spawned = tokio::task::spawn_blocking(move || match svc.take_prepared(&id) {
            Some(h) => Ok(h),
            None => svc.spawn_shim(&id),
        })
        .await?;
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => {
                self.fail_start(&record.id, &e);
                return Err(e);
            }
        };
        skiff_failpoint::point!(skiff_failpoint::START_AFTER_SPAWN);
        // Attachers that came before the start see every byte of output.
        let pending = self
            .pending_attach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&record.id)
            .unwrap_or_default();
        let mut acks = Vec::new();
        for waiter in pending {
            let (ack_tx, ack_rx) = oneshot::channel();
            if waiter.send((handle.clone(), ack_tx)).is_ok() {
                acks.push(ack_rx);
            }
        }
        for ack in acks {
            let _ = tokio::time::timeout(ATTACH_GRACE, ack).await;
        }
        let h = handle.clone();
        let started =
            tokio::task::spawn_blocking(move || h.start().and_then(|()| h.state())).await?;
        let state = match started {
            Ok(s) => s,
            Err(e) => {
                let e = ContainerError::Shim(e);
                let h = handle.clone();
                let _ = tokio::task::spawn_blocking(move || h.delete(true)).await;
                self.fail_start(&record.id, &e);
                return Err(e);
            }
        };
        skiff_failpoint::point!(skiff_failpoint::START_BEFORE_RECORD);
        let now = now_rfc3339();
        let record = self.update(&record.id, |r| {
            r.state.status = Status::Running;
            r.state.pid = i64::from(state.pid);
            r.state.started_at = now.clone();
            r.state.error.clear();
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.stopped_by_user = false;
            super::health::reset_for_start(r);
        })?;
        self.record_event("start", &record, &[]);
        self.monitor(record.id.clone(), handle);
        self.start_health(&record.id);
        Ok(Started::Yes)
    }

    /// Blocking: mount, write the bundle, spawn the shim (start deferred).
    pub(super) fn spawn_shim(&self, id: &str) -> Result<ShimRef, ContainerError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_owned()))?;
        let dir = self.store.dir(id);
        // Containers made before init layers get theirs at their next start.
        init_layer::ensure(&dir)
            .map_err(|e| ContainerError::io(format!("init layer of container {id}"), e))?;
        let lower = self.image_lower_dirs(&record)?;
        // An --rm container's writable layer is never synced (see rootfs).
        let rootfs = Rootfs::new(&dir).volatile(record.host_config.auto_remove.unwrap_or(false));
        let host = &self.runtime.host;
        host.mount(&rootfs, &lower)?;
        skiff_failpoint::point!(skiff_failpoint::START_AFTER_MOUNT);
        let result = (|| {
            let mut bundle = spec::bundle(&record, &dir, &rootfs.target, &self.config.init)?;
            let net = self.network_join(&record)?;
            bundle.host_network = net.host;
            self.network_files(
                &record,
                &dir,
                bundle.hostname.as_deref().unwrap_or_default(),
                &net,
            )?;
            self.share_etc_files(&mut bundle, &net)?;
            super::links::merge_env(&mut bundle.env, &net.links.env);
            bundle.network_ns = net.netns;
            bundle
                .mounts
                .extend(self.oci_mounts(&record, &rootfs.target)?);
            let bundle_dir = dir.join("bundle");
            bundle.write(&bundle_dir)?;
            let shim_dir = self.shim_dir(id);
            // A shim left by an earlier run of this container is finished with.
            if let Ok(old) = self.connect_shim(id) {
                let _ = old.delete(true);
            }
            let _ = std::fs::remove_dir_all(&shim_dir);
            // The runtime's client knows its binary.
            let mut opts = SpawnOptions::new("skiff-shim", id, &bundle_dir, &shim_dir);
            opts.stdin = record.config.open_stdin.unwrap_or(false);
            opts.log = LogTarget::Path(self.log_path(id));
            opts.defer_start = true;
            match self.runtime.shims.spawn(opts) {
                Ok(()) => Ok(self.shim(id)),
                Err(source) => Err(ContainerError::StartFailed {
                    message: start_error(&record.path, &source.to_string()),
                    source,
                }),
            }
        })();
        if result.is_err() {
            self.network_leave(id);
            self.unmount_volumes(id);
            let _ = host.unmount(&rootfs);
        }
        result
    }

    fn fail_start(&self, id: &str, e: &ContainerError) {
        // Attachers waiting for this start will not get it.
        self.pending_attach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let msg = e.to_string();
        let code = exit_code_for(&msg);
        self.unmount_volumes(id);
        let _ = self.runtime.host.unmount(&Rootfs::new(&self.store.dir(id)));
        self.network_leave(id);
        let _ = self.update(id, |r| {
            r.state.error = msg.clone();
            r.state.exit_code = code;
            if r.state.status != Status::Created {
                r.state.status = Status::Exited;
            }
        });
        // Like dockerd: an auto-remove container that cannot start is removed.
        if self
            .store
            .get(id)
            .is_some_and(|r| r.host_config.auto_remove.unwrap_or(false))
        {
            let _ = self.remove_stopped(id);
        }
    }
}

/// Word a failed exec as docker (and so the CLI's exit code 126/127) does.
fn start_error(path: &str, shim: &str) -> String {
    let lower = shim.to_ascii_lowercase();
    if lower.contains("not found") || lower.contains("no such file") {
        format!(
            "failed to create task for container: exec: \"{path}\": executable file not found in $PATH: {shim}"
        )
    } else if lower.contains("permission") {
        format!("failed to create task for container: exec: \"{path}\": permission denied: {shim}")
    } else {
        format!("failed to create task for container: {shim}")
    }
}

/// The exit code docker records for a failed start.
fn exit_code_for(msg: &str) -> i64 {
    if msg.contains("executable file not found") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        128
    }
}
