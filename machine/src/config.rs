//! A machine's settings (`config.json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, MachineError, Result};
use crate::fsutil;
use crate::paths::MachineDir;

/// Default vCPUs.
pub const DEFAULT_CPUS: u32 = 2;
/// Default memory, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 2048;
/// Default data disk size, GiB (sparse: only what is written takes space).
pub const DEFAULT_DISK_GIB: u64 = 64;

/// How the guest reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// User-mode networking with `restrict=on`: the guest reaches only what
    /// is forwarded to it (the registry mirror) — no outbound network, no
    /// DNS, no host services (`host.docker.internal` does not answer). The
    /// tests' setting.
    Restricted,
    /// User-mode NAT (the default): the guest reaches what the host
    /// reaches; DNS is QEMU's built-in forwarder at 10.0.2.3, which asks
    /// the host's resolvers; the host's loopback services are at 10.0.2.2
    /// (`host.docker.internal`).
    #[default]
    Nat,
}

/// Which hypervisor runs the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// QEMU (Linux; KVM when it works, TCG otherwise).
    Qemu,
    /// Apple's Virtualization.framework (macOS).
    Vz,
    /// WSL2 (Windows).
    Wsl2,
}

impl Backend {
    /// This platform's backend.
    pub fn native() -> Backend {
        if cfg!(target_os = "macos") {
            Backend::Vz
        } else if cfg!(windows) {
            Backend::Wsl2
        } else {
            Backend::Qemu
        }
    }

    /// Its name (`qemu`, `vz`, `wsl2`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Qemu => "qemu",
            Backend::Vz => "vz",
            Backend::Wsl2 => "wsl2",
        }
    }
}

/// Which CPU virtualisation QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when the probe shows it works, else TCG.
    #[default]
    Auto,
    /// KVM, or fail.
    Kvm,
    /// TCG (emulation) always.
    Tcg,
}

/// `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineConfig {
    /// The machine's name.
    pub name: String,
    /// The hypervisor backend.
    pub backend: Backend,
    /// vCPUs.
    pub cpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Data disk size, GiB.
    pub disk_gib: u64,
    /// A registry mirror on the host, as the host reaches it (plain HTTP,
    /// e.g. `http://127.0.0.1:5000`); the guest reaches it as
    /// `http://10.0.2.100:5000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_mirror: Option<String>,
    /// The directory of the VM image artefacts; unset: found at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_dir: Option<PathBuf>,
    /// CPU virtualisation (QEMU).
    #[serde(default)]
    pub accel: Accel,
    /// Guest networking.
    #[serde(default)]
    pub network: Network,
    /// The host folders shared into the VM (`--mount`); unset: the
    /// defaults of [`crate::shares::default_folders`] (the user's home),
    /// decided at each start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<crate::shares::SharedFolder>>,
    /// Creation time, unix seconds.
    pub created: u64,
}

impl MachineConfig {
    /// A config with the defaults for `name`.
    pub fn new(name: &str) -> MachineConfig {
        MachineConfig {
            name: name.to_string(),
            backend: Backend::native(),
            cpus: DEFAULT_CPUS,
            memory_mib: DEFAULT_MEMORY_MIB,
            disk_gib: DEFAULT_DISK_GIB,
            registry_mirror: None,
            image_dir: None,
            accel: Accel::Auto,
            network: Network::Nat,
            mounts: None,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Checks ranges and the mirror URL.
    pub fn validate(&self) -> Result<()> {
        crate::paths::validate_name(&self.name)?;
        if !(1..=64).contains(&self.cpus) {
            return Err(invalid(
                "cpus",
                format!("{} is not within 1..=64", self.cpus),
            ));
        }
        if !(256..=1024 * 1024).contains(&self.memory_mib) {
            return Err(invalid(
                "memory",
                format!("{} MiB is not within 256 MiB..1 TiB", self.memory_mib),
            ));
        }
        if !(1..=16 * 1024).contains(&self.disk_gib) {
            return Err(invalid(
                "disk",
                format!("{} GiB is not within 1..=16384", self.disk_gib),
            ));
        }
        if let Some(mirror) = &self.registry_mirror {
            MirrorAddr::parse(mirror)?;
        }
        if let Some(mounts) = &self.mounts {
            crate::shares::validate(mounts)?;
        }
        Ok(())
    }

    /// The folders shared into the VM: `mounts`, else the defaults for
    /// this user (`$HOME`, or `%USERPROFILE%`, and the temp directory).
    pub fn folders(&self) -> Vec<crate::shares::SharedFolder> {
        match &self.mounts {
            Some(mounts) => mounts.clone(),
            None => {
                let home = std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .or_else(|| std::env::var_os("USERPROFILE").filter(|v| !v.is_empty()))
                    .map(PathBuf::from);
                crate::shares::default_folders(home.as_deref(), &std::env::temp_dir())
            }
        }
    }

    /// Reads `config.json` of `dir`.
    pub fn load(dir: &MachineDir) -> Result<MachineConfig> {
        let path = dir.config();
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(MachineError::NotFound {
                    name: dir.name().to_string(),
                });
            }
            Err(err) => return Err(MachineError::io(format!("reading {}", path.display()), err)),
        };
        serde_json::from_slice(&data).map_err(|source| MachineError::Json { path, source })
    }

    /// Writes `config.json` of `dir` atomically.
    pub fn save(&self, dir: &MachineDir) -> Result<()> {
        let mut data = serde_json::to_vec_pretty(self).map_err(|source| MachineError::Json {
            path: dir.config(),
            source,
        })?;
        data.push(b'\n');
        std::fs::create_dir_all(dir.dir()).ctx(|| format!("creating {}", dir.dir().display()))?;
        fsutil::write_atomic(&dir.config(), &data)
    }
}

fn invalid(setting: &str, reason: String) -> MachineError {
    MachineError::InvalidSetting {
        setting: setting.to_string(),
        reason,
    }
}

/// A registry mirror's host-side address: `http://HOST:PORT[/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorAddr {
    /// Host name or IP as the host reaches it.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl MirrorAddr {
    /// Parses `http://HOST:PORT` (a trailing `/` is allowed; the port
    /// defaults to 80).
    pub fn parse(url: &str) -> Result<MirrorAddr> {
        let bad = |reason: &str| invalid("registry-mirror", format!("{url:?}: {reason}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// mirrors on the host are supported"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(bad("expected http://HOST:PORT"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
                (host.to_string(), port)
            }
            _ => (rest.to_string(), 80),
        };
        if host.is_empty() || host.contains(',') || host.contains(' ') || port == 0 {
            return Err(bad("expected http://HOST:PORT"));
        }
        Ok(MirrorAddr { host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Home;

    #[test]
    fn round_trips_through_config_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path().to_path_buf());
        let m = home.machine("dev").expect("name");
        assert!(matches!(
            MachineConfig::load(&m),
            Err(MachineError::NotFound { .. })
        ));
        let mut config = MachineConfig::new("dev");
        config.cpus = 3;
        config.registry_mirror = Some("http://127.0.0.1:5000".into());
        config.save(&m).expect("save");
        assert_eq!(MachineConfig::load(&m).expect("load"), config);
        let text = std::fs::read_to_string(m.config()).expect("read");
        assert!(text.contains("\"memory_mib\": 2048"), "{text}");
    }

    #[test]
    fn validation_rejects_out_of_range_settings() {
        let mut c = MachineConfig::new("x");
        assert!(c.validate().is_ok());
        c.cpus = 0;
        assert!(
            c.validate()
                .expect_err("must fail")
                .to_string()
                .contains("cpus")
        );
        c.cpus = 1;
        c.memory_mib = 10;
        assert!(
            c.validate()
                .expect_err("must fail")
                .to_string()
                .contains("memory")
        );
        c.memory_mib = 512;
        c.registry_mirror = Some("https://mirror.example".into());
        assert!(
            c.validate()
                .expect_err("must fail")
                .to_string()
                .contains("registry-mirror")
        );
    }

    #[test]
    fn mirror_addresses() {
        assert_eq!(
            MirrorAddr::parse("http://127.0.0.1:5000/").expect("ok"),
            MirrorAddr {
                host: "127.0.0.1".into(),
                port: 5000
            }
        );
        assert_eq!(MirrorAddr::parse("http://localhost").expect("ok").port, 80);
        for bad in [
            "127.0.0.1:5000",
            "http://a:b",
            "http://a:5000/v2",
            "http://",
            "http://a,b:1",
        ] {
            assert!(MirrorAddr::parse(bad).is_err(), "{bad}");
        }
    }
}
