//! A machine double for tests: starts and stops instantly, counts calls and
//! reports the phases a real start goes through.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;

use super::{
    MachineConfig, MachineControl, MachineInfo, MachineState, ParsedSettings, ProgressFn,
    StartProgress,
};
use crate::error::{Error, Result};

/// A machine that exists and obeys at once.
#[derive(Debug)]
pub struct FakeMachine {
    state: Mutex<Option<MachineState>>,
    config: Mutex<MachineConfig>,
    console: Mutex<Option<Vec<String>>>,
    starts: AtomicUsize,
    stops: AtomicUsize,
    removes: AtomicUsize,
    fail_start: bool,
}

impl FakeMachine {
    /// A stopped machine.
    pub fn stopped() -> FakeMachine {
        FakeMachine {
            state: Mutex::new(Some(MachineState::Stopped)),
            config: Mutex::new(MachineConfig {
                disk_gib: 20,
                ..MachineConfig::new("default")
            }),
            console: Mutex::new(None),
            starts: AtomicUsize::new(0),
            stops: AtomicUsize::new(0),
            removes: AtomicUsize::new(0),
            fail_start: false,
        }
    }

    /// A stopped machine whose start fails after launching.
    pub fn failing() -> FakeMachine {
        FakeMachine {
            fail_start: true,
            ..FakeMachine::stopped()
        }
    }

    /// Sets the state (as if the machine changed behind the app's back).
    pub fn set(&self, state: MachineState) {
        *self.state.lock().expect("fake machine lock") = Some(state);
    }

    /// How often `start` was called.
    pub fn starts(&self) -> usize {
        self.starts.load(Ordering::SeqCst)
    }

    /// How often `stop` was called.
    pub fn stops(&self) -> usize {
        self.stops.load(Ordering::SeqCst)
    }

    /// How often `remove` was called.
    pub fn removes(&self) -> usize {
        self.removes.load(Ordering::SeqCst)
    }

    /// The saved config.
    pub fn config_now(&self) -> MachineConfig {
        self.config.lock().expect("fake machine lock").clone()
    }

    /// Replaces the saved config.
    pub fn save_config(&self, config: MachineConfig) {
        *self.config.lock().expect("fake machine lock") = config;
    }

    /// Makes the console hold `lines` (else it is `line 0`, `line 1`, …).
    pub fn set_console(&self, lines: Vec<String>) {
        *self.console.lock().expect("fake machine lock") = Some(lines);
    }
}

impl MachineControl for FakeMachine {
    fn info(&self) -> Result<Option<MachineInfo>> {
        let state = *self.state.lock().expect("fake machine lock");
        let config = self.config_now();
        Ok(state.map(|state| MachineInfo {
            name: "default".into(),
            state,
            reason: None,
            cpus: config.cpus,
            memory_mib: config.memory_mib,
            disk_gib: config.disk_gib,
            socket: PathBuf::from("/tmp/fake/docker.sock"),
        }))
    }

    fn start<'a>(&'a self, progress: ProgressFn<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.starts.fetch_add(1, Ordering::SeqCst);
            self.set(MachineState::Starting);
            progress(StartProgress {
                phase: "launching".into(),
                message: "Launching the VM".into(),
            });
            if self.fail_start {
                self.set(MachineState::Broken);
                return Err(Error::Machine("the vm exited during boot".into()));
            }
            for (phase, message) in [
                ("booting", "Booting Linux"),
                ("engine", "Waiting for the engine"),
            ] {
                progress(StartProgress {
                    phase: phase.into(),
                    message: message.into(),
                });
            }
            self.set(MachineState::Running);
            progress(StartProgress {
                phase: "ready".into(),
                message: "Ready".into(),
            });
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.stops.fetch_add(1, Ordering::SeqCst);
            self.set(MachineState::Stopped);
            Ok(())
        })
    }

    fn console(&self, lines: usize) -> Result<Vec<String>> {
        match &*self.console.lock().expect("fake machine lock") {
            Some(all) => Ok(all[all.len().saturating_sub(lines)..].to_vec()),
            None => Ok((0..lines).map(|i| format!("line {i}")).collect()),
        }
    }

    fn config(&self) -> Result<Option<MachineConfig>> {
        let exists = self.state.lock().expect("fake machine lock").is_some();
        Ok(exists.then(|| self.config_now()))
    }

    fn save_settings(&self, settings: &ParsedSettings) -> Result<()> {
        settings.apply_to(&mut self.config.lock().expect("fake machine lock"));
        Ok(())
    }

    fn remove(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.removes.fetch_add(1, Ordering::SeqCst);
            *self.state.lock().expect("fake machine lock") = None;
            Ok(())
        })
    }

    fn create(&self, config: &MachineConfig) -> Result<()> {
        *self.config.lock().expect("fake machine lock") = config.clone();
        self.set(MachineState::Stopped);
        Ok(())
    }
}
