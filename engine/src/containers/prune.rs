//! `docker container prune`: remove every stopped container.

use std::sync::Arc;

use super::ContainerService;
use super::error::ContainerError;

impl ContainerService {
    /// Remove all containers that do not run; returns their ids and the
    /// bytes their writable layers held (`SpaceReclaimed`).
    pub async fn prune(self: &Arc<Self>) -> Result<(Vec<String>, u64), ContainerError> {
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for r in self
            .store
            .all()
            .into_iter()
            .filter(|r| !r.state.status.is_live())
        {
            let svc = self.clone();
            let id = r.id.clone();
            reclaimed += tokio::task::spawn_blocking(move || {
                let size = svc.size_rw(&id);
                svc.remove_stopped(&id).map(|()| size)
            })
            .await??;
            removed.push(r.id);
        }
        self.events
            .publish(crate::events::EventType::Container, "prune", "", &[]);
        Ok((removed, reclaimed))
    }

    /// Counts for `/info`: (total, running, paused, stopped).
    pub fn counts(&self) -> (i64, i64, i64, i64) {
        use super::record::Status;
        let all = self.store.all();
        let n = |s: Status| all.iter().filter(|r| r.state.status == s).count() as i64;
        let running = n(Status::Running) + n(Status::Restarting);
        let paused = n(Status::Paused);
        let total = all.len() as i64;
        (total, running, paused, total - running - paused)
    }
}
