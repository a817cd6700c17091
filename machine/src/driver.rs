//! The hypervisor driver interface (in the spirit of lima's `pkg/driver`).

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::config::MachineConfig;
use crate::error::Result;
use crate::paths::MachineDir;
use crate::state::MachineState;

/// A boxed future, so drivers can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A step of `start`, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartProgress {
    /// `launching`, `booting`, `engine` or `ready`.
    pub phase: String,
    /// A human-readable detail (a console line while booting).
    pub message: String,
}

impl StartProgress {
    /// A progress report.
    pub fn new(phase: &str, message: impl Into<String>) -> StartProgress {
        StartProgress {
            phase: phase.to_string(),
            message: message.into(),
        }
    }
}

/// Receives [`StartProgress`] reports.
pub type ProgressFn<'a> = &'a (dyn Fn(StartProgress) + Send + Sync);

/// A hypervisor backend. Every method takes the machine's directory and
/// its (validated) config.
pub trait Driver: Send + Sync {
    /// `qemu`, `vz` or `wsl2`.
    fn name(&self) -> &'static str;

    /// Creates what the machine needs on disk (the sparse data disk, a WSL
    /// distribution, ...). Idempotent: what exists is kept, so calling it
    /// on a created machine changes nothing.
    fn create(&self, dir: &MachineDir, config: &MachineConfig) -> Result<()>;

    /// Boots the machine and returns only when the engine answers `/_ping`
    /// through the forwarded socket (`dir.socket()`), or fails with a clear
    /// error that carries the console's last lines. Starting a running
    /// machine returns at once; starting a machine that another process is
    /// starting waits for that start.
    fn start<'a>(
        &'a self,
        dir: &'a MachineDir,
        config: &'a MachineConfig,
        progress: ProgressFn<'a>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Stops the machine gracefully, with a timeout: the control port's
    /// `poweroff` first, then the hypervisor's power button (QMP
    /// `system_powerdown`), then SIGKILL. Idempotent: stopping a stopped
    /// machine succeeds.
    fn stop<'a>(&'a self, dir: &'a MachineDir) -> BoxFuture<'a, Result<()>>;

    /// The machine's state and, when stopped abnormally, why.
    fn status(&self, dir: &MachineDir) -> Result<(MachineState, Option<String>)>;

    /// Removes backend state outside the machine directory (a WSL
    /// distribution); the caller stops the machine first and removes the
    /// directory after.
    fn remove(&self, dir: &MachineDir) -> Result<()>;
}
