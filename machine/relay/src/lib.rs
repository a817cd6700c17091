//! The engine-socket relay between the host and the Skiff VM.
//!
//! The VM exposes one byte pipe to the host — a virtio-serial port under
//! QEMU (`skiff.engine`), a vsock connection under Virtualization.framework,
//! the stdin/stdout of `wsl -d …` under WSL2. The relay runs one
//! [yamux](https://github.com/hashicorp/yamux/blob/master/spec.md) session
//! over that pipe:
//!
//! - [`host::serve`] accepts connections on the host's `docker.sock` and
//!   opens one yamux stream for each;
//! - [`guest::serve`] answers each stream by connecting to the engine's Unix
//!   socket inside the VM and relays bytes both ways, half-close included
//!   (a FIN on the stream is a `shutdown(SHUT_WR)` on the socket and back).
//!
//! A session starts with a short line handshake ([`handshake`]) so that
//! bytes left in the pipe by an earlier session (a host that went away
//! mid-frame) are skipped instead of being parsed as yamux frames.
//!
//! The same session carries the ports published in the guest
//! ([`ports`]): the guest tells the host what is published
//! ([`port_table`] is its seam to the engine), and the host's
//! [`PortForwarder`] listens on its loopback and opens one stream per
//! forwarded connection (UDP: per client flow).
//!
//! An engine socket that cannot be reached resets the stream, so the host
//! client sees its connection closed rather than a hang.
//!
//! On Linux every descriptor-backed pipe (a virtio-serial port opened with
//! [`serial::open`], a vsock connection, WSL's stdio, a pty) is one
//! [`FdStream`], whose constructor states what its half-close does.

#![warn(missing_docs)]

mod error;
#[cfg(target_os = "linux")]
pub mod fd_stream;
#[cfg(unix)]
pub mod guest;
pub mod handshake;
pub mod host;
mod pipe;
#[cfg(unix)]
mod port_guest;
mod port_host;
pub mod port_table;
pub mod ports;
pub mod prefixed;
#[cfg(target_os = "linux")]
pub mod serial;
mod session;
pub mod shell;
#[cfg(target_os = "linux")]
mod shell_guest;

pub use error::RelayError;
#[cfg(target_os = "linux")]
pub use fd_stream::FdStream;
pub use host::Accept;
#[cfg(unix)]
pub use port_guest::{GuestPorts, Redirect};
pub use port_host::{PortForwarder, PortStatus};
