//! `HostConfig.Binds` strings (`docker run -v`) and `--volumes-from`
//! entries, parsed as moby's `linuxParser.ParseMountRaw` and
//! `ParseVolumesFrom` parse them.
//!
//! A bind string is `dst`, `src:dst` or `src:dst:mode`; a `src` that is an
//! absolute path is a bind, anything else names a volume, and no `src` is an
//! anonymous volume. The mode is a comma-separated set of at most one each of
//! `ro|rw`, `z|Z` (SELinux relabel, accepted and ignored), a propagation,
//! `nocopy`, and a consistency (`consistent|cached|delegated`, ignored).

use super::api::{BindOptions, MountRequest, VolumeOptions, validate};
use super::error::MountError;
use super::{MountKind, MountSpec, Propagation};

/// Consistency modes: accepted, meaningless on Linux.
const CONSISTENCY: [&str; 3] = ["consistent", "cached", "delegated"];

/// One element of a mode string.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ModeItem {
    ReadWrite,
    Label,
    Propagation,
    NoCopy,
    Consistency,
}

fn mode_item(o: &str) -> Option<ModeItem> {
    match o {
        "rw" | "ro" => Some(ModeItem::ReadWrite),
        "z" | "Z" => Some(ModeItem::Label),
        "nocopy" => Some(ModeItem::NoCopy),
        c if CONSISTENCY.contains(&c) => Some(ModeItem::Consistency),
        p => Propagation::parse(p).map(|_| ModeItem::Propagation),
    }
}

/// dockerd's `linuxValidMountMode`: every item known, at most one of each kind.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let slot = match mode_item(o) {
            Some(ModeItem::ReadWrite) => 0,
            Some(ModeItem::Label) => 1,
            Some(ModeItem::Propagation) => 2,
            Some(ModeItem::NoCopy) => 3,
            Some(ModeItem::Consistency) => 4,
            None => return false,
        };
        counts[slot] += 1;
    }
    counts.iter().all(|&c| c <= 1)
}

/// dockerd's `ReadWrite`: a valid mode without `ro`.
fn read_write(mode: &str) -> bool {
    valid_mode(mode) && !mode.split(',').any(|o| o == "ro")
}

fn propagation_of(mode: &str) -> Option<Propagation> {
    mode.split(',').find_map(Propagation::parse)
}

/// Parse one `HostConfig.Binds` entry. `volume_driver` is
/// `HostConfig.VolumeDriver` (applies to volumes only). A bind's host source
/// is not checked here: `-v` creates a missing one (`create_source`).
pub fn parse_bind(raw: &str, volume_driver: &str) -> Result<MountSpec, MountError> {
    let invalid = || MountError::InvalidSpec(raw.to_owned());
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid());
    }
    let (source, target, mode) = match arr[..] {
        [target] => ("", target, ""),
        // A destination and a mode is not a volume (`/foo:rw`).
        [_, second] if valid_mode(second) => return Err(invalid()),
        [source, target] => (source, target, ""),
        [source, target, mode] => (source, target, mode),
        _ => return Err(invalid()),
    };
    if !valid_mode(mode) {
        return Err(MountError::InvalidMode(mode.to_owned()));
    }
    let kind = if source.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    let mut req = MountRequest {
        kind: kind.to_owned(),
        source: source.to_owned(),
        target: target.to_owned(),
        read_only: !read_write(mode),
        ..MountRequest::default()
    };
    if !volume_driver.is_empty() && kind == "volume" {
        req.volume_options
            .get_or_insert_with(VolumeOptions::default)
            .driver_config
            .get_or_insert_with(Default::default)
            .name = volume_driver.to_owned();
    }
    if mode.split(',').any(|o| o == "nocopy") {
        req.volume_options
            .get_or_insert_with(VolumeOptions::default)
            .no_copy = true;
    }
    if let Some(p) = propagation_of(mode) {
        req.bind_options = Some(BindOptions {
            propagation: p.as_str().to_owned(),
            ..BindOptions::default()
        });
    }
    let mut spec = validate(&req, None).map_err(|e| MountError::InvalidSpecConfig {
        spec: raw.to_owned(),
        source: Box::new(e),
    })?;
    spec.mode = mode.to_owned();
    // dockerd auto-creates a missing `-v` host directory.
    spec.create_source = spec.kind == MountKind::Bind;
    Ok(spec)
}

/// Parse a `--volumes-from` entry: `(container, mode)`, the mode `rw` when
/// absent. Propagation and copy modes are refused, as dockerd refuses them.
pub fn parse_volumes_from(spec: &str) -> Result<(String, String), MountError> {
    if spec.is_empty() {
        return Err(MountError::EmptyVolumesFrom);
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_owned(), "rw".to_owned()));
    }
    if !valid_mode(mode) || propagation_of(mode).is_some() || mode.split(',').any(|o| o == "nocopy")
    {
        return Err(MountError::InvalidMode(mode.to_owned()));
    }
    Ok((id.to_owned(), mode.to_owned()))
}

/// The mounts a container gets from `--volumes-from <other>:<mode>`: the
/// other container's mounts, read-only if they were or if `mode` says `ro`,
/// never copying image data (dockerd's `registerMountPoints` step 2).
pub fn inherit(from: &[MountSpec], mode: &str) -> Vec<MountSpec> {
    from.iter()
        .map(|m| MountSpec {
            read_only: m.read_only || !read_write(mode),
            copy_data: false,
            ..m.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moby's `TestLinuxParseMountRaw`, valid half.
    #[test]
    fn accepts_what_dockerd_accepts() {
        for raw in [
            "/home",
            "/home:/home",
            "/home:/something/else",
            "/with space",
            "/home:/with space",
            "relative:/absolute-path",
            "hostPath:/containerPath:ro",
            "/hostPath:/containerPath:rw",
            "/rw:/ro",
            "/hostPath:/containerPath:shared",
            "/hostPath:/containerPath:rshared",
            "/hostPath:/containerPath:slave",
            "/hostPath:/containerPath:rslave",
            "/hostPath:/containerPath:private",
            "/hostPath:/containerPath:rprivate",
            "/hostPath:/containerPath:ro,shared",
            "/hostPath:/containerPath:ro,slave",
            "/hostPath:/containerPath:ro,private",
            "/hostPath:/containerPath:ro,z,shared",
            "/hostPath:/containerPath:ro,Z,slave",
            "/hostPath:/containerPath:Z,ro,slave",
            "/hostPath:/containerPath:slave,Z,ro",
            "/hostPath:/containerPath:Z,slave,ro",
            "/hostPath:/containerPath:slave,ro,Z",
            "/hostPath:/containerPath:rslave,ro,Z",
            "/hostPath:/containerPath:ro,rshared,Z",
            "/hostPath:/containerPath:ro,Z,rprivate",
            "/hostPath:/containerPath:cached",
            "name:/data:nocopy",
        ] {
            if let Err(e) = parse_bind(raw, "local") {
                panic!("{raw}: {e}");
            }
        }
    }

    /// moby's `TestLinuxParseMountRaw`, invalid half (error substrings).
    #[test]
    fn refuses_what_dockerd_refuses() {
        for (raw, want) in [
            ("", "invalid volume specification"),
            ("./", "mount path must be absolute"),
            ("../", "mount path must be absolute"),
            ("/:../", "mount path must be absolute"),
            ("/:path", "mount path must be absolute"),
            (":", "invalid volume specification"),
            ("/tmp:", "invalid volume specification"),
            (":test", "invalid volume specification"),
            (":/test", "invalid volume specification"),
            ("tmp:", "invalid volume specification"),
            (":test:", "invalid volume specification"),
            ("::", "invalid volume specification"),
            (":::", "invalid volume specification"),
            ("/tmp:::", "invalid volume specification"),
            (":/tmp::", "invalid volume specification"),
            ("/path:rw", "invalid volume specification"),
            ("/path:ro", "invalid volume specification"),
            ("/rw:rw", "invalid volume specification"),
            ("path:ro", "invalid volume specification"),
            ("/path:/path:sw", "invalid mode"),
            ("/path:/path:rwz", "invalid mode"),
            ("/path:/path:ro,rshared,rslave", "invalid mode"),
            ("/path:/path:ro,z,rshared,rslave", "invalid mode"),
            ("/path:shared", "invalid volume specification"),
            ("/path:slave", "invalid volume specification"),
            ("/path:private", "invalid volume specification"),
            ("name:/absolute-path:shared", "invalid volume specification"),
            (
                "name:/absolute-path:rshared",
                "invalid volume specification",
            ),
            ("name:/absolute-path:slave", "invalid volume specification"),
            ("name:/absolute-path:rslave", "invalid volume specification"),
            (
                "name:/absolute-path:private",
                "invalid volume specification",
            ),
            (
                "name:/absolute-path:rprivate",
                "invalid volume specification",
            ),
        ] {
            match parse_bind(raw, "local") {
                Ok(m) => panic!("{raw:?} accepted: {m:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{raw:?}: {e}"),
            }
        }
    }

    /// moby's `TestLinuxParseMountRawSplit`, with its exact messages.
    #[test]
    fn splits_as_dockerd_splits() {
        let m = parse_bind("/tmp:/tmp2:ro", "").expect("bind");
        assert_eq!(
            (m.kind, m.source.as_str(), m.target.as_str()),
            (MountKind::Bind, "/tmp", "/tmp2")
        );
        assert!(m.read_only && m.create_source);
        assert_eq!(m.mode, "ro");
        assert_eq!(m.propagation, Some(Propagation::RPrivate));

        let m = parse_bind("/tmp:/tmp3:rw", "").expect("bind");
        assert!(!m.read_only);

        let m = parse_bind("name:/named1", "").expect("volume");
        assert_eq!(
            (m.kind, m.source.as_str(), m.propagation, m.copy_data),
            (MountKind::Volume, "name", None, true)
        );
        assert_eq!(m.volume_driver, None);

        let m = parse_bind("name:/named2", "external").expect("volume");
        assert_eq!(m.volume_driver.as_deref(), Some("external"));

        let m = parse_bind("name:/named3:ro,nocopy", "local").expect("volume");
        assert!(m.read_only && !m.copy_data);

        let m = parse_bind("local/name:/tmp:rw", "").expect("volume");
        assert_eq!(m.source, "local/name");

        let m = parse_bind("/anon/", "").expect("anonymous");
        assert!(m.is_anonymous_volume());
        assert_eq!(m.target, "/anon");

        for (raw, want) in [
            ("/tmp:/tmp4:foo", "invalid mode: foo"),
            (
                "/tmp:tmp",
                "invalid volume specification: '/tmp:tmp': invalid mount config for type \"bind\": invalid mount path: 'tmp' mount path must be absolute",
            ),
            (
                "/a:/b:nocopy",
                "invalid volume specification: '/a:/b:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified",
            ),
            (
                "name:/b:shared",
                "invalid volume specification: 'name:/b:shared': invalid mount config for type \"volume\": field BindOptions must not be specified",
            ),
            (
                "/a:/",
                "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'",
            ),
        ] {
            let err = parse_bind(raw, "").expect_err(raw);
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn volumes_from_modes() {
        assert_eq!(
            parse_volumes_from("data").expect("plain"),
            ("data".to_owned(), "rw".to_owned())
        );
        assert_eq!(
            parse_volumes_from("data:ro").expect("ro"),
            ("data".to_owned(), "ro".to_owned())
        );
        for (spec, want) in [
            ("", "volumes-from specification cannot be an empty string"),
            ("data:rslave", "invalid mode: rslave"),
            ("data:nocopy", "invalid mode: nocopy"),
            ("data:bogus", "invalid mode: bogus"),
        ] {
            assert_eq!(parse_volumes_from(spec).expect_err(spec).to_string(), want);
        }
        let from = [parse_bind("/h:/ro:ro", "").expect("bind")];
        assert!(inherit(&from, "rw")[0].read_only, "ro stays ro");
    }
}
