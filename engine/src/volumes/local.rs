//! The `local` driver's options: `type`, `device`, `o` (mount(8)-style
//! options) and `size`, validated as moby's `daemon/volume/local/local_unix.go`
//! validates them, persisted in dockerd's `opts.json` form, and turned into
//! the `mount(2)` calls `github.com/moby/sys/mount.Mount` makes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::mounter::MountCall;

/// Option keys the local driver accepts.
const VALID: [&str; 4] = ["type", "o", "device", "size"];

/// Options that need others: `device` needs `type`, `type` needs `device`,
/// `o` needs both.
const MANDATORY: [(&str, &[&str]); 3] = [
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

/// A volume's driver options as dockerd stores them in `opts.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LocalOptions {
    /// `type=` (`tmpfs`, `none`, `nfs`, …).
    pub mount_type: String,
    /// `o=` (`bind`, `size=64m,uid=1000`, …).
    pub mount_opts: String,
    /// `device=` (a path, `tmpfs`, …).
    pub mount_device: String,
    /// `size=`: a quota, which skiffd (like dockerd without XFS project
    /// quotas) does not support; always 0 once validated.
    #[serde(default)]
    pub quota: Quota,
}

/// dockerd's `quota.Quota`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Quota {
    /// Bytes.
    pub size: u64,
}

impl LocalOptions {
    /// Validate a create request's driver options as dockerd does and turn
    /// them into the stored form (`None` when there are none). `Err` is
    /// dockerd's reason (without the `create <name>: ` prefix).
    pub fn from_request(opts: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        if opts.is_empty() {
            return Ok(None);
        }
        if let Some(bad) = opts.keys().find(|k| !VALID.contains(&k.as_str())) {
            return Err(format!("invalid option: {bad:?}"));
        }
        if let Some(size) = opts.get("size") {
            if ram_in_bytes(size)? > 0 {
                return Err("quota size requested but no quota support".to_owned());
            }
        }
        for (opt, needs) in MANDATORY {
            if opts.contains_key(opt) {
                if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                    return Err(format!("missing required option: {missing:?}"));
                }
            }
        }
        let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
        Ok(Some(Self {
            mount_type: get("type"),
            mount_opts: get("o"),
            mount_device: get("device"),
            quota: Quota::default(),
        }))
    }

    /// Whether the volume's `_data` gets a mount of its own when used.
    pub fn needs_mount(&self) -> bool {
        !self.mount_device.is_empty() || !self.mount_type.is_empty()
    }

    /// The `mount(2)` calls that mount this volume's device on `target`,
    /// as `moby/sys/mount.Mount(device, target, type, o)` makes them: the
    /// mount itself (unless it is only a propagation change), then the
    /// propagation change, then a read-only remount of a read-only bind.
    pub fn mount_calls(&self, target: &Path) -> Vec<MountCall> {
        let (flags, data) = parse_options(&self.mount_opts);
        let ptypes = libc::MS_SHARED | libc::MS_PRIVATE | libc::MS_SLAVE | libc::MS_UNBINDABLE;
        let pflags = ptypes | libc::MS_REC | libc::MS_SILENT;
        let bind_ro = libc::MS_BIND | libc::MS_RDONLY;
        let oflags = flags & !ptypes;
        let remount = flags & libc::MS_REMOUNT != 0
            || self.mount_device.is_empty()
            || self.mount_device == "none";
        let call = |source: &str, fstype: &str, flags: u64, data: &str, op| MountCall {
            source: source.to_owned(),
            target: target.to_owned(),
            fstype: fstype.to_owned(),
            flags,
            data: data.to_owned(),
            op,
        };
        let mut calls = Vec::new();
        if !remount || !data.is_empty() {
            calls.push(call(
                &self.mount_device,
                &self.mount_type,
                oflags,
                &data,
                "mount",
            ));
        }
        if flags & ptypes != 0 {
            calls.push(call("", "", flags & pflags, "", "remount"));
        }
        if oflags & bind_ro == bind_ro {
            calls.push(call("", "", oflags | libc::MS_REMOUNT, "", "remount-ro"));
        }
        calls
    }
}

/// mount(8) flag words: (word, clears the flag, flag).
const FLAGS: [(&str, bool, u64); 32] = [
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("suid", true, libc::MS_NOSUID),
    ("nosuid", false, libc::MS_NOSUID),
    ("dev", true, libc::MS_NODEV),
    ("nodev", false, libc::MS_NODEV),
    ("exec", true, libc::MS_NOEXEC),
    ("noexec", false, libc::MS_NOEXEC),
    ("sync", false, libc::MS_SYNCHRONOUS),
    ("async", true, libc::MS_SYNCHRONOUS),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("remount", false, libc::MS_REMOUNT),
    ("mand", false, libc::MS_MANDLOCK),
    ("nomand", true, libc::MS_MANDLOCK),
    ("atime", true, libc::MS_NOATIME),
    ("noatime", false, libc::MS_NOATIME),
    ("diratime", true, libc::MS_NODIRATIME),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("bind", false, libc::MS_BIND),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("unbindable", false, libc::MS_UNBINDABLE),
    ("runbindable", false, libc::MS_UNBINDABLE | libc::MS_REC),
    ("private", false, libc::MS_PRIVATE),
    ("rprivate", false, libc::MS_PRIVATE | libc::MS_REC),
    ("shared", false, libc::MS_SHARED),
    ("rshared", false, libc::MS_SHARED | libc::MS_REC),
    ("slave", false, libc::MS_SLAVE),
    ("rslave", false, libc::MS_SLAVE | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("norelatime", true, libc::MS_RELATIME),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
];

/// Split mount(8) options into `mount(2)` flags and filesystem data.
fn parse_options(options: &str) -> (u64, String) {
    let mut flags = 0u64;
    let mut data = Vec::new();
    for o in options.split(',') {
        match FLAGS.iter().find(|(w, _, _)| *w == o) {
            Some((_, true, f)) => flags &= !f,
            Some((_, false, f)) => flags |= f,
            None => data.push(o),
        }
    }
    (flags, data.join(","))
}

/// `github.com/docker/go-units.RAMInBytes`: `64m`, `1.5GiB`, `512 kb`, `100`
/// (binary multiples). The error is go-units' `invalid size: '<s>'`.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let number_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (number, unit) = s.split_at(number_end);
    let valid_number = !number.is_empty()
        && number.split('.').all(|part| !part.is_empty())
        && number.starts_with(|c: char| c.is_ascii_digit());
    if !valid_number {
        return Err(invalid());
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(invalid()),
    };
    // go-units' regexp allows `1.2.3`; ParseFloat then refuses it.
    let value: f64 = number.parse().map_err(|_| invalid())?;
    Ok((value * 1024f64.powi(power)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn validates_like_the_local_driver() {
        assert_eq!(LocalOptions::from_request(&opts(&[])), Ok(None));
        for (given, want) in [
            (vec![("foo", "bar")], "invalid option: \"foo\""),
            (
                vec![("type", "tmpfs")],
                "missing required option: \"device\"",
            ),
            (
                vec![("device", "tmpfs")],
                "missing required option: \"type\"",
            ),
            (
                vec![("o", "size=1m")],
                "missing required option: \"device\"",
            ),
            (
                vec![("size", "10g")],
                "quota size requested but no quota support",
            ),
            (vec![("size", "ten")], "invalid size: 'ten'"),
        ] {
            assert_eq!(
                LocalOptions::from_request(&opts(&given)),
                Err(want.to_owned()),
                "{given:?}"
            );
        }
        let tmpfs = LocalOptions::from_request(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=100m,uid=1000"),
        ]))
        .expect("valid")
        .expect("some");
        assert!(tmpfs.needs_mount());
        let json = serde_json::to_string(&tmpfs).expect("json");
        assert_eq!(
            json,
            r#"{"MountType":"tmpfs","MountOpts":"size=100m,uid=1000","MountDevice":"tmpfs","Quota":{"Size":0}}"#
        );
    }

    #[test]
    fn mount_calls_match_moby_sys_mount() {
        let target = Path::new("/v/_data");
        let tmpfs = LocalOptions {
            mount_type: "tmpfs".into(),
            mount_device: "tmpfs".into(),
            mount_opts: "size=1m,noexec".into(),
            ..LocalOptions::default()
        };
        let calls = tmpfs.mount_calls(target);
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].source.as_str(), calls[0].fstype.as_str()),
            ("tmpfs", "tmpfs")
        );
        assert_eq!(
            (calls[0].flags, calls[0].data.as_str()),
            (libc::MS_NOEXEC, "size=1m")
        );

        let bind_ro = LocalOptions {
            mount_type: "none".into(),
            mount_device: "/srv/data".into(),
            mount_opts: "bind,ro,rshared".into(),
            ..LocalOptions::default()
        };
        let calls = bind_ro.mount_calls(target);
        let summary: Vec<_> = calls.iter().map(|c| (c.op, c.flags)).collect();
        assert_eq!(
            summary,
            [
                ("mount", libc::MS_BIND | libc::MS_RDONLY | libc::MS_REC),
                ("remount", libc::MS_SHARED | libc::MS_REC),
                (
                    "remount-ro",
                    libc::MS_BIND | libc::MS_RDONLY | libc::MS_REC | libc::MS_REMOUNT
                ),
            ]
        );
        assert_eq!(calls[0].source, "/srv/data");
    }

    #[test]
    fn sizes_parse_like_go_units() {
        for (s, want) in [
            ("32", 32),
            ("32b", 32),
            ("32k", 32 << 10),
            ("32 KiB", 32 << 10),
            ("64m", 64 << 20),
            ("1.5g", 3 << 29),
            ("2T", 2 << 40),
            ("0", 0),
        ] {
            assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
        }
        for s in ["", "-1", "m", "1x", "1.2.3", "1..2", "1mm"] {
            assert_eq!(ram_in_bytes(s), Err(format!("invalid size: '{s}'")), "{s}");
        }
    }
}
