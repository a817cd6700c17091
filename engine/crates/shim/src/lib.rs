//! `skiff-shim`: one small, single-threaded process per container.
//!
//! skiffd never calls the OCI runtime library in its own (multi-threaded)
//! process. For every container it runs the `skiff-shim` binary, which
//! daemonizes (so it is not skiffd's child and survives a skiffd restart),
//! creates and starts the container with youki's `libcontainer`, holds its
//! stdio (pipes, or the master side of a pty), writes its output to a log in
//! docker's `json-file` format, reaps it, records its exit status in
//! `exit.json`, and answers skiffd on a Unix socket in its state directory.
//!
//! This library is what skiffd links: the wire protocol ([`protocol`]), a
//! blocking client ([`client`]), a helper that writes an OCI bundle for the
//! common case ([`bundle`]), the json-file log format ([`jsonlog`]) and the
//! layout of a shim's state directory ([`paths`]), and with the `tokio`
//! feature an async reader of attach streams (`framed`). It does not depend on
//! `libcontainer` at run time; only the binary does.
//!
//! See `docs/shim.md` for the protocol and the state directory.

#![warn(missing_docs)]

pub mod bundle;
pub mod client;
pub mod error;
#[cfg(any(test, feature = "tokio"))]
pub mod framed;
pub mod jsonlog;
pub mod paths;
pub mod protocol;
pub mod seccomp;

pub use client::{AttachStream, Collected, Frame, LogTarget, Shim, ShimHandle, SpawnOptions};
pub use error::{Error, FileError, Result};
pub use protocol::{ExecInfo, ExitStatus, ProcessState, Status};
