//! The Skiff machine (the Linux VM the engine runs in) as the app sees it.
//!
//! [`MachineControl`] is the small interface the app needs from
//! `skiff_machine::Manager` for the default machine ([`ManagerMachine`] is
//! the real one); [`Machine`] wraps one and publishes its state on a
//! `watch` channel that the UI events, the tray and the engine connection
//! follow. Tests put a double behind the trait.

mod apply;
mod logs;
mod manager;
pub mod settings;
mod unavailable;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::error::Result;

pub use apply::Applied;
pub use logs::{engine_lines, is_engine_line};
pub use manager::ManagerMachine;
pub use settings::{MachineSettings, ParsedSettings, SettingsChange};
pub use skiff_machine::{MachineConfig, MachineInfo, MachineState, StartProgress};
pub use unavailable::Unavailable;

/// The machine the app manages.
pub const DEFAULT_MACHINE: &str = skiff_machine::DEFAULT_MACHINE;

/// Receives start progress.
pub type ProgressFn<'a> = &'a (dyn Fn(StartProgress) + Send + Sync);

/// What the app needs from the machine manager, for the default machine.
pub trait MachineControl: Send + Sync {
    /// The machine, `None` when it has not been created.
    fn info(&self) -> Result<Option<MachineInfo>>;
    /// Starts the machine; returns when its engine answers.
    fn start<'a>(&'a self, progress: ProgressFn<'a>) -> BoxFuture<'a, Result<()>>;
    /// Stops the machine (the guest powers off cleanly).
    fn stop(&self) -> BoxFuture<'_, Result<()>>;
    /// The last `lines` lines of the machine's console.
    fn console(&self, lines: usize) -> Result<Vec<String>>;
    /// The machine's `config.json`, `None` when it has not been created.
    fn config(&self) -> Result<Option<MachineConfig>>;
    /// Saves `settings` (checked again by the manager); a running machine
    /// keeps its old ones until its next start.
    fn save_settings(&self, settings: &ParsedSettings) -> Result<()>;
    /// Stops and deletes the machine: its disk (every image, container and
    /// volume in it), its config, its docker context.
    fn remove(&self) -> BoxFuture<'_, Result<()>>;
    /// Creates the machine with `config` (stopped).
    fn create(&self, config: &MachineConfig) -> Result<()>;
}

/// The machine service: a [`MachineControl`] plus its last known state.
#[derive(Clone)]
pub struct Machine {
    control: Arc<dyn MachineControl>,
    state: watch::Sender<Option<MachineInfo>>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Wraps `control`; the state is read on the first [`Machine::refresh`].
    pub fn new(control: Arc<dyn MachineControl>) -> Machine {
        Machine {
            control,
            state: watch::Sender::new(None),
        }
    }

    /// The machines of `$SKIFF_HOME` (or `~/.skiff`); [`Unavailable`]
    /// when there is no home directory to keep them in.
    pub fn from_env() -> Machine {
        match ManagerMachine::from_env() {
            Ok(manager) => Machine::new(Arc::new(manager)),
            Err(err) => {
                tracing::warn!("no machine manager: {err}");
                Machine::new(Arc::new(Unavailable))
            }
        }
    }

    /// The last known state (`None`: no machine).
    pub fn current(&self) -> Option<MachineInfo> {
        self.state.borrow().clone()
    }

    /// Follows state changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<MachineInfo>> {
        self.state.subscribe()
    }

    /// The engine socket of the machine when it is running.
    pub fn running_socket(&self) -> Option<PathBuf> {
        self.state
            .borrow()
            .as_ref()
            .filter(|info| info.state == MachineState::Running)
            .map(|info| info.socket.clone())
    }

    /// Reads the machine's state and publishes it when it changed; returns
    /// it.
    pub fn refresh(&self) -> Result<Option<MachineInfo>> {
        let info = self.control.info()?;
        self.publish(info.clone());
        Ok(info)
    }

    /// Publishes `info` to subscribers when it differs from the last one.
    fn publish(&self, info: Option<MachineInfo>) {
        self.state.send_if_modified(|current| {
            if *current == info {
                false
            } else {
                *current = info;
                true
            }
        });
    }

    /// The machine for the UI (`None`: no machine).
    pub fn info(&self) -> Result<Option<MachineInfo>> {
        self.refresh()
    }

    /// Starts the machine, passing progress on and publishing the state at
    /// every step.
    pub async fn start(&self, progress: ProgressFn<'_>) -> Result<()> {
        // Publish first, so followers of the state see it before the
        // progress line that caused it.
        let step = |p: StartProgress| {
            let _ = self.refresh();
            progress(p);
        };
        let result = self.control.start(&step).await;
        let _ = self.refresh();
        result
    }

    /// Stops the machine and publishes the new state.
    pub async fn stop(&self) -> Result<()> {
        let result = self.control.stop().await;
        let _ = self.refresh();
        result
    }

    /// The last `lines` console lines.
    pub fn console(&self, lines: usize) -> Result<Vec<String>> {
        self.control.console(lines)
    }
}

/// A machine double (the `fake` feature; tests of this crate and the app's).
#[cfg(any(test, feature = "fake"))]
pub mod fake;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::fake::FakeMachine;
    use super::*;

    #[tokio::test]
    async fn start_publishes_each_state_and_forwards_progress() {
        let fake = Arc::new(FakeMachine::stopped());
        let machine = Machine::new(fake.clone());
        let mut states = machine.subscribe();
        assert_eq!(
            machine.refresh().expect("info").map(|i| i.state),
            Some(MachineState::Stopped)
        );
        assert!(states.has_changed().expect("open"));
        states.mark_unchanged();
        let seen = Mutex::new(Vec::new());
        machine
            .start(&|p: StartProgress| seen.lock().expect("lock").push(p.phase))
            .await
            .expect("start");
        assert_eq!(
            *seen.lock().expect("lock"),
            ["launching", "booting", "engine", "ready"]
        );
        assert_eq!(fake.starts(), 1);
        assert_eq!(
            machine.running_socket(),
            Some(PathBuf::from("/tmp/fake/docker.sock"))
        );
        assert!(states.has_changed().expect("open"));
        machine.stop().await.expect("stop");
        assert_eq!(machine.running_socket(), None);
        assert_eq!(
            machine.current().map(|i| i.state),
            Some(MachineState::Stopped)
        );
    }

    #[test]
    fn unchanged_state_is_not_republished() {
        let machine = Machine::new(Arc::new(FakeMachine::stopped()));
        let mut states = machine.subscribe();
        machine.refresh().expect("info");
        states.mark_unchanged();
        machine.refresh().expect("info");
        assert!(!states.has_changed().expect("open"));
    }
}
