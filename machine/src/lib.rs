//! The managed Skiff VM on the host.
//!
//! A machine lives in `~/.skiff/machines/<name>/` (`SKIFF_HOME` overrides
//! `~/.skiff`): `config.json`, the sparse `disk.img`, `console.log`, and
//! while it runs the supervisor's `pid`, its `lock` and the sockets —
//! `docker.sock` (0600, the engine, forwarded by [`skiff_relay`]),
//! `engine.port`, `control.port`, `qmp.sock`.
//!
//! [`Manager`] is the API (the `skiff` CLI and the desktop app use it);
//! [`driver::Driver`] is the backend interface, and each backend has its
//! folder, as lima's `pkg/driver/<backend>`: QEMU on Linux ([`qemu`]),
//! Virtualization.framework on macOS ([`vz`]), WSL2 on Windows ([`wsl`]).
//! QEMU and VZ run under a detached supervisor process: its foreground
//! half is [`supervised`], the duties every supervisor shares are
//! [`supervision`]. The platform-neutral pieces (QEMU's command line, the
//! VZ device graph, WSL's command lines, the state machine) are tested
//! everywhere.

#![warn(missing_docs)]

pub mod cmdline;
pub mod config;
pub mod control;
pub mod disk_state;
pub mod docker_context;
pub mod driver;
pub mod error;
pub mod fsutil;
pub mod image;
#[cfg(unix)]
pub mod lock;
pub mod manager;
pub mod paths;
pub mod ping;
pub mod ports;
pub mod qemu;
pub mod shares;
pub mod shell_env;
pub mod state;
#[cfg(unix)]
pub mod supervised;
#[cfg(unix)]
pub mod supervision;
pub mod units;
pub mod vz;
pub mod watch;
pub mod wsl;

pub use config::MachineConfig;
pub use driver::StartProgress;
pub use error::MachineError;
pub use manager::{MachineInfo, Manager};
pub use paths::DEFAULT_MACHINE;
pub use state::MachineState;
