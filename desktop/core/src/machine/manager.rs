//! The real machine: `skiff_machine::Manager` for the default machine.
//! Starting a machine that does not exist yet creates it with the default
//! settings first, as `skiff machine up` does.

use futures_util::future::BoxFuture;
use skiff_machine::{MachineConfig, MachineError, Manager};

use super::{DEFAULT_MACHINE, MachineControl, MachineInfo, ParsedSettings, ProgressFn};
use crate::error::{Error, Result};

/// The default machine of one Skiff home.
#[derive(Debug, Clone)]
pub struct ManagerMachine {
    manager: Manager,
    name: String,
}

impl ManagerMachine {
    /// The default machine of `$SKIFF_HOME` (or `~/.skiff`).
    pub fn from_env() -> Result<ManagerMachine> {
        Ok(ManagerMachine::new(
            Manager::from_env().map_err(machine_error)?,
        ))
    }

    /// The default machine of `manager`.
    pub fn new(manager: Manager) -> ManagerMachine {
        ManagerMachine {
            manager,
            name: DEFAULT_MACHINE.to_string(),
        }
    }
}

/// A machine error for the UI: an unsupported backend means "not
/// available here", anything else is the machine's failure.
fn machine_error(err: MachineError) -> Error {
    match err {
        MachineError::Unsupported { .. } => Error::MachineUnavailable(err.to_string()),
        other => Error::Machine(other.to_string()),
    }
}

impl MachineControl for ManagerMachine {
    fn info(&self) -> Result<Option<MachineInfo>> {
        match self.manager.info(&self.name) {
            Ok(info) => Ok(Some(info)),
            Err(MachineError::NotFound { .. }) => Ok(None),
            Err(err) => Err(machine_error(err)),
        }
    }

    fn start<'a>(&'a self, progress: ProgressFn<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if let Err(MachineError::NotFound { .. }) = self.manager.info(&self.name) {
                self.manager
                    .create(&MachineConfig::new(&self.name))
                    .map_err(machine_error)?;
            }
            self.manager
                .start(&self.name, progress)
                .await
                .map_err(machine_error)
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.manager.stop(&self.name).await.map_err(machine_error) })
    }

    fn console(&self, lines: usize) -> Result<Vec<String>> {
        match self.manager.console_tail(&self.name, lines) {
            Err(MachineError::NotFound { .. }) => Ok(Vec::new()),
            other => other.map_err(machine_error),
        }
    }

    fn config(&self) -> Result<Option<MachineConfig>> {
        match self.manager.config(&self.name) {
            Ok(config) => Ok(Some(config)),
            Err(MachineError::NotFound { .. }) => Ok(None),
            Err(err) => Err(machine_error(err)),
        }
    }

    fn save_settings(&self, settings: &ParsedSettings) -> Result<()> {
        self.manager
            .set(&self.name, |config| settings.apply_to(config))
            .map(drop)
            .map_err(machine_error)
    }

    fn remove(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.manager.remove(&self.name).await.map_err(machine_error) })
    }

    fn create(&self, config: &MachineConfig) -> Result<()> {
        let config = MachineConfig {
            name: self.name.clone(),
            ..config.clone()
        };
        self.manager
            .create(&config)
            .map(drop)
            .map_err(machine_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineState;

    #[test]
    fn no_machine_then_a_created_one() {
        let home = tempfile::tempdir().expect("temp dir");
        let manager = Manager::with_home(home.path().to_path_buf());
        let machine = ManagerMachine::new(manager.clone());
        assert_eq!(machine.info().expect("info"), None);
        assert_eq!(machine.console(10).expect("console"), Vec::<String>::new());
        manager
            .create(&MachineConfig::new(DEFAULT_MACHINE))
            .expect("create");
        let info = machine.info().expect("info").expect("a machine");
        assert_eq!(info.name, "default");
        assert_eq!(info.state, MachineState::Stopped);
        assert!(info.socket.ends_with("machines/default/docker.sock"));
        // Stopping a stopped machine is fine.
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(machine.stop()).expect("stop");
    }

    // The QEMU backend's create; other platforms' need their hypervisor.
    #[cfg(target_os = "linux")]
    #[test]
    fn settings_are_saved_and_recreated_through_the_manager() {
        use crate::machine::settings::SettingsChange;
        let home = tempfile::tempdir().expect("temp dir");
        let manager = Manager::with_home(home.path().to_path_buf());
        let machine = ManagerMachine::new(manager.clone());
        assert_eq!(machine.config().expect("config"), None);
        let change = |disk: &str, mounts: Option<Vec<String>>| SettingsChange {
            cpus: 1,
            memory: "1G".into(),
            disk: disk.into(),
            mounts,
        };
        let config_with = |disk: &str| {
            let mut config = MachineConfig::new(DEFAULT_MACHINE);
            change(disk, None)
                .parse()
                .expect("valid")
                .apply_to(&mut config);
            config
        };
        machine.create(&config_with("1")).expect("create");
        let shared = vec![home.path().join("code").display().to_string()];
        machine
            .save_settings(&change("1", Some(shared.clone())).parse().expect("valid"))
            .expect("save");
        let config = manager.config(DEFAULT_MACHINE).expect("config.json");
        assert_eq!((config.cpus, config.memory_mib), (1, 1024));
        assert_eq!(
            config.mounts.expect("mounts")[0].host,
            home.path().join("code")
        );
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(machine.remove()).expect("remove");
        assert_eq!(machine.config().expect("config"), None);
        machine.create(&config_with("2")).expect("create again");
        let disk = home.path().join("machines/default/disk.img");
        assert_eq!(std::fs::metadata(disk).expect("disk").len(), 2 << 30);
    }
}
