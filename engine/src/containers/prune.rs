//! `docker container prune`: remove the stopped containers its filters
//! (dockerd's `until`, `label`, `label!`) select.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::ContainerService;
use super::error::ContainerError;
use super::record::ContainerRecord;
use crate::volumes::LabelFilter;

/// Which stopped containers a prune removes; the default: all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// `until=`: only containers created before this instant (nanoseconds
    /// since the epoch).
    pub until: Option<i64>,
    /// `label=` (all must match) and `label!=` (excluded when all match),
    /// dockerd's rule.
    pub labels: Vec<LabelFilter>,
}

impl PruneFilter {
    /// Whether the filter selects container `r` (its state aside).
    pub fn selects(&self, r: &ContainerRecord) -> bool {
        if let Some(until) = self.until {
            let created = time::OffsetDateTime::parse(
                &r.created,
                &time::format_description::well_known::Rfc3339,
            )
            .map(|t| t.unix_timestamp_nanos());
            // A record whose creation time cannot be read is kept.
            if !created.is_ok_and(|c| c < i128::from(until)) {
                return false;
            }
        }
        let labels: BTreeMap<String, String> = r
            .config
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        crate::volumes::list::labels_match(&self.labels, &labels)
    }
}

impl ContainerService {
    /// Remove the containers that do not run and `filter` selects; returns
    /// their ids and the bytes their writable layers held
    /// (`SpaceReclaimed`).
    pub async fn prune(
        self: &Arc<Self>,
        filter: &PruneFilter,
    ) -> Result<(Vec<String>, u64), ContainerError> {
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for r in self
            .store
            .all()
            .into_iter()
            .filter(|r| !r.state.status.is_live() && filter.selects(r))
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
