//! The volume service: everything `docker volume …` does, with the `local`
//! driver, plus what containers need of volumes (references, mounts,
//! copy-up). It knows nothing of HTTP or of containers: callers pass typed
//! requests and container ids, errors carry an
//! [`ErrorKind`](crate::errdefs::ErrorKind) and dockerd's wording.
//!
//! One operation group per file: [`create`], [`remove`] (remove, prune),
//! [`list`] (inspect filters, list, disk usage), [`usage`] (references,
//! mounts, copy-up); the driver's options in [`local`], its OS calls behind
//! [`mounter::Mounter`], the copy itself in [`copyup`].
//!
//! On disk, dockerd's layout under `<data-root>/volumes/`:
//! `<name>/_data/` (the content, the `Mountpoint`), `<name>/opts.json` (the
//! driver options, only when there are some, in dockerd's form) and
//! `<name>/volume.json` (skiffd's record: labels, options, creation time —
//! what dockerd keeps in `metadata.db`).
//!
//! Contracts:
//! - crash safety: a volume directory exists under its final name only when
//!   complete (it is built under a `.tmp-` name and renamed into place), and
//!   removal renames it away before deleting, so a kill -9 during create or
//!   remove leaves the volume fully there or fully gone; [`VolumeService::open`]
//!   deletes `.tmp-` leftovers (never through a mount: a leftover whose
//!   `_data` is still a mount point is unmounted first, or kept) and reloads
//!   every record; a volume directory without `volume.json` (made by
//!   dockerd) is adopted with no labels;
//! - references (which containers use a volume) live in memory only, as in
//!   dockerd: the daemon re-adds them for every container it restores;
//! - one lock serialises the service's operations; they are blocking (they
//!   touch the filesystem), so async callers use `spawn_blocking`;
//! - events go on the bus: `volume` `create`, `destroy`, `mount`, `unmount`,
//!   `prune`, with dockerd's attributes.

pub mod copyup;
pub mod create;
pub mod error;
pub mod list;
pub mod local;
pub mod mounter;
pub mod remove;
pub mod usage;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use skiff_store::atomic::TMP_PREFIX;

pub use create::CreateRequest;
pub use error::VolumeError;
pub use list::{LabelFilter, ListFilter, VolumeUsage};
pub use local::LocalOptions;
pub use mounter::{MountCall, Mounter, SysMounter};
pub use remove::{PruneReport, PruneRequest, PruneScope};
pub use usage::MountRef;

use crate::events::Events;

/// The only driver.
pub const LOCAL_DRIVER: &str = "local";
/// The label dockerd (≥ 23) sets on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The content directory inside a volume's directory.
const DATA_DIR: &str = "_data";
/// dockerd's driver-options file.
const OPTS_FILE: &str = "opts.json";
/// skiffd's record.
const RECORD_FILE: &str = "volume.json";

/// What `docker volume inspect` shows of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The name (64 hex digits for an anonymous volume).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// `<data-root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// RFC 3339, seconds.
    pub created_at: String,
    /// Labels (`com.docker.volume.anonymous` for anonymous volumes).
    pub labels: BTreeMap<String, String>,
    /// Driver options as given at create.
    pub options: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: &'static str,
}

impl Volume {
    /// Whether the volume was created without a name.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// `volume.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VolumeRecord {
    name: String,
    driver: String,
    created_at: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

/// A loaded volume and its runtime state.
#[derive(Debug)]
struct Entry {
    record: VolumeRecord,
    /// The driver options, when the volume has any.
    local: Option<LocalOptions>,
    /// Users of the driver-level mount (containers running, copy-ups).
    active: u64,
    /// Whether the device is mounted on `_data`.
    mounted: bool,
}

/// The service's state, under one lock.
#[derive(Debug, Default)]
struct State {
    volumes: BTreeMap<String, Entry>,
    /// Volume name → ids of the containers using it.
    refs: BTreeMap<String, BTreeSet<String>>,
}

/// The volume service.
#[derive(Debug)]
pub struct VolumeService {
    /// `<data-root>/volumes`.
    root: PathBuf,
    state: Mutex<State>,
    mounter: Arc<dyn Mounter>,
    events: Events,
    /// Set while a prune runs.
    pruning: AtomicBool,
}

impl VolumeService {
    /// Open the service over `<data_root>/volumes` with the real mount
    /// calls; see [`VolumeService::open_with`].
    pub fn open(data_root: &Path, events: Events) -> Result<Self, VolumeError> {
        Self::open_with(data_root, events, Arc::new(SysMounter))
    }

    /// Open the service: create the volumes directory (mode 0701, as
    /// dockerd), delete the remains of interrupted creates and removes, and
    /// load every volume (noting which devices are still mounted).
    pub fn open_with(
        data_root: &Path,
        events: Events,
        mounter: Arc<dyn Mounter>,
    ) -> Result<Self, VolumeError> {
        let root = data_root.join("volumes");
        if !root.exists() {
            fs::create_dir_all(&root)
                .map_err(VolumeError::io("error while creating volume root", &root))?;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o701))
                .map_err(VolumeError::io("error while creating volume root", &root))?;
        }
        let service = Self {
            root,
            state: Mutex::new(State::default()),
            mounter,
            events,
            pruning: AtomicBool::new(false),
        };
        service.sweep()?;
        let volumes = service.load()?;
        service.lock().volumes = volumes;
        Ok(service)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A volume's directory.
    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Delete `.tmp-` leftovers, unmounting a still-mounted `_data` first.
    fn sweep(&self) -> Result<(), VolumeError> {
        let entries = fs::read_dir(&self.root)
            .map_err(VolumeError::io("error reading volumes", &self.root))?;
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                continue;
            }
            let path = entry.path();
            if let Err(e) = self.delete_tree(&path) {
                tracing::warn!("keeping volume leftover {}: {e}", path.display());
            }
        }
        Ok(())
    }

    /// Delete a volume directory that is no longer under its name, making
    /// sure its `_data` is not a mount point (deleting through a bind mount
    /// would delete the host's files).
    fn delete_tree(&self, path: &Path) -> Result<(), VolumeError> {
        let data = path.join(DATA_DIR);
        let mounted = |p: &Path| {
            self.mounter
                .is_mounted(p)
                .map_err(VolumeError::io("error checking mounts of", p))
        };
        if mounted(&data)? {
            self.mounter
                .unmount(&data)
                .map_err(|errno| VolumeError::Unmount(mounter::MountError::umount(&data, errno)))?;
            if mounted(&data)? {
                return Err(VolumeError::Io {
                    context: "error removing volume path",
                    path: data,
                    source: std::io::Error::other("still mounted"),
                });
            }
        }
        fs::remove_dir_all(path).map_err(VolumeError::io("error removing volume path", path))
    }

    /// Read every volume directory.
    fn load(&self) -> Result<BTreeMap<String, Entry>, VolumeError> {
        let mut volumes = BTreeMap::new();
        let entries = fs::read_dir(&self.root)
            .map_err(VolumeError::io("error reading volumes", &self.root))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            if !dir.is_dir() || name.starts_with(TMP_PREFIX) {
                continue;
            }
            let Some(record) = read_record(&dir, &name)? else {
                tracing::debug!("skipping non-volume directory {}", dir.display());
                continue;
            };
            let local = read_opts(&dir, &name)?;
            let mounted = match &local {
                Some(o) if o.needs_mount() => self
                    .mounter
                    .is_mounted(&dir.join(DATA_DIR))
                    .unwrap_or(false),
                _ => false,
            };
            volumes.insert(
                name,
                Entry {
                    record,
                    local,
                    active: 0,
                    mounted,
                },
            );
        }
        Ok(volumes)
    }

    /// The inspect view of a loaded volume.
    fn view(&self, entry: &Entry) -> Volume {
        let r = &entry.record;
        Volume {
            name: r.name.clone(),
            driver: r.driver.clone(),
            mountpoint: self.dir(&r.name).join(DATA_DIR),
            created_at: r.created_at.clone(),
            labels: r.labels.clone(),
            options: r.options.clone(),
            scope: "local",
        }
    }

    /// Inspect a volume.
    pub fn inspect(&self, name: &str) -> Result<Volume, VolumeError> {
        let state = self.lock();
        let entry = state
            .volumes
            .get(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        Ok(self.view(entry))
    }

    /// Number of volumes.
    pub fn count(&self) -> usize {
        self.lock().volumes.len()
    }

    /// Publish a volume event.
    fn event(&self, action: &str, actor: &str, attributes: &[(&str, &str)]) {
        self.events
            .publish(crate::events::EventType::Volume, action, actor, attributes);
    }
}

/// Read `volume.json`; adopt a dockerd-made volume (a `_data` or an
/// `opts.json`, no record) with no labels. `None` for a non-volume directory.
fn read_record(dir: &Path, name: &str) -> Result<Option<VolumeRecord>, VolumeError> {
    let path = dir.join(RECORD_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| VolumeError::Record {
                    name: name.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !dir.join(DATA_DIR).exists() && !dir.join(OPTS_FILE).exists() {
                return Ok(None);
            }
            let created = fs::metadata(dir)
                .ok()
                .and_then(|m| m.modified().ok())
                .map(time::OffsetDateTime::from)
                .unwrap_or_else(time::OffsetDateTime::now_utc);
            Ok(Some(VolumeRecord {
                name: name.to_owned(),
                driver: LOCAL_DRIVER.to_owned(),
                created_at: rfc3339_seconds(created),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
            }))
        }
        Err(e) => Err(VolumeError::io("error reading volume record", &path)(e)),
    }
}

/// Read `opts.json` (absent: no options).
fn read_opts(dir: &Path, name: &str) -> Result<Option<LocalOptions>, VolumeError> {
    let path = dir.join(OPTS_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let opts: LocalOptions =
                serde_json::from_slice(&bytes).map_err(|source| VolumeError::Record {
                    name: name.to_owned(),
                    source,
                })?;
            Ok(Some(opts).filter(|o| *o != LocalOptions::default()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VolumeError::io("error reading volume options", &path)(e)),
    }
}

/// `time` as docker's volume `CreatedAt`: RFC 3339 to the second.
fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests;
