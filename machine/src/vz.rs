//! The Virtualization.framework backend (macOS): the device graph is
//! described here on every platform (and unit-tested); the code that builds
//! it with `objc2-virtualization` is macOS-only.
//!
//! The graph: `VZLinuxBootLoader` (kernel, initrd, command line with
//! `console=hvc0`), a `VZVirtioBlockDevice` over `disk.img`, NAT networking
//! (`VZNATNetworkDeviceAttachment` on a virtio-net device), a virtio console
//! whose output is appended to `console.log`, and a `VZVirtioSocketDevice`.
//! Under VZ the engine and control ports are **vsock** ports, not
//! virtio-serial ports: the guest listens on vsock port
//! [`ENGINE_VSOCK_PORT`] (the relay's guest half on each accepted
//! connection, one session at a time) and [`CONTROL_VSOCK_PORT`] (the
//! control line protocol); the host connects to both through the socket
//! device. Guest init picks vsock when no `skiff.engine` virtio-serial port
//! exists.

use std::path::PathBuf;

use crate::cmdline;
use crate::config::MachineConfig;
use crate::image::VmImage;
use crate::paths::MachineDir;

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
    /// Where the virtio console's output goes.
    pub console_log: PathBuf,
    /// NAT networking (VZ has no restricted mode).
    pub nat: bool,
    /// vsock ports the host connects to: engine, control.
    pub vsock_ports: (u32, u32),
}

/// The device graph for `config` in `dir`, booting `image`.
pub fn describe(config: &MachineConfig, dir: &MachineDir, image: &VmImage, now: u64) -> VzMachine {
    VzMachine {
        cpus: config.cpus,
        memory_bytes: config.memory_mib << 20,
        kernel: image.kernel(),
        initrd: image.initrd(),
        cmdline: cmdline::kernel_cmdline(config, "hvc0", now),
        disk: dir.disk(),
        console_log: dir.console(),
        nat: true,
        vsock_ports: (ENGINE_VSOCK_PORT, CONTROL_VSOCK_PORT),
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
        let vz = describe(&config, &dir, &image, 9);
        assert_eq!(vz.memory_bytes, 4 << 30);
        assert_eq!(vz.disk, PathBuf::from("/h/machines/default/disk.img"));
        assert!(
            vz.cmdline.starts_with("console=hvc0 panic=-1"),
            "{}",
            vz.cmdline
        );
        assert!(vz.cmdline.contains("skiff.time=9"));
        assert_eq!(vz.vsock_ports, (1024, 1025));
        assert_eq!(vz.kernel, image.dir.join("vmlinuz"));
    }
}
