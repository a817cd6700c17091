//! Where a machine's state lives: `~/.skiff/machines/<name>/` (`SKIFF_HOME`
//! overrides `~/.skiff`).

use std::path::{Path, PathBuf};

use crate::error::{MachineError, Result};

/// The name used when none is given.
pub const DEFAULT_MACHINE: &str = "default";

/// The Skiff home directory (`~/.skiff` or `$SKIFF_HOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$SKIFF_HOME`, else `~/.skiff` (`$HOME`, or `%USERPROFILE%` on Windows).
    pub fn from_env() -> Result<Home> {
        if let Some(home) = std::env::var_os("SKIFF_HOME").filter(|v| !v.is_empty()) {
            return Ok(Home::at(PathBuf::from(home)));
        }
        let user_home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .or_else(|| std::env::var_os("USERPROFILE").filter(|v| !v.is_empty()))
            .ok_or_else(|| MachineError::InvalidSetting {
                setting: "SKIFF_HOME".into(),
                reason: "neither SKIFF_HOME nor HOME is set".into(),
            })?;
        Ok(Home::at(PathBuf::from(user_home).join(".skiff")))
    }

    /// A home at `root`.
    pub fn at(root: PathBuf) -> Home {
        Home { root }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<home>/machines`.
    pub fn machines(&self) -> PathBuf {
        self.root.join("machines")
    }

    /// The directory of machine `name` (validated).
    pub fn machine(&self, name: &str) -> Result<MachineDir> {
        validate_name(name)?;
        Ok(MachineDir {
            name: name.to_string(),
            dir: self.machines().join(name),
        })
    }
}

/// Checks a machine name: `[a-z0-9][a-z0-9_.-]{0,31}`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(MachineError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// The files of one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineDir {
    name: String,
    dir: PathBuf,
}

impl MachineDir {
    /// The machine's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `config.json`: the machine's settings.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// `run.json`: what the supervisor is doing / why it stopped.
    pub fn run_record(&self) -> PathBuf {
        self.dir.join("run.json")
    }
    /// `disk.img`: the raw, sparse data disk.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
    /// `console.log`: the guest's serial console of the current boot.
    pub fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    /// `pid`: the supervisor's process id.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }
    /// `lock`: held (flock) by the supervisor while the machine runs.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
    /// `docker.sock`: the forwarded engine socket (0600).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }
    /// `engine.port`: QEMU's end of the `skiff.engine` virtio-serial port.
    pub fn engine_port(&self) -> PathBuf {
        self.dir.join("engine.port")
    }
    /// `control.port`: QEMU's end of the `skiff.control` port.
    pub fn control_port(&self) -> PathBuf {
        self.dir.join("control.port")
    }
    /// `qmp.sock`: QEMU's monitor.
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    /// `ports.json`: the ports forwarded from the guest now
    /// ([`crate::ports`]).
    pub fn ports(&self) -> PathBuf {
        self.dir.join("ports.json")
    }
    /// `supervisor.log`: the supervisor's own log.
    pub fn supervisor_log(&self) -> PathBuf {
        self.dir.join("supervisor.log")
    }
    /// Whether the machine has been created.
    pub fn exists(&self) -> bool {
        self.config().is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for good in ["default", "a", "dev-1", "x.y_z", "0abc"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "A", "a/b", "..", "a b", &"x".repeat(33)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn layout_follows_the_contract() {
        let home = Home::at(PathBuf::from("/h"));
        let m = home.machine("default").expect("valid");
        assert_eq!(m.dir(), Path::new("/h/machines/default"));
        assert_eq!(m.socket(), Path::new("/h/machines/default/docker.sock"));
        assert_eq!(
            m.engine_port(),
            Path::new("/h/machines/default/engine.port")
        );
        assert_eq!(m.qmp(), Path::new("/h/machines/default/qmp.sock"));
        assert!(home.machine("../etc").is_err());
    }
}
