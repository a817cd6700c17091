//! The Virtualization.framework backend (macOS): the device graph is
//! described here on every platform (and unit-tested); the code that builds
//! it with `objc2-virtualization` is macOS-only.
//!
//! The graph: `VZLinuxBootLoader` (kernel, initrd, command line with
//! `console=hvc0`), a `VZVirtioBlockDevice` over `disk.img` (and a read-only
//! one over the image's `system.img` when it has one), NAT networking
//! (`VZNATNetworkDeviceAttachment` on a virtio-net device), a virtio console
//! whose output is appended to `console.log`, a `VZVirtioSocketDevice`,
//! and a `VZVirtioFileSystemDeviceConfiguration` per shared folder.
//! Under VZ the engine and control ports are **vsock** ports, not
//! virtio-serial ports: the guest listens on vsock port
//! [`ENGINE_VSOCK_PORT`] (the relay's guest half on each accepted
//! connection, one session at a time) and [`CONTROL_VSOCK_PORT`] (the
//! control line protocol); the host connects to both through the socket
//! device. Guest init picks vsock when no `skiff.engine` virtio-serial port
//! exists.
//!
//! With the `vz` feature, [`runtime`] builds the graph with
//! `objc2-virtualization` and [`supervisor`] runs it (macOS only).

#[cfg(all(target_os = "macos", feature = "vz"))]
pub mod runtime;
#[cfg(all(target_os = "macos", feature = "vz"))]
pub mod supervisor;

use std::path::PathBuf;

use crate::cmdline;
use crate::config::MachineConfig;
use crate::image::VmImage;
use crate::paths::MachineDir;
use crate::shares::ShareDevice;

/// The guest's vsock port for the engine relay.
pub const ENGINE_VSOCK_PORT: u32 = 1024;
/// The guest's vsock port for the control protocol.
pub const CONTROL_VSOCK_PORT: u32 = 1025;

/// What the VZ virtual machine is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VzMachine {
    /// vCPUs.
    pub cpus: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// The kernel (uncompressed on arm64, as VZ requires).
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
    /// The raw data disk (virtio-blk, read-write).
    pub disk: PathBuf,
    /// The image's system disk (virtio-blk, read-only, after the data
    /// disk), when it has one.
    pub system_disk: Option<PathBuf>,
    /// Where the virtio console's output goes.
    pub console_log: PathBuf,
    /// NAT networking (VZ has no restricted mode).
    pub nat: bool,
    /// The `VZVirtioSocketDevice` and the guest ports the host connects to
    /// through it.
    pub socket_device: VirtioSocketDevice,
    /// One `VZVirtioFileSystemDeviceConfiguration` per shared folder (tag,
    /// a `VZSingleDirectoryShare` of the host folder, read-only or not);
    /// the guest mounts each tag where `skiff.share=` says.
    pub shares: Vec<ShareDevice>,
}

/// A `VZVirtioSocketDeviceConfiguration` on the VM: the host reaches the
/// guest's listeners with `connectToPort` (the guest is the vsock server;
/// the host needs no listener of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioSocketDevice {
    /// The engine relay's port: one relay session per connection.
    pub engine_port: u32,
    /// The control line protocol's port.
    pub control_port: u32,
}

impl VirtioSocketDevice {
    /// The ports docs/vm.md fixes: engine 1024, control 1025.
    pub const SKIFF: VirtioSocketDevice = VirtioSocketDevice {
        engine_port: ENGINE_VSOCK_PORT,
        control_port: CONTROL_VSOCK_PORT,
    };
}

/// The device graph for `config` in `dir`, booting `image`, sharing
/// `shares` (see [`crate::shares::devices`]).
pub fn describe(
    config: &MachineConfig,
    dir: &MachineDir,
    image: &VmImage,
    now: u64,
    shares: &[ShareDevice],
) -> VzMachine {
    VzMachine {
        cpus: config.cpus,
        memory_bytes: config.memory_mib << 20,
        kernel: image.kernel(),
        initrd: image.initrd(),
        cmdline: cmdline::kernel_cmdline(config, "hvc0", now, shares),
        disk: dir.disk(),
        system_disk: image.system_disk(),
        console_log: dir.console(),
        nat: true,
        socket_device: VirtioSocketDevice::SKIFF,
        shares: shares.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_graph() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let image = crate::image::tests::fake_image(&tmp.path().join("img"));
        let dir = crate::paths::Home::at("/h".into())
            .machine("default")
            .expect("name");
        let mut config = MachineConfig::new("default");
        config.memory_mib = 4096;
        let share = ShareDevice {
            tag: "skiff0".into(),
            host: "/Users/me".into(),
            guest: "/Users/me".into(),
            read_only: false,
        };
        let vz = describe(&config, &dir, &image, 9, std::slice::from_ref(&share));
        assert_eq!(vz.shares, vec![share]);
        assert!(
            vz.cmdline.ends_with(" skiff.share=skiff0:/Users/me"),
            "{}",
            vz.cmdline
        );
        assert_eq!(vz.memory_bytes, 4 << 30);
        assert_eq!(vz.disk, PathBuf::from("/h/machines/default/disk.img"));
        assert_eq!(vz.system_disk, None, "the fake image has no system.img");
        assert!(
            vz.cmdline.starts_with("console=hvc0 panic=-1"),
            "{}",
            vz.cmdline
        );
        assert!(vz.cmdline.contains("skiff.time=9"));
        assert_eq!(vz.socket_device.engine_port, 1024);
        assert_eq!(vz.socket_device.control_port, 1025);
        assert!(vz.nat);
        assert_eq!(
            vz.console_log,
            PathBuf::from("/h/machines/default/console.log")
        );
        assert_eq!(vz.kernel, image.dir.join("vmlinuz"));
    }
}
