//! `skiff-init`: PID 1 of the Skiff VM (see docs/vm.md for the contract
//! with the host).
//!
//! Boot: give containers a root they can `pivot_root` from ([`rootfs`]),
//! mount the API filesystems and cgroup2 ([`mounts`]), load the kernel
//! modules ([`kmod`]; the binary is also `/sbin/modprobe` for on-demand
//! loading), mount the read-only system disk at `/usr` ([`system`]), set
//! the clock ([`clock`]), configure `lo`/`eth0` ([`net`]), format/mount
//! the data disk ([`disk`]); then run skiffd under
//! supervision ([`supervisor`], [`reaper`]), relay the engine socket over
//! the `skiff.engine` port ([`engine_port`]), answer the `skiff.control`
//! port ([`control_port`]) — virtio-serial ports under QEMU, vsock ports
//! 1024/1025 under Virtualization.framework ([`vsock`]) — and power off
//! cleanly ([`power`]). `skiff-init --wsl` ([`wsl`], [`mode`]) runs the
//! same engine side inside a WSL2 distribution.
//!
//! Platform-neutral logic (command line, modules.dep, control protocol,
//! backoff, mountinfo) is kept in plain functions tested on the host.

#![warn(missing_docs)]

pub mod backoff;
pub mod clock;
pub mod cmdline;
pub mod control;
pub mod control_port;
pub mod disk;
pub mod engine_http;
pub mod engine_port;
pub mod error;
pub mod kmod;
pub mod log;
pub mod mode;
pub mod mounts;
pub mod net;
pub mod ping;
pub mod ports;
pub mod power;
pub mod reaper;
pub mod rootfs;
pub mod shares;
pub mod supervisor;
pub mod system;
pub mod touch;
pub mod vport;
pub mod vsock;
pub mod wsl;
