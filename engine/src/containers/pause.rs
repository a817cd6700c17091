//! `docker pause` / `unpause`: freeze and thaw the container's cgroup
//! through its shim.

use super::ContainerService;
use super::error::ContainerError;
use super::record::Status;

impl ContainerService {
    /// Pause (`true`) or unpause (`false`) a container.
    pub async fn set_paused(
        self: &std::sync::Arc<Self>,
        what: &str,
        pause: bool,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(what)?;
        match (record.state.status, pause) {
            (Status::Running, true) | (Status::Paused, false) => {}
            (Status::Paused, true) => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is already paused",
                    record.id
                )));
            }
            (_, true) => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is not running",
                    record.id
                )));
            }
            (_, false) => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is not paused",
                    record.id
                )));
            }
        }
        // A paused container is not probed (dockerd stops its monitor,
        // which leaves it unhealthy once paused).
        let monitored = pause && self.stop_health(&record.id);
        let shim = self.shim(&record.id);
        let done = tokio::task::spawn_blocking(move || {
            shim.state()?;
            shim.set_paused(pause)
        })
        .await;
        let done = match done {
            Ok(r) => r.map_err(ContainerError::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = done {
            if pause {
                self.start_health(&record.id);
            }
            return Err(e);
        }
        let record = self.update(&record.id, |r| {
            r.state.status = if pause {
                Status::Paused
            } else {
                Status::Running
            };
            if monitored {
                super::health::mark_unmonitored(r);
            }
        })?;
        self.record_event(if pause { "pause" } else { "unpause" }, &record, &[]);
        if !pause {
            self.start_health(&record.id);
        }
        Ok(())
    }
}
