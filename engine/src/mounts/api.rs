//! `HostConfig.Mounts`: the API's Mount objects (what `docker run --mount`
//! sends), validated as moby's `linuxParser.validateMountConfigImpl` and
//! `parseMountSpec` validate them.
//!
//! [`MountRequest`] mirrors the API object with plain strings for the type and
//! the propagation, so an unknown value reaches the validator and gets
//! dockerd's message instead of a JSON error. The `-v` parser builds one too,
//! then validates it without the bind-source check.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::{ConfigError, MountError};
use super::tmpfs::convert_tmpfs_options;
use super::{MountKind, MountSpec, Propagation, clean_path};

/// Answers whether a host path exists (dockerd's `fileInfoProvider`).
pub trait FileInfo {
    /// Whether `path` exists (following symlinks). `Err` for anything but
    /// "not found".
    fn exists(&self, path: &str) -> std::io::Result<bool>;
}

/// The host's filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFs;

impl FileInfo for HostFs {
    fn exists(&self, path: &str) -> std::io::Result<bool> {
        match std::fs::metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// One API Mount object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountRequest {
    /// `bind`, `volume`, `tmpfs` (anything else is refused).
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path, volume name, or empty.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// Accepted and ignored, as on Linux dockerd.
    pub consistency: String,
    /// Bind options.
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// `private|rprivate|shared|rshared|slave|rslave`, or empty.
    pub propagation: String,
    /// `bind-nonrecursive`.
    pub non_recursive: bool,
    /// Create a missing source.
    pub create_mountpoint: bool,
    /// Read-only, not recursively.
    pub read_only_non_recursive: bool,
    /// Read-only, recursively or fail.
    pub read_only_force_recursive: bool,
}

/// `VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// `volume-nocopy`.
    pub no_copy: bool,
    /// Labels for a volume created by this mount.
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver name and options.
    pub driver_config: Option<DriverConfig>,
    /// Mount only this path of the volume.
    pub subpath: String,
}

/// `VolumeOptions.DriverConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    /// Driver name.
    pub name: String,
    /// Driver options (`volume-opt`).
    pub options: Option<BTreeMap<String, String>>,
}

/// `TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Size in bytes (0: the kernel's default).
    pub size_bytes: i64,
    /// Permission bits (0: the kernel's default).
    pub mode: u32,
    /// `[["exec"]]`, `[["noexec"]]`.
    pub options: Vec<Vec<String>>,
}

impl From<&bollard_stubs::models::Mount> for MountRequest {
    fn from(m: &bollard_stubs::models::Mount) -> Self {
        Self {
            kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
            source: m.source.clone().unwrap_or_default(),
            target: m.target.clone().unwrap_or_default(),
            read_only: m.read_only.unwrap_or(false),
            consistency: m.consistency.clone().unwrap_or_default(),
            bind_options: m.bind_options.as_ref().map(|b| BindOptions {
                propagation: b.propagation.map(|p| p.to_string()).unwrap_or_default(),
                non_recursive: b.non_recursive.unwrap_or(false),
                create_mountpoint: b.create_mountpoint.unwrap_or(false),
                read_only_non_recursive: b.read_only_non_recursive.unwrap_or(false),
                read_only_force_recursive: b.read_only_force_recursive.unwrap_or(false),
            }),
            volume_options: m.volume_options.as_ref().map(|v| VolumeOptions {
                no_copy: v.no_copy.unwrap_or(false),
                labels: v.labels.as_ref().map(|l| l.clone().into_iter().collect()),
                driver_config: v.driver_config.as_ref().map(|d| DriverConfig {
                    name: d.name.clone().unwrap_or_default(),
                    options: d.options.as_ref().map(|o| o.clone().into_iter().collect()),
                }),
                subpath: v.subpath.clone().unwrap_or_default(),
            }),
            tmpfs_options: m.tmpfs_options.as_ref().map(|t| TmpfsOptions {
                size_bytes: t.size_bytes.unwrap_or(0),
                mode: u32::try_from(t.mode.unwrap_or(0)).unwrap_or(0),
                options: t.options.clone().unwrap_or_default(),
            }),
        }
    }
}

/// Parse and validate one `HostConfig.Mounts` entry; a bind's source must
/// exist unless `CreateMountpoint` is set.
pub fn parse_mount(req: &MountRequest, fs: &dyn FileInfo) -> Result<MountSpec, MountError> {
    validate(req, Some(fs))
}

fn not_root(p: &str) -> Result<(), ConfigError> {
    if clean_path(&p.replace('\\', "/")) == "/" {
        return Err(ConfigError::TargetIsRoot);
    }
    Ok(())
}

fn absolute(p: &str) -> Result<(), ConfigError> {
    let p = p.replace('\\', "/");
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(ConfigError::NotAbsolute(p))
    }
}

/// `/`-free-of-escape relative path (Go's `filepath.IsLocal`).
fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let c = clean_path(p);
    c != ".." && !c.starts_with("../")
}

/// Target checks shared with `HostConfig.Tmpfs` destinations.
pub(crate) fn validate_target(target: &str) -> Result<(), ConfigError> {
    not_root(target)?;
    absolute(target)
}

fn check(req: &MountRequest, fs: Option<&dyn FileInfo>) -> Result<MountKind, ConfigError> {
    // Options of another type (validateExclusiveOptions).
    if req.kind != "bind" && req.bind_options.is_some() {
        return Err(ConfigError::ExtraField("BindOptions"));
    }
    if req.kind != "volume" && req.volume_options.is_some() {
        return Err(ConfigError::ExtraField("VolumeOptions"));
    }
    if req.kind != "tmpfs" && req.tmpfs_options.is_some() {
        return Err(ConfigError::ExtraField("TmpfsOptions"));
    }
    if req.target.is_empty() {
        return Err(ConfigError::MissingField("Target"));
    }
    validate_target(&req.target)?;
    match req.kind.as_str() {
        "bind" => {
            if req.source.is_empty() {
                return Err(ConfigError::MissingField("Source"));
            }
            let opts = req.bind_options.clone().unwrap_or_default();
            if !opts.propagation.is_empty() && Propagation::parse(&opts.propagation).is_none() {
                return Err(ConfigError::Propagation(opts.propagation));
            }
            absolute(&req.source)?;
            if let Some(fs) = fs {
                let exists = fs.exists(&req.source).map_err(ConfigError::Stat)?;
                if !exists && !opts.create_mountpoint {
                    return Err(ConfigError::SourceMissing(req.source.clone()));
                }
            }
            Ok(MountKind::Bind)
        }
        "volume" => {
            let subpath = req.volume_options.as_ref().map(|v| v.subpath.as_str());
            if let Some(sub) = subpath.filter(|s| !s.is_empty()) {
                if req.source.is_empty() {
                    return Err(ConfigError::AnonymousSubpath);
                }
                if !is_local(sub) {
                    return Err(ConfigError::InvalidSubpath);
                }
            }
            Ok(MountKind::Volume)
        }
        "tmpfs" => {
            if !req.source.is_empty() {
                return Err(ConfigError::ExtraField("Source"));
            }
            convert_tmpfs_options(req.tmpfs_options.as_ref(), req.read_only)?;
            Ok(MountKind::Tmpfs)
        }
        // `image` mounts (and Windows' `npipe`, swarm's `cluster`) are not
        // supported by skiffd.
        _ => Err(ConfigError::UnknownType),
    }
}

/// Validate a mount config and build its spec. `fs` is `None` for `-v`
/// strings (their bind sources are created when missing).
pub(crate) fn validate(
    req: &MountRequest,
    fs: Option<&dyn FileInfo>,
) -> Result<MountSpec, MountError> {
    let kind = check(req, fs).map_err(|source| MountError::Config {
        kind: req.kind.clone(),
        source,
    })?;
    let mut spec = MountSpec::new(kind, clean_path(&req.target.replace('\\', "/")));
    spec.read_only = req.read_only;
    match kind {
        MountKind::Volume => {
            spec.source = req.source.clone();
            if let Some(v) = &req.volume_options {
                spec.copy_data = !v.no_copy;
                spec.volume_labels = v.labels.clone().unwrap_or_default();
                spec.volume_subpath = Some(v.subpath.clone()).filter(|s| !s.is_empty());
                if let Some(d) = &v.driver_config {
                    spec.volume_driver = Some(d.name.clone()).filter(|n| !n.is_empty());
                    spec.volume_options = d.options.clone().unwrap_or_default();
                }
            }
        }
        MountKind::Bind => {
            spec.source = clean_path(&req.source);
            let opts = req.bind_options.clone().unwrap_or_default();
            spec.propagation =
                Some(Propagation::parse(&opts.propagation).unwrap_or(Propagation::RPrivate));
            spec.non_recursive = opts.non_recursive;
            spec.create_source = opts.create_mountpoint;
            spec.read_only_non_recursive = opts.read_only_non_recursive;
            spec.read_only_force_recursive = opts.read_only_force_recursive;
        }
        MountKind::Tmpfs => {
            spec.tmpfs_data = convert_tmpfs_options(req.tmpfs_options.as_ref(), req.read_only)
                .map_err(|source| MountError::Config {
                    kind: req.kind.clone(),
                    source,
                })?;
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path exists but `/nope`; `/bananas` cannot be examined.
    struct Fake;

    impl FileInfo for Fake {
        fn exists(&self, path: &str) -> std::io::Result<bool> {
            match path {
                "/nope" => Ok(false),
                "/bananas" => Err(std::io::Error::other("some crazy error")),
                _ => Ok(true),
            }
        }
    }

    fn parse_json(json: &str) -> Result<MountSpec, MountError> {
        let req: MountRequest = serde_json::from_str(json).expect("json");
        parse_mount(&req, &Fake)
    }

    /// moby's `TestLinuxValidateMounts` and `validate_test.go`, with messages.
    #[test]
    fn refuses_invalid_mounts_with_dockerds_messages() {
        for (json, want) in [
            (
                r#"{"Type":"bind","Source":"/nope","Target":"/x"}"#,
                "invalid mount config for type \"bind\": bind source path does not exist: /nope",
            ),
            (
                r#"{"Type":"invalid","Target":"/data/invalid-type"}"#,
                "invalid mount config for type \"invalid\": mount type unknown",
            ),
            (
                r#"{"Type":"bind","Source":"/bananas","Target":"/bananas"}"#,
                "invalid mount config for type \"bind\": some crazy error",
            ),
            (
                r#"{"Type":"bind","Target":"/x"}"#,
                "invalid mount config for type \"bind\": field Source must not be empty",
            ),
            (
                r#"{"Type":"volume","Source":"v"}"#,
                "invalid mount config for type \"volume\": field Target must not be empty",
            ),
            (
                r#"{"Type":"volume","Target":"/"}"#,
                "invalid mount config for type \"volume\": invalid specification: destination can't be '/'",
            ),
            (
                r#"{"Type":"volume","Target":"rel"}"#,
                "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute",
            ),
            (
                r#"{"Type":"bind","Source":"rel","Target":"/x"}"#,
                "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute",
            ),
            (
                r#"{"Type":"bind","Source":"/h","Target":"/x","BindOptions":{"Propagation":"weird"}}"#,
                "invalid mount config for type \"bind\": invalid propagation mode: weird",
            ),
            (
                r#"{"Type":"volume","Target":"/x","BindOptions":{}}"#,
                "invalid mount config for type \"volume\": field BindOptions must not be specified",
            ),
            (
                r#"{"Type":"bind","Source":"/h","Target":"/x","VolumeOptions":{}}"#,
                "invalid mount config for type \"bind\": field VolumeOptions must not be specified",
            ),
            (
                r#"{"Type":"volume","Target":"/x","TmpfsOptions":{}}"#,
                "invalid mount config for type \"volume\": field TmpfsOptions must not be specified",
            ),
            (
                r#"{"Type":"tmpfs","Source":"x","Target":"/x"}"#,
                "invalid mount config for type \"tmpfs\": field Source must not be specified",
            ),
            (
                r#"{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"Options":[["INVALID"]]}}"#,
                "invalid mount config for type \"tmpfs\": invalid option: INVALID",
            ),
            (
                r#"{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"Options":[["a","b","c"]]}}"#,
                "invalid mount config for type \"tmpfs\": invalid option array length",
            ),
            (
                r#"{"Type":"volume","Target":"/x","VolumeOptions":{"Subpath":"a"}}"#,
                "invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes",
            ),
            (
                r#"{"Type":"volume","Source":"v","Target":"/x","VolumeOptions":{"Subpath":"../a"}}"#,
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume",
            ),
            (
                r#"{"Type":"image","Source":"busybox","Target":"/x"}"#,
                "invalid mount config for type \"image\": mount type unknown",
            ),
        ] {
            let err = parse_json(json).expect_err(json);
            assert_eq!(err.to_string(), want, "{json}");
        }
    }

    #[test]
    fn builds_specs_from_valid_mounts() {
        let m = parse_json(r#"{"Type":"bind","Source":"/h/","Target":"/x/","ReadOnly":true,"Consistency":"cached","BindOptions":{"Propagation":"rshared","NonRecursive":true}}"#)
            .expect("bind");
        assert_eq!((m.source.as_str(), m.target.as_str()), ("/h", "/x"));
        assert!(m.read_only && m.non_recursive && !m.create_source);
        assert_eq!(m.propagation, Some(Propagation::RShared));

        let m = parse_json(r#"{"Type":"bind","Source":"/nope","Target":"/x","BindOptions":{"CreateMountpoint":true}}"#)
            .expect("created on demand");
        assert!(m.create_source);
        assert_eq!(m.propagation, Some(Propagation::RPrivate));

        let m = parse_json(
            r#"{"Type":"volume","Source":"data","Target":"/d","VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"},"DriverConfig":{"Name":"local","Options":{"type":"tmpfs","device":"tmpfs"}},"Subpath":"sub/dir"}}"#,
        )
        .expect("volume");
        assert!(!m.copy_data);
        assert_eq!(m.volume_driver.as_deref(), Some("local"));
        assert_eq!(
            m.volume_options.get("type").map(String::as_str),
            Some("tmpfs")
        );
        assert_eq!(m.volume_labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(m.volume_subpath.as_deref(), Some("sub/dir"));

        // An anonymous read-only volume is fine (moby's "read-only" case).
        let m = parse_json(
            r#"{"Type":"volume","Target":"/data/anonymous-read-only-volume","ReadOnly":true}"#,
        )
        .expect("anonymous");
        assert!(m.is_anonymous_volume() && m.read_only && m.copy_data);

        let m = parse_json(r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448,"Options":[["exec"]]}}"#)
            .expect("tmpfs");
        assert_eq!(m.tmpfs_data, "mode=700,size=1m,exec");
    }

    #[test]
    fn converts_bollard_mounts() {
        use bollard_stubs::models::{
            Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountType,
        };
        let m = Mount {
            typ: Some(MountType::BIND),
            source: Some("/h".into()),
            target: Some("/x".into()),
            bind_options: Some(MountBindOptions {
                propagation: Some(MountBindOptionsPropagationEnum::SLAVE),
                ..Default::default()
            }),
            ..Default::default()
        };
        let req = MountRequest::from(&m);
        assert_eq!((req.kind.as_str(), req.target.as_str()), ("bind", "/x"));
        let spec = parse_mount(&req, &Fake).expect("spec");
        assert_eq!(spec.propagation, Some(Propagation::Slave));
    }
}
