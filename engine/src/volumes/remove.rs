//! `docker volume rm` and `docker volume prune`.

use std::fs;
use std::sync::atomic::Ordering;

use skiff_store::atomic;

use super::list::{LabelFilter, labels_match};
use super::mounter::MountError;
use super::{DATA_DIR, LOCAL_DRIVER, State, VolumeError, VolumeService};
use crate::containers::stats::disk::tree_size;

/// Which unused volumes a prune takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PruneScope {
    /// Only anonymous ones: API ≥ 1.42 without the `all=true` filter.
    #[default]
    Anonymous,
    /// Every unused one: `all=true`, and every request of API < 1.42.
    All,
}

/// A prune request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRequest {
    /// Anonymous volumes only, or all.
    pub scope: PruneScope,
    /// `label=` and `label!=` filters.
    pub labels: Vec<LabelFilter>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Names of the removed volumes.
    pub volumes_deleted: Vec<String>,
    /// Bytes their content took.
    pub space_reclaimed: u64,
}

impl VolumeService {
    /// Remove a volume. Refused (409) while a container uses it, `force`
    /// or not; with `force` a missing volume is not an error (dockerd's
    /// `PurgeOnError`). The volume's device is unmounted, its directory
    /// renamed away (from then on it is gone, even after a crash), then
    /// deleted. Publishes `destroy`.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let mut state = self.lock();
        let Some(entry) = state.volumes.get(name) else {
            return if force {
                Ok(())
            } else {
                Err(VolumeError::NotFound(name.to_owned()))
            };
        };
        if let Some(users) = state.refs.get(name).filter(|r| !r.is_empty()) {
            return Err(VolumeError::InUse {
                name: name.to_owned(),
                containers: users.iter().cloned().collect(),
            });
        }
        if entry.active > 0 {
            return Err(VolumeError::ActiveMounts(name.to_owned()));
        }
        self.destroy(&mut state, name)?;
        drop(state);
        self.event("destroy", name, &[("driver", LOCAL_DRIVER)]);
        Ok(())
    }

    /// Unmount, rename away and delete an unused volume.
    fn destroy(&self, state: &mut State, name: &str) -> Result<(), VolumeError> {
        let dir = self.dir(name);
        let data = dir.join(DATA_DIR);
        if let Some(entry) = state.volumes.get_mut(name) {
            if entry.mounted {
                self.mounter
                    .unmount(&data)
                    .map_err(|errno| VolumeError::Unmount(MountError::umount(&data, errno)))?;
                entry.mounted = false;
            }
        }
        let away = atomic::temp_sibling(&dir);
        fs::rename(&dir, &away).map_err(VolumeError::io("error removing volume path", &dir))?;
        atomic::sync_parent(&dir).map_err(VolumeError::io("error removing volume path", &dir))?;
        skiff_failpoint::point!(skiff_failpoint::VOLUME_RM_AFTER_RENAME);
        state.volumes.remove(name);
        state.refs.remove(name);
        if let Err(e) = self.delete_tree(&away) {
            // Gone under its name; `open` deletes the rest.
            tracing::warn!("volume {name} removed, its files not yet: {e}");
        }
        Ok(())
    }

    /// Remove unused local volumes without driver options that match the
    /// request (anonymous ones only unless [`PruneScope::All`]). A volume
    /// that fails to go is skipped. Publishes `destroy` for each and one
    /// `prune` with the bytes reclaimed. One prune at a time.
    pub fn prune(&self, req: &PruneRequest) -> Result<PruneReport, VolumeError> {
        if self.pruning.swap(true, Ordering::AcqRel) {
            return Err(VolumeError::PruneRunning);
        }
        let report = self.prune_now(req);
        self.pruning.store(false, Ordering::Release);
        let reclaimed = report.space_reclaimed.to_string();
        self.event("prune", "", &[("reclaimed", &reclaimed)]);
        Ok(report)
    }

    fn prune_now(&self, req: &PruneRequest) -> PruneReport {
        let mut report = PruneReport::default();
        let mut state = self.lock();
        let candidates: Vec<String> = state
            .volumes
            .iter()
            .filter(|(name, e)| {
                e.record.driver == LOCAL_DRIVER
                    && e.record.options.is_empty()
                    && e.active == 0
                    && state.refs.get(*name).is_none_or(|r| r.is_empty())
                    && (req.scope == PruneScope::All
                        || e.record.labels.contains_key(super::ANONYMOUS_LABEL))
                    && labels_match(&req.labels, &e.record.labels)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in candidates {
            let size = tree_size(&self.dir(&name).join(DATA_DIR));
            match self.destroy(&mut state, &name) {
                Ok(()) => {
                    self.event("destroy", &name, &[("driver", LOCAL_DRIVER)]);
                    report.space_reclaimed += size;
                    report.volumes_deleted.push(name);
                }
                Err(e) => tracing::warn!("could not remove volume {name}: {e}"),
            }
        }
        report
    }
}
