//! A container's mounts over its life, as dockerd handles them:
//!
//! - **create** ([`ContainerService::resolve_mounts`]): every form (`-v`,
//!   `--mount`, `--tmpfs`, `--volumes-from`) parsed by [`crate::mounts`]
//!   into one plan, the image's `VOLUME`s added as anonymous volumes where
//!   nothing else is mounted, and every volume created (or found) with the
//!   container recorded as its user; the plan is kept in the record;
//! - **start** ([`ContainerService::oci_mounts`]): a bind's missing `-v`
//!   source is created, each volume is populated from the image (copy-up:
//!   content, owner and mode, only into an empty volume) and mounted
//!   (`mount` event), and the OCI mounts are returned for the bundle;
//! - **exit** ([`ContainerService::unmount_volumes`]): the volumes are
//!   unmounted (`unmount` events), once per start;
//! - **removal** ([`ContainerService::release_mounts`]): the container stops
//!   being a user of its volumes; anonymous ones are removed with `rm -v`
//!   and `--rm` (never named ones, nor one another container still uses).
//!
//! The volume service is given once, at [`ContainerService::attach_volumes`]
//! (from `Daemon::open`), which re-adds the references of every container
//! (dockerd keeps them in memory only) and re-takes the mounts of running
//! ones. A container service without one refuses volume mounts.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bollard_stubs::models::{ContainerConfig, HostConfig, MountPoint};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Mount, MountBuilder};

use super::ContainerService;
use super::error::ContainerError;
use super::record::ContainerRecord;
use crate::mounts::{
    HostFs, MountConfig, MountKind, MountRequest, MountSpec, inherit, parse_volumes_from, plan,
    sort_for_mounting, tmpfs_options,
};
use crate::volumes::{CreateRequest, MountRef, VolumeService};

/// The volume service as the container service uses it.
#[derive(Debug)]
pub(crate) struct VolumeLink {
    service: Arc<VolumeService>,
    /// Container id → the volumes its running process has mounted.
    mounted: Mutex<HashMap<String, Vec<String>>>,
}

impl ContainerService {
    /// Give the service its volume service (once; later calls are ignored),
    /// re-adding every container's references and, for the ones that run,
    /// their volume mounts.
    pub fn attach_volumes(&self, service: Arc<VolumeService>) {
        let mut mounted = HashMap::new();
        for record in self.store.snapshot().iter() {
            let live = record.state.status.is_live();
            let mut names = Vec::new();
            for name in volume_names(record) {
                if let Err(e) = service.add_ref(name, &record.id) {
                    tracing::warn!("container {}: {e}", record.short_id());
                    continue;
                }
                if live {
                    match service.reacquire(name) {
                        Ok(_) => names.push(name.to_owned()),
                        Err(e) => tracing::warn!("container {}: {e}", record.short_id()),
                    }
                }
            }
            if !names.is_empty() {
                mounted.insert(record.id.clone(), names);
            }
        }
        let _ = self.volumes.set(VolumeLink {
            service,
            mounted: Mutex::new(mounted),
        });
    }

    fn volume_service(&self) -> Result<&Arc<VolumeService>, ContainerError> {
        self.volumes
            .get()
            .map(|l| &l.service)
            .ok_or_else(|| ContainerError::Runtime("volumes are not available".into()))
    }

    /// Blocking: the mounts of a container being created as `id`, every
    /// volume created or found and referenced by `id`. On error nothing is
    /// left referenced and the anonymous volumes made are removed.
    pub(super) fn resolve_mounts(
        &self,
        id: &str,
        config: &ContainerConfig,
        host: &HostConfig,
    ) -> Result<Vec<MountSpec>, ContainerError> {
        let mut inherited = Vec::new();
        for spec in host.volumes_from.iter().flatten() {
            let (from, mode) = parse_volumes_from(spec)?;
            let other = self.resolve(&from)?;
            inherited.extend(inherit(&other.mounts, &mode));
        }
        let requests: Vec<MountRequest> = host.mounts.iter().flatten().map(Into::into).collect();
        for r in &requests {
            refuse_unsupported(r)?;
        }
        let tmpfs = tmpfs_of(host);
        let binds = host.binds.clone().unwrap_or_default();
        let cfg = MountConfig {
            binds: &binds,
            mounts: &requests,
            tmpfs: &tmpfs,
            volume_driver: host.volume_driver.as_deref().unwrap_or_default(),
        };
        let mut mounts = plan(inherited, &cfg, &HostFs)?;
        if let Some(shares) = &self.config.host_shares {
            for m in mounts.iter().filter(|m| m.kind == MountKind::Bind) {
                shares.check(&m.source, &HostFs)?;
            }
        }
        let mut image_targets = Vec::new();
        for path in config.volumes.iter().flatten() {
            let image = MountSpec::image_volume(path);
            if !mounts.iter().any(|m| m.target == image.target) {
                image_targets.push(image.target.clone());
                mounts.push(image);
            }
        }
        let mut mounts = sort_for_mounting(mounts);
        if !mounts.iter().any(|m| m.kind == MountKind::Volume) {
            return Ok(mounts);
        }
        let volumes = self.volume_service()?.clone();
        let mut done: Vec<String> = Vec::new();
        let result = (|| {
            for m in mounts.iter_mut().filter(|m| m.kind == MountKind::Volume) {
                let volume = volumes.create(CreateRequest {
                    name: Some(m.source.clone()).filter(|s| !s.is_empty()),
                    driver: m.volume_driver.clone(),
                    labels: m.volume_labels.clone(),
                    options: m.volume_options.clone(),
                    reference: Some(id.to_owned()),
                })?;
                done.push(volume.name.clone());
                if image_targets.contains(&m.target) {
                    m.source = volume.name;
                } else {
                    m.attach_volume(&volume.name);
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            release(&volumes, id, &done, true);
            return Err(e);
        }
        Ok(mounts)
    }

    /// Blocking: the OCI mounts of `record` for a start with its root
    /// filesystem mounted at `rootfs`: binds (a missing `-v` source
    /// created), volumes populated from the image and mounted (`mount`
    /// events), tmpfs. On error the volumes mounted so far are unmounted.
    pub(super) fn oci_mounts(
        &self,
        record: &ContainerRecord,
        rootfs: &Path,
    ) -> Result<Vec<Mount>, ContainerError> {
        let mut out = Vec::new();
        let mut mounted = Vec::new();
        let result = (|| {
            for m in mounts_of(record)? {
                let rw = if m.read_only { "ro" } else { "rw" };
                let mount = match m.kind {
                    MountKind::Bind => {
                        if m.create_source && !Path::new(&m.source).exists() {
                            std::fs::create_dir_all(&m.source).map_err(|e| {
                                ContainerError::io(format!("creating bind source {}", m.source), e)
                            })?;
                        }
                        let bind = if m.non_recursive { "bind" } else { "rbind" };
                        let propagation = m.propagation.map_or("rprivate", |p| p.as_str());
                        oci_mount(&m.target, "bind", &m.source, &[bind, propagation, rw])?
                    }
                    MountKind::Volume => {
                        let volumes = self.volume_service()?;
                        if m.copy_data {
                            populate(volumes, &m, rootfs)?;
                        }
                        let path = volumes.mount(
                            &m.source,
                            &MountRef {
                                container: &record.id,
                                destination: &m.target,
                                read_write: !m.read_only,
                                propagation: "",
                            },
                        )?;
                        mounted.push(m.source.clone());
                        let path = match &m.volume_subpath {
                            Some(sub) => path.join(sub),
                            None => path,
                        };
                        oci_mount(
                            &m.target,
                            "bind",
                            &path.to_string_lossy(),
                            &["rbind", "rprivate", rw],
                        )?
                    }
                    MountKind::Tmpfs => {
                        let options = tmpfs_options(&m.tmpfs_data)?;
                        let options: Vec<&str> = options.iter().map(String::as_str).collect();
                        oci_mount(&m.target, "tmpfs", "tmpfs", &options)?
                    }
                };
                out.push(mount);
            }
            Ok(())
        })();
        if !mounted.is_empty() {
            if let Some(link) = self.volumes.get() {
                let mut all = link.mounted.lock().unwrap_or_else(|p| p.into_inner());
                all.entry(record.id.clone()).or_default().extend(mounted);
            }
        }
        if let Err(e) = result {
            self.unmount_volumes(&record.id);
            return Err(e);
        }
        Ok(out)
    }

    /// Blocking: unmount the volumes container `id`'s last start mounted
    /// (`unmount` events); nothing if it has none mounted.
    pub(super) fn unmount_volumes(&self, id: &str) {
        let Some(link) = self.volumes.get() else {
            return;
        };
        let names = link
            .mounted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .unwrap_or_default();
        for name in names {
            if let Err(e) = link.service.unmount(&name, id) {
                tracing::warn!("container {id}: {e}");
            }
        }
    }

    /// Blocking: `record` (being removed) no longer uses its volumes; with
    /// `remove_anonymous`, its anonymous volumes that no other container
    /// uses are removed too.
    pub(super) fn release_mounts(&self, record: &ContainerRecord, remove_anonymous: bool) {
        self.unmount_volumes(&record.id);
        let Some(link) = self.volumes.get() else {
            return;
        };
        let names: Vec<String> = volume_names(record).map(str::to_owned).collect();
        release(&link.service, &record.id, &names, remove_anonymous);
    }

    /// Inspect's `Mounts` of `record`, as dockerd lists them (no
    /// `HostConfig.Tmpfs` entries; volumes with their `Mountpoint`).
    pub fn mount_points(&self, record: &ContainerRecord) -> Vec<MountPoint> {
        let tmpfs = record.host_config.tmpfs.as_ref();
        record
            .mounts
            .iter()
            .filter(|m| {
                !(m.kind == MountKind::Tmpfs && tmpfs.is_some_and(|t| t.contains_key(&m.target)))
            })
            .map(|m| {
                let path = (m.kind == MountKind::Volume)
                    .then(|| self.volume_service().ok()?.inspect(&m.source).ok())
                    .flatten()
                    .map(|v| v.mountpoint);
                m.mount_point(path.as_deref())
            })
            .collect()
    }

    /// The host directories `cp` sees at the container's volume and
    /// `--mount` bind destinations: `(source, destination, read-only)`.
    pub(super) fn mount_sources(&self, record: &ContainerRecord) -> Vec<(PathBuf, String, bool)> {
        record
            .mounts
            .iter()
            .filter_map(|m| {
                let source = match m.kind {
                    MountKind::Bind => PathBuf::from(&m.source),
                    MountKind::Volume => {
                        let path = self.volume_service().ok()?.inspect(&m.source).ok()?;
                        match &m.volume_subpath {
                            Some(sub) => path.mountpoint.join(sub),
                            None => path.mountpoint,
                        }
                    }
                    MountKind::Tmpfs => return None,
                };
                Some((source, m.target.clone(), m.read_only))
            })
            .collect()
    }
}

/// The names of the volumes `record` mounts.
fn volume_names(record: &ContainerRecord) -> impl Iterator<Item = &str> {
    record
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && !m.source.is_empty())
        .map(|m| m.source.as_str())
}

/// The mounts to make at start: the record's; for a record made before
/// skiffd kept them, its binds and tmpfs parsed now.
fn mounts_of(record: &ContainerRecord) -> Result<Vec<MountSpec>, ContainerError> {
    if !record.mounts.is_empty() {
        return Ok(record.mounts.clone());
    }
    let h = &record.host_config;
    let tmpfs = tmpfs_of(h);
    let binds = h.binds.clone().unwrap_or_default();
    let cfg = MountConfig {
        binds: &binds,
        tmpfs: &tmpfs,
        ..MountConfig::default()
    };
    let all = plan(Vec::new(), &cfg, &HostFs)?;
    Ok(all
        .into_iter()
        .filter(|m| m.kind != MountKind::Volume)
        .collect())
}

/// `HostConfig.Tmpfs`, ordered.
fn tmpfs_of(host: &HostConfig) -> BTreeMap<String, String> {
    host.tmpfs
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What skiffd cannot do with a `--mount`, refused by name.
fn refuse_unsupported(r: &MountRequest) -> Result<(), ContainerError> {
    let unsupported = |what: &str| {
        Err(ContainerError::InvalidArgument(format!(
            "invalid mount config: {what} is not supported by this engine"
        )))
    };
    if r.bind_options
        .as_ref()
        .is_some_and(|b| b.read_only_force_recursive)
    {
        return unsupported("bind-recursive=readonly (ReadOnlyForceRecursive)");
    }
    Ok(())
}

/// Stop `id` using `names`; with `remove_anonymous`, remove those that are
/// anonymous and unused now (a volume still in use stays, silently).
fn release(volumes: &VolumeService, id: &str, names: &[String], remove_anonymous: bool) {
    for name in names {
        volumes.release(name, id);
        if !remove_anonymous {
            continue;
        }
        let anonymous = volumes.inspect(name).is_ok_and(|v| v.is_anonymous());
        if anonymous && volumes.users(name).is_empty() {
            if let Err(e) = volumes.remove(name, false) {
                tracing::warn!("removing volume {name} of container {id}: {e}");
            }
        }
    }
}

/// dockerd's copy-up of the image's content at `m.target` (resolved in the
/// container's root, symlinks staying inside it) into volume `m.source`.
fn populate(volumes: &VolumeService, m: &MountSpec, rootfs: &Path) -> Result<(), ContainerError> {
    let Some(fd) = open_in_root(rootfs, &m.target) else {
        return Ok(());
    };
    let path = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    volumes.populate(&m.source, &path)?;
    Ok(())
}

/// `path` opened (`O_PATH`) in the directory tree `root` as if `root` were
/// `/`; `None` if it does not exist there.
fn open_in_root(root: &Path, path: &str) -> Option<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    let dir = nix::fcntl::open(root, flags | OFlag::O_DIRECTORY, Mode::empty()).ok()?;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(&dir, path.trim_start_matches('/'), how).ok()
}

fn oci_mount(
    destination: &str,
    typ: &str,
    source: &str,
    options: &[&str],
) -> Result<Mount, ContainerError> {
    Ok(MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .build()?)
}
