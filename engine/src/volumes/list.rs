//! `docker volume ls` with its filters, and the volumes part of
//! `docker system df`.

use std::collections::BTreeMap;

use super::{DATA_DIR, LOCAL_DRIVER, Volume, VolumeService};
use crate::containers::stats::disk::tree_size;

/// One `label=` (or, for prune, `label!=`) filter: `key` or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    /// The label's key.
    pub key: String,
    /// The value it must have, if any.
    pub value: Option<String>,
    /// `label!=`: exclude what matches.
    pub negate: bool,
}

impl LabelFilter {
    /// Parse `key` or `key=value`.
    pub fn parse(filter: &str, negate: bool) -> Self {
        let (key, value) = match filter.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (filter, None),
        };
        Self {
            key: key.to_owned(),
            value,
            negate,
        }
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels
            .get(&self.key)
            .is_some_and(|v| self.value.as_ref().is_none_or(|want| want == v))
    }
}

/// dockerd's label rule: every `label=` filter matches, and not every
/// `label!=` filter matches (a volume is excluded when all of them do).
pub(crate) fn labels_match(filters: &[LabelFilter], labels: &BTreeMap<String, String>) -> bool {
    let (negative, positive): (Vec<_>, Vec<_>) = filters.iter().partition(|f| f.negate);
    positive.iter().all(|f| f.matches(labels))
        && (negative.is_empty() || !negative.iter().all(|f| f.matches(labels)))
}

/// `docker volume ls` filters (all given must hold; several values of one
/// filter: any may match, labels: all must).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// `name=`: the name is, or contains, one of these. (dockerd matches
    /// them as regular expressions; skiffd matches them literally.)
    pub names: Vec<String>,
    /// `label=`.
    pub labels: Vec<LabelFilter>,
    /// `dangling=true` (unused) or `false` (used).
    pub dangling: Option<bool>,
    /// `driver=`.
    pub drivers: Vec<String>,
}

/// A volume's `docker system df -v` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    /// The volume.
    pub volume: Volume,
    /// Bytes of its content, -1 if it could not be measured.
    pub size: i64,
    /// Containers using it.
    pub ref_count: u64,
}

impl VolumeService {
    /// The volumes matching `filter`, by name.
    pub fn list(&self, filter: &ListFilter) -> Vec<Volume> {
        let state = self.lock();
        state
            .volumes
            .iter()
            .filter(|(name, e)| {
                let used = state.refs.get(*name).is_some_and(|r| !r.is_empty());
                (filter.names.is_empty() || filter.names.iter().any(|n| name.contains(n.as_str())))
                    && (filter.drivers.is_empty() || filter.drivers.contains(&e.record.driver))
                    && filter.dangling.is_none_or(|dangling| dangling != used)
                    && labels_match(&filter.labels, &e.record.labels)
            })
            .map(|(_, e)| self.view(e))
            .collect()
    }

    /// Sizes and reference counts of the local volumes without driver
    /// options (those with options are not really local, as dockerd says).
    /// Blocking: walks every volume.
    pub fn disk_usage(&self) -> Vec<VolumeUsage> {
        let rows: Vec<(Volume, u64)> = {
            let state = self.lock();
            state
                .volumes
                .iter()
                .filter(|(_, e)| e.record.driver == LOCAL_DRIVER && e.record.options.is_empty())
                .map(|(name, e)| {
                    let refs = state.refs.get(name).map_or(0, |r| r.len() as u64);
                    (self.view(e), refs)
                })
                .collect()
        };
        rows.into_iter()
            .map(|(volume, ref_count)| {
                let data = self.dir(&volume.name).join(DATA_DIR);
                let size = if data.is_dir() {
                    i64::try_from(tree_size(&data)).unwrap_or(i64::MAX)
                } else {
                    -1
                };
                VolumeUsage {
                    volume,
                    size,
                    ref_count,
                }
            })
            .collect()
    }
}
