//! The machine's settings as the Settings view edits them: CPUs, memory
//! and disk as people type them (`4G`, `8192`), and the shared folders as
//! `HOST[:GUEST][:ro]` — the `skiff machine create/set` vocabulary, read
//! with the machine crate's own parsers so the app and the CLI accept and
//! refuse the same things.

use std::path::Path;

use serde::{Deserialize, Serialize};
use skiff_machine::MachineConfig;
use skiff_machine::shares::SharedFolder;

use crate::error::{Error, Result};

/// What the Settings view shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineSettings {
    /// vCPUs.
    pub cpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Data disk size, GiB (fixed once the machine exists).
    pub disk_gib: u64,
    /// The shared folders, `HOST[:GUEST][:ro]`.
    pub mounts: Vec<String>,
    /// No folders are named in `config.json`: `mounts` are the defaults
    /// (the home folder), decided at each start.
    pub default_mounts: bool,
    /// The host's logical CPUs (the most a machine may get).
    pub host_cpus: u32,
}

impl MachineSettings {
    /// The settings of `config`.
    pub fn of(config: &MachineConfig) -> MachineSettings {
        MachineSettings {
            cpus: config.cpus,
            memory_mib: config.memory_mib,
            disk_gib: config.disk_gib,
            mounts: config.folders().iter().map(mount_arg).collect(),
            default_mounts: config.mounts.is_none(),
            host_cpus: host_cpus(),
        }
    }
}

/// The host's logical CPUs (1 when unknown).
pub fn host_cpus() -> u32 {
    std::thread::available_parallelism()
        .ok()
        .and_then(|n| u32::try_from(n.get()).ok())
        .unwrap_or(1)
}

/// `HOST[:GUEST][:ro]` of a shared folder (the guest part only when it
/// differs from the host path).
pub fn mount_arg(folder: &SharedFolder) -> String {
    let mut arg = folder.host.display().to_string();
    if let Some(guest) = folder
        .guest
        .as_deref()
        .filter(|g| Path::new(g) != folder.host)
    {
        arg.push(':');
        arg.push_str(guest);
    }
    if folder.read_only {
        arg.push_str(":ro");
    }
    arg
}

/// A change as the Settings view sends it, every field as typed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsChange {
    /// vCPUs.
    pub cpus: u32,
    /// Memory: MiB, or with a unit (`4G`, `512M`).
    pub memory: String,
    /// Disk: GiB, or with a unit (`100G`, `1T`).
    pub disk: String,
    /// `HOST[:GUEST][:ro]` entries; `None` keeps the defaults (the home
    /// folder), an empty list shares nothing.
    pub mounts: Option<Vec<String>>,
}

/// A [`SettingsChange`] read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSettings {
    /// vCPUs.
    pub cpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Data disk, GiB.
    pub disk_gib: u64,
    /// The shared folders (`None`: the defaults).
    pub mounts: Option<Vec<SharedFolder>>,
}

impl ParsedSettings {
    /// Writes these settings into `config`.
    pub fn apply_to(&self, config: &mut MachineConfig) {
        config.cpus = self.cpus;
        config.memory_mib = self.memory_mib;
        config.disk_gib = self.disk_gib;
        config.mounts = self.mounts.clone();
    }
}

impl SettingsChange {
    /// Reads the sizes (units as `skiff machine create` takes them) and the
    /// folders, and checks everything as the machine manager will: ranges,
    /// more CPUs than the host has, relative or duplicate folders. Errors
    /// name the setting.
    pub fn parse(&self) -> Result<ParsedSettings> {
        let invalid = |err: skiff_machine::MachineError| Error::InvalidRequest(err.to_string());
        let memory_mib =
            skiff_machine::units::parse_mib("memory", &self.memory, 1).map_err(invalid)?;
        let disk_mib =
            skiff_machine::units::parse_mib("disk", &self.disk, 1024).map_err(invalid)?;
        if disk_mib % 1024 != 0 {
            return Err(Error::InvalidRequest(format!(
                "invalid setting disk: {:?} is not a whole number of GiB",
                self.disk
            )));
        }
        let host = host_cpus();
        if self.cpus > host {
            return Err(Error::InvalidRequest(format!(
                "invalid setting cpus: {} is more than this computer's {host}",
                self.cpus
            )));
        }
        let mounts = match &self.mounts {
            None => None,
            Some(args) => Some(
                args.iter()
                    .map(|arg| arg.trim())
                    .filter(|arg| !arg.is_empty())
                    .map(|arg| {
                        let folder = SharedFolder::parse(arg).map_err(invalid)?;
                        if !folder.host.is_absolute() {
                            return Err(Error::InvalidRequest(format!(
                                "invalid setting mount: {arg:?}: the host folder must be an absolute path"
                            )));
                        }
                        Ok(folder)
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let parsed = ParsedSettings {
            cpus: self.cpus,
            memory_mib,
            disk_gib: disk_mib / 1024,
            mounts,
        };
        let mut check = MachineConfig::new(skiff_machine::DEFAULT_MACHINE);
        parsed.apply_to(&mut check);
        check.validate().map_err(invalid)?;
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(cpus: u32, memory: &str, disk: &str, mounts: Option<&[&str]>) -> SettingsChange {
        SettingsChange {
            cpus,
            memory: memory.into(),
            disk: disk.into(),
            mounts: mounts.map(|m| m.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn sizes_take_units() {
        let parsed = change(1, "4G", "100G", None).parse().expect("valid");
        assert_eq!(
            (parsed.cpus, parsed.memory_mib, parsed.disk_gib),
            (1, 4096, 100)
        );
        assert_eq!(
            change(1, "3072", "64", None)
                .parse()
                .expect("ok")
                .memory_mib,
            3072
        );
        assert_eq!(
            change(1, "1T", "1T", None).parse().expect("ok").disk_gib,
            1024
        );
    }

    #[test]
    fn bad_input_is_refused_naming_the_setting() {
        for (c, want) in [
            (change(1, "4Q", "64", None), "invalid setting memory"),
            (change(1, "lots", "64", None), "invalid setting memory"),
            (change(1, "100M", "64", None), "invalid setting memory"),
            (change(1, "2G", "1500M", None), "not a whole number of GiB"),
            (change(0, "2G", "64", None), "invalid setting cpus"),
            (change(100_000, "2G", "64", None), "more than this computer"),
            (
                change(1, "2G", "64", Some(&["relative/dir"])),
                "absolute path",
            ),
            (
                change(1, "2G", "64", Some(&["/a:b:c:d"])),
                "invalid setting mount",
            ),
        ] {
            let err = c.parse().expect_err(want);
            assert_eq!(err.kind(), "invalid_request");
            assert!(err.to_string().contains(want), "{err} lacks {want}");
        }
    }

    #[test]
    fn mounts_round_trip_and_blank_lines_are_skipped() {
        let parsed = change(
            1,
            "2G",
            "64",
            Some(&["/srv/code:/code:ro", " ", "/home/me"]),
        )
        .parse()
        .expect("valid");
        let mounts = parsed.mounts.clone().expect("named folders");
        assert_eq!(
            mounts.iter().map(mount_arg).collect::<Vec<_>>(),
            ["/srv/code:/code:ro", "/home/me"]
        );
        let none = change(1, "2G", "64", Some(&[])).parse().expect("valid");
        assert_eq!(none.mounts, Some(Vec::new()));
        let mut config = MachineConfig::new("default");
        parsed.apply_to(&mut config);
        let shown = MachineSettings::of(&config);
        assert!(!shown.default_mounts);
        assert_eq!(shown.mounts, ["/srv/code:/code:ro", "/home/me"]);
        assert!(shown.host_cpus >= 1);
    }
}
