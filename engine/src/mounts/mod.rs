//! Mount parsing: every form docker accepts for a container's mounts, turned
//! into one typed [`MountSpec`], with dockerd's validation and its exact error
//! messages (moby's `daemon/volume/mounts/linux_parser.go`).
//!
//! Pure: nothing here mounts, creates or resolves anything. The one host
//! question (does a `--mount type=bind` source exist?) goes through
//! [`FileInfo`], so tests answer it themselves.
//!
//! The forms, one file each:
//! - [`binds`]: `HostConfig.Binds` strings (`-v`) and `--volumes-from`'s
//!   `<container>[:ro|rw]`;
//! - [`api`]: `HostConfig.Mounts` objects (what `--mount` sends);
//! - [`tmpfs`]: `HostConfig.Tmpfs` entries and the tmpfs mount data.
//!
//! [`plan`] puts them together as dockerd's `registerMountPoints` does:
//! volumes-from first, then binds, then mounts, refusing a destination used
//! twice ("Duplicate mount point: /data").

pub mod api;
pub mod binds;
pub mod error;
pub mod shares;
pub mod tmpfs;

use std::collections::BTreeMap;
use std::path::Path;

use bollard_stubs::models::MountPoint;

/// Go's `path.Clean` (one copy, in the archive code).
pub(crate) use crate::containers::archive::pathstat::clean as clean_path;

pub use api::{FileInfo, HostFs, MountRequest, parse_mount};
pub use binds::{inherit, parse_bind, parse_volumes_from};
pub use error::{ConfigError, MountError};
pub use shares::HostShares;
pub use tmpfs::{parse_tmpfs, tmpfs_options};

/// What a mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path bound into the container.
    Bind,
    /// A named or anonymous volume.
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

impl MountKind {
    /// Docker's name for it (`bind`, `volume`, `tmpfs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Volume => "volume",
            Self::Tmpfs => "tmpfs",
        }
    }
}

/// Mount propagation, as docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate` (docker's default for binds)
    RPrivate,
    /// `shared`
    Shared,
    /// `rshared`
    RShared,
    /// `slave`
    Slave,
    /// `rslave`
    RSlave,
}

impl Propagation {
    /// Every mode, for parsing.
    const ALL: [Self; 6] = [
        Self::Private,
        Self::RPrivate,
        Self::Shared,
        Self::RShared,
        Self::Slave,
        Self::RSlave,
    ];

    /// Parse docker's name of a mode.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Docker's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::RPrivate => "rprivate",
            Self::Shared => "shared",
            Self::RShared => "rshared",
            Self::Slave => "slave",
            Self::RSlave => "rslave",
        }
    }
}

/// One parsed mount, whatever form it came in. What inspect's `Mounts` shows
/// and what the container's OCI spec is built from. Kept in the container's
/// record (dockerd's `MountPoints`), resolved: a volume mount's `source` is
/// the volume's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountSpec {
    /// Bind, volume or tmpfs.
    pub kind: MountKind,
    /// Bind: the cleaned host path. Volume: its name, empty for an anonymous
    /// volume (the caller creates it and fills the name in). Tmpfs: empty.
    pub source: String,
    /// The cleaned path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// The `-v` mode string as given (`ro,Z`), inspect's `Mode`; empty for
    /// `--mount`.
    pub mode: String,
    /// Binds: the propagation (default `rprivate`); `None` for volumes and tmpfs.
    pub propagation: Option<Propagation>,
    /// Volumes: copy the image's content at `target` into a fresh volume
    /// (false with `nocopy` / `volume-nocopy`, and for `--volumes-from`).
    pub copy_data: bool,
    /// Binds: create a missing host source directory (`-v` does; `--mount`
    /// only with `BindOptions.CreateMountpoint`).
    pub create_source: bool,
    /// Binds: `bind-nonrecursive` (a plain `MS_BIND`, not `MS_REC`).
    pub non_recursive: bool,
    /// Binds: `BindOptions.ReadOnlyNonRecursive`.
    pub read_only_non_recursive: bool,
    /// Binds: `BindOptions.ReadOnlyForceRecursive`.
    pub read_only_force_recursive: bool,
    /// Volumes: the driver asked for, if any.
    pub volume_driver: Option<String>,
    /// Volumes: driver options for a volume this mount creates (`volume-opt`).
    pub volume_options: BTreeMap<String, String>,
    /// Volumes: labels for a volume this mount creates (`volume-label`).
    pub volume_labels: BTreeMap<String, String>,
    /// Volumes: mount only this relative path of the volume.
    pub volume_subpath: Option<String>,
    /// Tmpfs: the mount data (`size=64m,mode=1777`), before docker's
    /// defaults are merged in by [`tmpfs_options`].
    pub tmpfs_data: String,
}

impl MountSpec {
    /// An empty spec of `kind` at `target`, read-write, copying data.
    pub(crate) fn new(kind: MountKind, target: String) -> Self {
        Self {
            kind,
            source: String::new(),
            target,
            read_only: false,
            mode: String::new(),
            propagation: None,
            copy_data: true,
            create_source: false,
            non_recursive: false,
            read_only_non_recursive: false,
            read_only_force_recursive: false,
            volume_driver: None,
            volume_options: BTreeMap::new(),
            volume_labels: BTreeMap::new(),
            volume_subpath: None,
            tmpfs_data: String::new(),
        }
    }

    /// An anonymous volume: a volume mount without a name.
    pub fn is_anonymous_volume(&self) -> bool {
        self.kind == MountKind::Volume && self.source.is_empty()
    }

    /// The anonymous volume an image's `VOLUME` entry gets when nothing
    /// else is mounted there (dockerd's `AddMountPointWithVolume`):
    /// read-write, copy-up on, no mode.
    pub fn image_volume(target: &str) -> Self {
        Self::new(MountKind::Volume, clean_path(target))
    }

    /// Record the volume a `-v` or `--mount` volume mount resolved to (its
    /// name, for an anonymous one the generated name), with dockerd's
    /// inspect `Mode` of `z` for a local volume given no mode
    /// (`setBindModeIfNull`).
    pub fn attach_volume(&mut self, name: &str) {
        self.source = name.to_owned();
        if self.mode.is_empty() {
            self.mode = "z".to_owned();
        }
    }

    /// The mount as inspect's `Mounts` lists it. `volume_path` is the
    /// volume's `Mountpoint`, for volume mounts.
    pub fn mount_point(&self, volume_path: Option<&Path>) -> MountPoint {
        let volume = self.kind == MountKind::Volume;
        let source = match volume_path {
            Some(p) if volume => p.to_string_lossy().into_owned(),
            _ if volume => String::new(),
            _ => self.source.clone(),
        };
        MountPoint {
            typ: Some(self.kind.as_str().to_owned()),
            name: Some(self.source.clone()).filter(|_| volume),
            source: Some(source),
            destination: Some(self.target.clone()),
            driver: volume.then(|| {
                self.volume_driver
                    .clone()
                    .unwrap_or_else(|| "local".to_owned())
            }),
            mode: Some(self.mode.clone()),
            rw: Some(!self.read_only),
            propagation: Some(
                self.propagation
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            ),
        }
    }
}

/// A container's mount configuration, as `HostConfig` carries it.
#[derive(Debug, Clone, Copy)]
pub struct MountConfig<'a> {
    /// `HostConfig.Binds`.
    pub binds: &'a [String],
    /// `HostConfig.Mounts`.
    pub mounts: &'a [MountRequest],
    /// `HostConfig.Tmpfs`: destination → mount data.
    pub tmpfs: &'a BTreeMap<String, String>,
    /// `HostConfig.VolumeDriver`.
    pub volume_driver: &'a str,
}

impl Default for MountConfig<'_> {
    fn default() -> Self {
        static NO_TMPFS: BTreeMap<String, String> = BTreeMap::new();
        Self {
            binds: &[],
            mounts: &[],
            tmpfs: &NO_TMPFS,
            volume_driver: "",
        }
    }
}

/// Every mount of a container, validated, one per destination, in dockerd's
/// precedence: `inherited` (from `--volumes-from`, already passed through
/// [`inherit`]) first, overridden by binds, then by mounts; then the
/// `HostConfig.Tmpfs` entries. A destination given twice among binds and
/// mounts (or a bind over a `Tmpfs` entry) is refused with dockerd's
/// "Duplicate mount point" error. The result is sorted for mounting
/// (parents before children, see [`sort_for_mounting`]).
pub fn plan(
    inherited: Vec<MountSpec>,
    config: &MountConfig<'_>,
    fs: &dyn FileInfo,
) -> Result<Vec<MountSpec>, MountError> {
    let mut by_target: BTreeMap<String, MountSpec> = BTreeMap::new();
    for m in inherited {
        by_target.insert(m.target.clone(), m);
    }
    // Destinations set by this container's own binds and mounts.
    let mut own = std::collections::BTreeSet::new();
    for raw in config.binds {
        let m = parse_bind(raw, config.volume_driver)?;
        if own.contains(&m.target) || config.tmpfs.contains_key(&m.target) {
            return Err(MountError::Duplicate(m.target));
        }
        own.insert(m.target.clone());
        by_target.insert(m.target.clone(), m);
    }
    for req in config.mounts {
        let m = parse_mount(req, fs)?;
        if own.contains(&m.target) {
            return Err(MountError::Duplicate(req.target.clone()));
        }
        own.insert(m.target.clone());
        by_target.insert(m.target.clone(), m);
    }
    let mut all: Vec<MountSpec> = by_target.into_values().collect();
    for (dest, data) in config.tmpfs {
        all.push(parse_tmpfs(dest, data)?);
    }
    Ok(sort_for_mounting(all))
}

/// Sort mounts so none shadows another: by the number of parts of the
/// destination (`/etc` before `/etc/resolv.conf`), stable otherwise — dockerd's
/// `sortMounts`.
pub fn sort_for_mounting(mut mounts: Vec<MountSpec>) -> Vec<MountSpec> {
    mounts.sort_by_key(|m| clean_path(&m.target).matches('/').count());
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path exists, except those containing "missing".
    struct Fake;

    impl FileInfo for Fake {
        fn exists(&self, path: &str) -> std::io::Result<bool> {
            Ok(!path.contains("missing"))
        }
    }

    fn req(kind: &str, source: &str, target: &str) -> MountRequest {
        MountRequest {
            kind: kind.to_owned(),
            source: source.to_owned(),
            target: target.to_owned(),
            ..MountRequest::default()
        }
    }

    #[test]
    fn duplicate_destinations_are_refused_with_dockerds_wording() {
        let tmpfs = BTreeMap::new();
        let binds = ["a:/data".to_owned(), "b:/data/".to_owned()];
        let cfg = MountConfig {
            binds: &binds,
            tmpfs: &tmpfs,
            ..MountConfig::default()
        };
        let err = plan(Vec::new(), &cfg, &Fake).expect_err("duplicate");
        assert_eq!(err.to_string(), "Duplicate mount point: /data");

        let binds = ["a:/data".to_owned()];
        let mounts = [req("volume", "b", "/data/")];
        let cfg = MountConfig {
            binds: &binds,
            mounts: &mounts,
            tmpfs: &tmpfs,
            volume_driver: "",
        };
        let err = plan(Vec::new(), &cfg, &Fake).expect_err("duplicate");
        // dockerd names the mount's target as given.
        assert_eq!(err.to_string(), "Duplicate mount point: /data/");

        let tmpfs = BTreeMap::from([("/run".to_owned(), String::new())]);
        let binds = ["/host:/run".to_owned()];
        let cfg = MountConfig {
            binds: &binds,
            tmpfs: &tmpfs,
            ..MountConfig::default()
        };
        let err = plan(Vec::new(), &cfg, &Fake).expect_err("duplicate");
        assert_eq!(err.to_string(), "Duplicate mount point: /run");
    }

    #[test]
    fn binds_override_volumes_from_and_the_result_is_sorted() {
        let from = inherit(&[parse_bind("shared:/data", "").expect("bind")], "ro");
        assert!(from[0].read_only && !from[0].copy_data);
        let binds = ["/host/etc:/data/etc".to_owned(), "mine:/data".to_owned()];
        let tmpfs = BTreeMap::from([("/scratch".to_owned(), "size=1m".to_owned())]);
        let mounts = [req("tmpfs", "", "/data/tmp")];
        let cfg = MountConfig {
            binds: &binds,
            mounts: &mounts,
            tmpfs: &tmpfs,
            volume_driver: "",
        };
        let all = plan(from, &cfg, &Fake).expect("plan");
        let seen: Vec<_> = all
            .iter()
            .map(|m| (m.target.as_str(), m.kind, m.source.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("/data", MountKind::Volume, "mine"),
                ("/scratch", MountKind::Tmpfs, ""),
                ("/data/etc", MountKind::Bind, "/host/etc"),
                ("/data/tmp", MountKind::Tmpfs, ""),
            ]
        );
        assert!(!all[0].read_only, "the bind replaced the read-only import");
    }

    #[test]
    fn inspect_lists_mounts_as_dockerd_does() {
        let mut named = parse_bind("data:/d", "").expect("volume");
        named.attach_volume("data");
        let json = |m: &MountSpec, p: Option<&str>| {
            serde_json::to_string(&m.mount_point(p.map(Path::new))).expect("json")
        };
        assert_eq!(
            json(&named, Some("/var/lib/skiff/volumes/data/_data")),
            r#"{"Type":"volume","Name":"data","Source":"/var/lib/skiff/volumes/data/_data","Destination":"/d","Driver":"local","Mode":"z","RW":true,"Propagation":""}"#
        );
        let bind = parse_bind("/h:/x:ro", "").expect("bind");
        assert_eq!(
            json(&bind, None),
            r#"{"Type":"bind","Source":"/h","Destination":"/x","Mode":"ro","RW":false,"Propagation":"rprivate"}"#
        );
        let mut image = MountSpec::image_volume("/var/lib/db/");
        image.source = "f00".to_owned();
        assert_eq!(
            json(&image, Some("/v/f00/_data")),
            r#"{"Type":"volume","Name":"f00","Source":"/v/f00/_data","Destination":"/var/lib/db","Driver":"local","Mode":"","RW":true,"Propagation":""}"#
        );
    }

    #[test]
    fn a_missing_mount_source_fails_the_plan() {
        let tmpfs = BTreeMap::new();
        let mounts = [req("bind", "/missing", "/x")];
        let cfg = MountConfig {
            mounts: &mounts,
            tmpfs: &tmpfs,
            ..MountConfig::default()
        };
        let err = plan(Vec::new(), &cfg, &Fake).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "invalid mount config for type \"bind\": bind source path does not exist: /missing"
        );
    }
}
