//! Tmpfs mounts: `HostConfig.Tmpfs` entries (`--tmpfs /run:size=64m`), the
//! data string of a `--mount type=tmpfs` (moby's `ConvertTmpfsOptions`), and
//! the final option list docker gives the runtime (its defaults
//! `noexec,nosuid,nodev,rprivate` merged with the user's, later ones winning —
//! `github.com/moby/sys/mount.MergeTmpfsOptions`).

use super::api::{TmpfsOptions, validate_target};
use super::error::{ConfigError, MountError};
use super::{MountKind, MountSpec};

/// Mount flags `MergeTmpfsOptions` knows, with the collision group of each
/// (a later option of the same group replaces an earlier one).
const FLAGS: [(&str, &str); 32] = [
    ("ro", "rdonly"),
    ("rw", "rdonly"),
    ("suid", "nosuid"),
    ("nosuid", "nosuid"),
    ("dev", "nodev"),
    ("nodev", "nodev"),
    ("exec", "noexec"),
    ("noexec", "noexec"),
    ("sync", "sync"),
    ("async", "sync"),
    ("dirsync", "dirsync"),
    ("remount", "remount"),
    ("mand", "mand"),
    ("nomand", "mand"),
    ("atime", "noatime"),
    ("noatime", "noatime"),
    ("diratime", "nodiratime"),
    ("nodiratime", "nodiratime"),
    ("bind", "propagation"),
    ("rbind", "propagation"),
    ("unbindable", "propagation"),
    ("runbindable", "propagation"),
    ("private", "propagation"),
    ("rprivate", "propagation"),
    ("shared", "propagation"),
    ("rshared", "propagation"),
    ("slave", "propagation"),
    ("rslave", "propagation"),
    ("relatime", "relatime"),
    ("norelatime", "relatime"),
    ("strictatime", "strictatime"),
    ("nostrictatime", "strictatime"),
];

/// Data keys a tmpfs accepts.
const DATA_KEYS: [&str; 8] = [
    "",
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Docker's defaults for every tmpfs, before the user's options.
const DEFAULTS: [&str; 4] = ["noexec", "nosuid", "nodev", "rprivate"];

/// A `HostConfig.Tmpfs` entry: destination `dest`, mount data `data`. The
/// destination must be absolute and not `/`; the data is checked as
/// [`tmpfs_options`] checks it.
pub fn parse_tmpfs(dest: &str, data: &str) -> Result<MountSpec, MountError> {
    validate_target(dest).map_err(MountError::TmpfsDestination)?;
    tmpfs_options(data)?;
    let mut spec = MountSpec::new(MountKind::Tmpfs, dest.to_owned());
    spec.read_only = data.split(',').any(|o| o == "ro");
    spec.tmpfs_data = data.to_owned();
    Ok(spec)
}

/// The options a tmpfs with mount data `data` is mounted with: docker's
/// defaults merged with `data`, one option per flag group or data key, the
/// last one given winning, in the order given.
pub fn tmpfs_options(data: &str) -> Result<Vec<String>, MountError> {
    let all: Vec<&str> = DEFAULTS
        .into_iter()
        .chain(data.split(',').filter(|o| !o.is_empty()))
        .collect();
    let mut seen_groups = Vec::new();
    let mut seen_keys = Vec::new();
    let mut merged = Vec::new();
    for option in all.into_iter().rev() {
        if option == "defaults" {
            continue;
        }
        if let Some(&(_, group)) = FLAGS.iter().find(|(f, _)| *f == option) {
            if !seen_groups.contains(&group) {
                seen_groups.push(group);
                merged.push(option.to_owned());
            }
            continue;
        }
        let key = match option.split_once('=') {
            Some((k, _)) if DATA_KEYS.contains(&k) => k,
            Some((k, _)) => return Err(MountError::TmpfsOption(k.to_owned())),
            None => return Err(MountError::TmpfsOption(option.to_owned())),
        };
        if !seen_keys.contains(&key) {
            seen_keys.push(key);
            merged.push(option.to_owned());
        }
    }
    merged.reverse();
    Ok(merged)
}

/// moby's `ConvertTmpfsOptions`: the mount data of a `--mount type=tmpfs`
/// (`ro`, `mode=<octal>`, `size=<n>[kmg]` in the largest unit that divides
/// it, then `exec`/`noexec`).
pub(crate) fn convert_tmpfs_options(
    opt: Option<&TmpfsOptions>,
    read_only: bool,
) -> Result<String, ConfigError> {
    let mut raw = Vec::new();
    if read_only {
        raw.push("ro".to_owned());
    }
    let Some(opt) = opt else {
        return Ok(raw.join(","));
    };
    if opt.mode != 0 {
        raw.push(format!("mode={:o}", opt.mode));
    }
    if opt.size_bytes != 0 {
        let (mut size, mut suffix) = (opt.size_bytes, "");
        for (s, divisor) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
            if size % divisor == 0 {
                size /= divisor;
                suffix = s;
                break;
            }
        }
        raw.push(format!("size={size}{suffix}"));
    }
    for o in &opt.options {
        match o.as_slice() {
            [k] | [k, _] if k != "exec" && k != "noexec" => {
                return Err(ConfigError::TmpfsOption(k.clone()));
            }
            [k] => raw.push(k.clone()),
            [k, v] => raw.push(format!("{k}={v}")),
            _ => return Err(ConfigError::TmpfsOptionLength),
        }
    }
    Ok(raw.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moby's `TestConvertTmpfsOptions`.
    #[test]
    fn converts_mount_tmpfs_options() {
        let opt = TmpfsOptions {
            size_bytes: 1024 * 1024,
            mode: 0o700,
            options: Vec::new(),
        };
        assert_eq!(
            convert_tmpfs_options(Some(&opt), false).expect("convert"),
            "mode=700,size=1m"
        );
        assert_eq!(
            convert_tmpfs_options(Some(&TmpfsOptions::default()), true).expect("ro"),
            "ro"
        );
        let exec = TmpfsOptions {
            options: vec![vec!["exec".into()]],
            ..TmpfsOptions::default()
        };
        assert_eq!(
            convert_tmpfs_options(Some(&exec), true).expect("exec"),
            "ro,exec"
        );
        let odd = TmpfsOptions {
            size_bytes: 1000,
            ..TmpfsOptions::default()
        };
        assert_eq!(
            convert_tmpfs_options(Some(&odd), false).expect("odd"),
            "size=1000"
        );
        let bad = TmpfsOptions {
            options: vec![vec!["INVALID".into()]],
            ..TmpfsOptions::default()
        };
        assert!(convert_tmpfs_options(Some(&bad), false).is_err());
    }

    /// moby/sys/mount's `TestMergeTmpfsOptions`, with docker's defaults first.
    #[test]
    fn merges_defaults_with_the_users_options() {
        assert_eq!(
            tmpfs_options("").expect("defaults"),
            ["noexec", "nosuid", "nodev", "rprivate"]
        );
        assert_eq!(
            tmpfs_options("exec,size=64m,mode=1777,size=128m,shared").expect("merge"),
            [
                "nosuid",
                "nodev",
                "exec",
                "mode=1777",
                "size=128m",
                "shared"
            ]
        );
        assert_eq!(
            tmpfs_options("bogus").expect_err("flag").to_string(),
            "invalid tmpfs option \"bogus\""
        );
        assert_eq!(
            tmpfs_options("colour=red").expect_err("key").to_string(),
            "invalid tmpfs option \"colour\""
        );
    }

    #[test]
    fn tmpfs_destinations_are_checked() {
        let m = parse_tmpfs("/run", "size=1m,ro").expect("tmpfs");
        assert!(m.read_only);
        assert_eq!(
            (m.kind, m.tmpfs_data.as_str()),
            (MountKind::Tmpfs, "size=1m,ro")
        );
        assert_eq!(
            parse_tmpfs("/", "").expect_err("root").to_string(),
            "invalid specification: destination can't be '/'"
        );
        assert_eq!(
            parse_tmpfs("run", "").expect_err("relative").to_string(),
            "invalid mount path: 'run' mount path must be absolute"
        );
    }
}
