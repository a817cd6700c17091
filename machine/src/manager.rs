//! The API the CLI and the desktop app use: machines by name.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Backend, MachineConfig};
use crate::driver::{Driver, ProgressFn};
use crate::error::{IoContext, MachineError, Result};
use crate::paths::{Home, MachineDir};
use crate::state::MachineState;

/// One machine as reported to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineInfo {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: MachineState,
    /// Why it is broken (or a detail such as "stopping").
    pub reason: Option<String>,
    /// vCPUs.
    pub cpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Data disk size, GiB.
    pub disk_gib: u64,
    /// The forwarded engine socket.
    pub socket: PathBuf,
}

/// Machines under one Skiff home.
#[derive(Debug, Clone)]
pub struct Manager {
    home: Home,
    skiff_bin: PathBuf,
}

impl Manager {
    /// The machines of `$SKIFF_HOME` (or `~/.skiff`).
    pub fn from_env() -> Result<Manager> {
        Ok(Manager::at(Home::from_env()?))
    }

    /// The machines under `home`.
    pub fn with_home(home: PathBuf) -> Manager {
        Manager::at(Home::at(home))
    }

    fn at(home: Home) -> Manager {
        Manager {
            home,
            skiff_bin: find_skiff_bin(),
        }
    }

    /// Uses `bin` as the `skiff` binary that runs supervisors and helpers.
    pub fn with_skiff_bin(mut self, bin: PathBuf) -> Manager {
        self.skiff_bin = bin;
        self
    }

    /// The `skiff` binary in use.
    pub fn skiff_bin(&self) -> &Path {
        &self.skiff_bin
    }

    /// The home directory.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The directory of machine `name`.
    pub fn dir(&self, name: &str) -> Result<MachineDir> {
        self.home.machine(name)
    }

    fn driver(&self, backend: Backend) -> Result<Box<dyn Driver>> {
        match backend {
            #[cfg(target_os = "linux")]
            Backend::Qemu => Ok(Box::new(crate::supervised::SupervisedDriver::new(
                "qemu",
                self.skiff_bin.clone(),
            ))),
            #[cfg(target_os = "macos")]
            Backend::Vz => Ok(Box::new(crate::supervised::SupervisedDriver::new(
                "vz",
                self.skiff_bin.clone(),
            ))),
            #[cfg(windows)]
            Backend::Wsl2 => Ok(Box::new(crate::wsl::WslDriver::new(self.skiff_bin.clone()))),
            #[allow(unreachable_patterns)]
            other => Err(MachineError::Unsupported {
                backend: other.as_str().to_string(),
                reason: format!("this build runs on {}", std::env::consts::OS),
            }),
        }
    }

    /// Creates machine `config.name` (its directory, config.json and the
    /// backend's resources). Fails if it exists.
    pub fn create(&self, config: &MachineConfig) -> Result<MachineInfo> {
        config.validate()?;
        let dir = self.dir(&config.name)?;
        if dir.exists() {
            return Err(MachineError::AlreadyExists {
                name: config.name.clone(),
            });
        }
        let driver = self.driver(config.backend)?;
        std::fs::create_dir_all(dir.dir()).ctx(|| format!("creating {}", dir.dir().display()))?;
        driver.create(&dir, config)?;
        config.save(&dir)?;
        self.info(&config.name)
    }

    /// Changes the settings of machine `name` with `change` (validated,
    /// saved atomically); a running machine keeps its old ones until its
    /// next start.
    pub fn set(&self, name: &str, change: impl FnOnce(&mut MachineConfig)) -> Result<MachineInfo> {
        let dir = self.dir(name)?;
        let mut config = MachineConfig::load(&dir)?;
        change(&mut config);
        config.name = name.to_string();
        config.validate()?;
        config.save(&dir)?;
        self.info(name)
    }

    /// The config of machine `name`.
    pub fn config(&self, name: &str) -> Result<MachineConfig> {
        MachineConfig::load(&self.dir(name)?)
    }

    /// Every machine, by name.
    pub fn list(&self) -> Result<Vec<MachineInfo>> {
        let machines = self.home.machines();
        let entries = match std::fs::read_dir(&machines) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(MachineError::io(
                    format!("listing {}", machines.display()),
                    err,
                ));
            }
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| crate::paths::validate_name(n).is_ok())
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            match self.info(&name) {
                Ok(info) => out.push(info),
                Err(MachineError::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }

    /// Machine `name`'s settings and state.
    pub fn info(&self, name: &str) -> Result<MachineInfo> {
        let dir = self.dir(name)?;
        let config = MachineConfig::load(&dir)?;
        let (state, reason) = self.driver(config.backend)?.status(&dir)?;
        Ok(MachineInfo {
            name: name.to_string(),
            state,
            reason,
            cpus: config.cpus,
            memory_mib: config.memory_mib,
            disk_gib: config.disk_gib,
            socket: self.socket_path(name),
        })
    }

    /// Starts machine `name` (see [`Driver::start`]), then writes its docker
    /// context (best effort: a context failure is logged, not returned).
    ///
    /// When the last run left the data disk mounted (the VM was killed:
    /// [`crate::disk_state`]), says so before the boot (`launching`, with
    /// the last run's reason when known) and, once the engine answers — the
    /// guest mounted the disk, replaying its ext4 journal — that the disk
    /// was recovered (`ready`).
    pub async fn start(&self, name: &str, progress: ProgressFn<'_>) -> Result<()> {
        let dir = self.dir(name)?;
        let config = MachineConfig::load(&dir)?;
        config.validate()?;
        let driver = self.driver(config.backend)?;
        driver.create(&dir, &config)?;
        let unclean = self.unclean_last_run(name, &dir);
        if let Some(why) = &unclean {
            progress(crate::StartProgress::new(
                "launching",
                format!(
                    "the machine was not shut down cleanly last time{why}; its data disk will be recovered from the ext4 journal"
                ),
            ));
        }
        driver.start(&dir, &config, progress).await?;
        if unclean.is_some() {
            progress(crate::StartProgress::new(
                "ready",
                "the data disk was recovered (its ext4 journal replayed) and is mounted",
            ));
        }
        if let Err(err) = self.write_docker_context(name) {
            tracing::warn!("writing the docker context: {err}");
        }
        Ok(())
    }

    /// `Some(" (<reason>)")` (or `Some("")`) when machine `name` is not
    /// running and its data disk was left mounted by the last run.
    fn unclean_last_run(&self, name: &str, dir: &MachineDir) -> Option<String> {
        let info = self.info(name).ok()?;
        if matches!(info.state, MachineState::Running | MachineState::Starting)
            || !crate::disk_state::needs_recovery(&dir.disk())
        {
            return None;
        }
        Some(info.reason.map(|r| format!(" ({r})")).unwrap_or_default())
    }

    /// Stops machine `name` (idempotent).
    pub async fn stop(&self, name: &str) -> Result<()> {
        let dir = self.dir(name)?;
        let config = MachineConfig::load(&dir)?;
        self.driver(config.backend)?.stop(&dir).await
    }

    /// Stops and deletes machine `name`: every file of it, and its docker
    /// context.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let dir = self.dir(name)?;
        let config = MachineConfig::load(&dir)?;
        let driver = self.driver(config.backend)?;
        driver.stop(&dir).await?;
        driver.remove(&dir)?;
        std::fs::remove_dir_all(dir.dir()).ctx(|| format!("removing {}", dir.dir().display()))?;
        if let Some(config_dir) = crate::docker_context::docker_config_dir() {
            let context = crate::docker_context::context_name(name);
            if self.context_points_here(&config_dir, &context, name) {
                crate::docker_context::remove_context(&config_dir, &context)?;
            }
        }
        Ok(())
    }

    fn context_points_here(&self, config_dir: &Path, context: &str, name: &str) -> bool {
        let meta = crate::docker_context::context_dir(config_dir, context).join("meta.json");
        let Ok(data) = std::fs::read(meta) else {
            return false;
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&data) else {
            return false;
        };
        value["Endpoints"]["docker"]["Host"].as_str() == Some(&self.docker_host(name))
    }

    /// The last `lines` lines of machine `name`'s console.
    pub fn console_tail(&self, name: &str, lines: usize) -> Result<Vec<String>> {
        let dir = self.dir(name)?;
        if !dir.exists() {
            return Err(MachineError::NotFound {
                name: name.to_string(),
            });
        }
        crate::fsutil::tail_lines(&dir.console(), lines)
    }

    /// The ports machine `name` forwards from its guest to the host's
    /// loopback now, with the errors of those it could not (none unless it
    /// runs).
    pub fn ports(&self, name: &str) -> Result<Vec<crate::ports::PortInfo>> {
        if self.info(name)?.state != crate::MachineState::Running {
            return Ok(Vec::new());
        }
        crate::ports::read(&self.dir(name)?)
    }

    /// The forwarded engine socket of machine `name`.
    pub fn socket_path(&self, name: &str) -> PathBuf {
        self.home.machines().join(name).join("docker.sock")
    }

    /// `DOCKER_HOST` for machine `name`.
    pub fn docker_host(&self, name: &str) -> String {
        if cfg!(windows) {
            format!("npipe:////./pipe/{}", crate::wsl::pipe_name(name))
        } else {
            format!("unix://{}", self.socket_path(name).display())
        }
    }

    /// Writes the docker context of machine `name` (`skiff` for the default
    /// machine) into the docker CLI's config directory.
    pub fn write_docker_context(&self, name: &str) -> Result<PathBuf> {
        let config_dir = crate::docker_context::docker_config_dir().ok_or_else(|| {
            MachineError::InvalidSetting {
                setting: "DOCKER_CONFIG".into(),
                reason: "neither DOCKER_CONFIG nor HOME is set".into(),
            }
        })?;
        crate::docker_context::write_context(
            &config_dir,
            &crate::docker_context::context_name(name),
            &self.docker_host(name),
            &format!("Skiff machine {name}"),
        )
    }
}

/// The `skiff` binary: `$SKIFF_BIN`, the running binary if it is `skiff`,
/// a `skiff` beside the running binary (or one directory up, for test
/// binaries in `target/*/deps`), else `skiff` on `PATH`.
pub fn find_skiff_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SKIFF_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let exe_name = format!("skiff{}", std::env::consts::EXE_SUFFIX);
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == exe_name.as_str()) {
            return exe;
        }
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(&exe_name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(exe_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The desktop app runs these on a multi-threaded runtime.
    #[test]
    fn futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let manager = Manager::with_home(PathBuf::from("/nonexistent"));
        let progress = |_: crate::StartProgress| {};
        let start = manager.start("default", &progress);
        assert_send(&start);
        let stop = manager.stop("default");
        assert_send(&stop);
        let remove = manager.remove("default");
        assert_send(&remove);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let err = rt.block_on(start).expect_err("no such machine");
        assert!(matches!(err, MachineError::NotFound { .. }), "{err}");
    }

    // The QEMU backend's create; other platforms' backends need their
    // hypervisor.
    #[cfg(target_os = "linux")]
    #[test]
    fn set_changes_validated_settings() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let manager = Manager::with_home(tmp.path().to_path_buf());
        let mut config = MachineConfig::new("dev");
        config.disk_gib = 1;
        manager.create(&config).expect("create");
        let info = manager
            .set("dev", |c| {
                c.cpus = 3;
                c.memory_mib = 4096;
            })
            .expect("set");
        assert_eq!((info.cpus, info.memory_mib), (3, 4096));
        let err = manager.set("dev", |c| c.cpus = 0).expect_err("range");
        assert!(err.to_string().contains("cpus"), "{err}");
        assert_eq!(manager.config("dev").expect("config").cpus, 3);
        assert!(matches!(
            manager.set("nope", |_| {}),
            Err(MachineError::NotFound { .. })
        ));
    }

    #[test]
    fn create_list_info_and_remove() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let manager = Manager::with_home(tmp.path().to_path_buf());
        assert!(manager.list().expect("list").is_empty());
        let mut config = MachineConfig::new("dev");
        config.disk_gib = 2;
        let info = manager.create(&config).expect("create");
        assert_eq!(info.state, MachineState::Stopped);
        assert_eq!(info.disk_gib, 2);
        assert_eq!(info.socket, tmp.path().join("machines/dev/docker.sock"));
        assert!(matches!(
            manager.create(&config),
            Err(MachineError::AlreadyExists { .. })
        ));
        let disk = tmp.path().join("machines/dev/disk.img");
        assert_eq!(std::fs::metadata(&disk).expect("disk").len(), 2 << 30);
        let json = serde_json::to_value(&info).expect("json");
        assert_eq!(json["state"], "stopped");
        assert_eq!(manager.list().expect("list"), vec![info]);
        assert!(matches!(
            manager.info("nope"),
            Err(MachineError::NotFound { .. })
        ));
        assert!(manager.console_tail("dev", 5).expect("tail").is_empty());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(manager.stop("dev"))
            .expect("stopping a stopped machine succeeds");
        rt.block_on(manager.remove("dev")).expect("remove");
        assert!(!tmp.path().join("machines/dev").exists());
        assert!(manager.list().expect("list").is_empty());
    }
}
