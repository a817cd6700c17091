//! `skiff-init`: PID 1 of the Skiff VM (see docs/vm.md for the contract
//! with the host).
//!
//! Boot: leave the initramfs for a tmpfs root ([`rootfs`]), mount the API
//! filesystems and cgroup2 ([`mounts`]), load the kernel modules
//! ([`kmod`]), set the clock ([`clock`]), configure `lo`/`eth0` ([`net`]),
//! format/mount the data disk ([`disk`]); then run skiffd under
//! supervision ([`supervisor`], [`reaper`]), relay the engine socket over
//! the `skiff.engine` port, answer the `skiff.control` port
//! ([`control_port`]) and power off cleanly ([`power`]).
//!
//! Platform-neutral logic (command line, modules.dep, control protocol,
//! backoff, mountinfo) is kept in plain functions tested on the host.

pub mod backoff;
pub mod clock;
pub mod cmdline;
pub mod control;
pub mod control_port;
pub mod disk;
pub mod error;
pub mod kmod;
pub mod log;
pub mod mounts;
pub mod net;
pub mod ping;
pub mod power;
pub mod reaper;
pub mod rootfs;
pub mod supervisor;
pub mod vport;
