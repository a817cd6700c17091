//! Changing the machine from the Settings and Troubleshoot views: new
//! settings (applied by restarting a running VM, as they only take effect
//! at boot), recreating the machine, and restarting the engine.

use serde::Serialize;

use super::settings::{MachineSettings, SettingsChange};
use super::{Machine, MachineConfig, MachineState, ProgressFn};
use crate::error::{Error, Result};

/// What [`Machine::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The VM was running and was restarted to take the settings.
    pub restarted: bool,
    /// The settings now saved.
    pub settings: MachineSettings,
}

fn no_machine() -> Error {
    Error::NotFound("there is no machine yet: start it once to create it".into())
}

impl Machine {
    /// The machine's settings (`None`: no machine yet).
    pub fn settings(&self) -> Result<Option<MachineSettings>> {
        Ok(self.control.config()?.map(|c| MachineSettings::of(&c)))
    }

    /// Whether the VM is up or coming up (read afresh).
    fn is_up(&self) -> Result<bool> {
        Ok(matches!(
            self.refresh()?.map(|i| i.state),
            Some(MachineState::Running | MachineState::Starting)
        ))
    }

    /// Checks and saves `change`; a running VM is then stopped and started
    /// again (reporting `progress`) so the settings take effect. The disk's
    /// size is fixed when the machine is created: a different one is
    /// refused (recreate the machine to change it), and so is anything
    /// [`SettingsChange::parse`] refuses. Nothing is saved when a check
    /// fails.
    pub async fn apply(
        &self,
        change: &SettingsChange,
        progress: ProgressFn<'_>,
    ) -> Result<Applied> {
        let parsed = change.parse()?;
        let config = self.control.config()?.ok_or_else(no_machine)?;
        if parsed.disk_gib != config.disk_gib {
            return Err(Error::InvalidRequest(format!(
                "the data disk's size ({} GiB) is fixed when the machine is created; to get {} GiB, reset the machine (which deletes its images, containers and volumes)",
                config.disk_gib, parsed.disk_gib
            )));
        }
        let restart = self.is_up()?;
        self.control.save_settings(&parsed)?;
        if restart {
            self.stop().await?;
            self.start(progress).await?;
        }
        let settings = self.settings()?.ok_or_else(no_machine)?;
        Ok(Applied {
            restarted: restart,
            settings,
        })
    }

    /// Deletes the machine — its disk with every image, container and
    /// volume — and creates it again with `change`'s settings (the disk's
    /// size included) and its other ones (backend, networking, registry
    /// mirror) as they were; starts it again when it was up. Returns
    /// whether it did. A `change` that does not parse deletes nothing.
    pub async fn recreate(
        &self,
        change: &SettingsChange,
        progress: ProgressFn<'_>,
    ) -> Result<bool> {
        let parsed = change.parse()?;
        let was_up = self.is_up()?;
        let old = self.control.config()?;
        let mut config = match &old {
            Some(old) => MachineConfig {
                created: MachineConfig::new(&old.name).created,
                ..old.clone()
            },
            None => MachineConfig::new(super::DEFAULT_MACHINE),
        };
        parsed.apply_to(&mut config);
        if old.is_some() {
            self.control.remove().await?;
        }
        let created = self.control.create(&config);
        let _ = self.refresh();
        created?;
        if was_up {
            self.start(progress).await?;
        }
        Ok(was_up)
    }

    /// Restarts the engine: skiffd is the VM's service (its init restarts
    /// it only when it exits), so the machine layer's restart is the VM's
    /// — stopped cleanly, then started until the engine answers. Refused
    /// when the VM is not running.
    pub async fn restart(&self, progress: ProgressFn<'_>) -> Result<()> {
        match self.refresh()?.map(|i| i.state) {
            Some(MachineState::Running) => {}
            None => return Err(no_machine()),
            Some(state) => {
                return Err(Error::Conflict(format!(
                    "the machine is {}: start it instead",
                    state.as_str()
                )));
            }
        }
        self.stop().await?;
        self.start(progress).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::machine::fake::FakeMachine;

    fn change(cpus: u32, memory: &str, disk: &str) -> SettingsChange {
        SettingsChange {
            cpus,
            memory: memory.into(),
            disk: disk.into(),
            mounts: None,
        }
    }

    #[tokio::test]
    async fn a_stopped_machine_is_only_saved() {
        let fake = Arc::new(FakeMachine::stopped());
        let machine = Machine::new(fake.clone());
        let applied = machine
            .apply(&change(1, "3G", "20"), &|_| {})
            .await
            .expect("apply");
        assert!(!applied.restarted);
        assert_eq!(applied.settings.memory_mib, 3072);
        assert_eq!((fake.stops(), fake.starts()), (0, 0));
        assert_eq!(fake.config_now().memory_mib, 3072);
    }

    #[tokio::test]
    async fn a_running_machine_is_restarted_with_progress() {
        let fake = Arc::new(FakeMachine::stopped());
        fake.set(MachineState::Running);
        let machine = Machine::new(fake.clone());
        let phases = Mutex::new(Vec::new());
        let applied = machine
            .apply(&change(1, "4096", "20G"), &|p| {
                phases.lock().expect("lock").push(p.phase)
            })
            .await
            .expect("apply");
        assert!(applied.restarted);
        assert_eq!((fake.stops(), fake.starts()), (1, 1));
        assert_eq!(
            phases.lock().expect("lock").last().map(String::as_str),
            Some("ready")
        );
        assert_eq!(
            machine.current().map(|i| i.state),
            Some(MachineState::Running)
        );
    }

    #[tokio::test]
    async fn refused_changes_save_nothing_and_restart_nothing() {
        let fake = Arc::new(FakeMachine::stopped());
        fake.set(MachineState::Running);
        let machine = Machine::new(fake.clone());
        let before = fake.config_now();
        let err = machine
            .apply(&change(1, "2G", "40"), &|_| {})
            .await
            .expect_err("disk");
        assert!(err.to_string().contains("reset the machine"), "{err}");
        let err = machine
            .apply(&change(1, "2X", "20"), &|_| {})
            .await
            .expect_err("unit");
        assert!(err.to_string().contains("invalid setting memory"), "{err}");
        assert_eq!(fake.config_now(), before);
        assert_eq!((fake.stops(), fake.starts()), (0, 0));
    }

    #[tokio::test]
    async fn a_failed_restart_is_the_machines_error() {
        let fake = Arc::new(FakeMachine::failing());
        fake.set(MachineState::Running);
        let machine = Machine::new(fake.clone());
        let err = machine
            .apply(&change(1, "2G", "20"), &|_| {})
            .await
            .expect_err("start fails");
        assert_eq!(err.kind(), "machine_error");
        assert!(err.to_string().contains("exited during boot"), "{err}");
        // The settings were saved: the next start uses them.
        assert_eq!(fake.config_now().cpus, 1);
    }

    #[tokio::test]
    async fn recreate_removes_creates_and_restarts_what_ran() {
        let fake = Arc::new(FakeMachine::stopped());
        fake.set(MachineState::Running);
        let mut old = fake.config_now();
        old.network = skiff_machine::config::Network::Restricted;
        old.registry_mirror = Some("http://127.0.0.1:5000".into());
        fake.save_config(old);
        let machine = Machine::new(fake.clone());
        let err = machine
            .recreate(&change(1, "2G", "nope"), &|_| {})
            .await
            .expect_err("bad disk");
        assert!(err.to_string().contains("invalid setting disk"), "{err}");
        assert_eq!(fake.removes(), 0, "nothing deleted on a bad change");
        let started = machine
            .recreate(&change(1, "2G", "100G"), &|_| {})
            .await
            .expect("recreate");
        assert!(started);
        assert_eq!(fake.removes(), 1);
        let now = fake.config_now();
        assert_eq!(now.disk_gib, 100);
        // What the Settings view does not edit is kept.
        assert_eq!(now.network, skiff_machine::config::Network::Restricted);
        assert_eq!(
            now.registry_mirror.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(fake.starts(), 1);
        // A stopped machine stays stopped.
        machine.stop().await.expect("stop");
        assert!(
            !machine
                .recreate(&change(1, "2G", "64"), &|_| {})
                .await
                .expect("recreate")
        );
        assert_eq!(fake.starts(), 1);
    }

    #[tokio::test]
    async fn restart_needs_a_running_machine() {
        let fake = Arc::new(FakeMachine::stopped());
        let machine = Machine::new(fake.clone());
        let err = machine.restart(&|_| {}).await.expect_err("stopped");
        assert_eq!(err.kind(), "conflict");
        assert!(err.to_string().contains("stopped"), "{err}");
        fake.set(MachineState::Running);
        machine.restart(&|_| {}).await.expect("restart");
        assert_eq!((fake.stops(), fake.starts()), (1, 1));
        assert!(machine.running_socket().is_some());
    }
}
