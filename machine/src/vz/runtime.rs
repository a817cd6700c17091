//! The Virtualization.framework VM itself (macOS, feature `vz`): builds the
//! device graph [`crate::vz::VzMachine`] describes and drives the VM on its
//! own serial dispatch queue. The binary needs the
//! `com.apple.security.virtualization` entitlement
//! (`codesign --entitlements machine/vz.entitlements -s - skiff`).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use block2::RcBlock;
use dispatch2::{DispatchQueue, DispatchRetained};
use objc2::AllocAnyThread;
use objc2::rc::Retained;
use objc2_foundation::{NSArray, NSError, NSString, NSURL};
use objc2_virtualization::{
    VZBootLoader, VZDirectoryShare, VZDirectorySharingDeviceConfiguration,
    VZDiskImageStorageDeviceAttachment, VZEntropyDeviceConfiguration, VZFileSerialPortAttachment,
    VZLinuxBootLoader, VZNATNetworkDeviceAttachment, VZNetworkDeviceAttachment,
    VZNetworkDeviceConfiguration, VZSerialPortAttachment, VZSerialPortConfiguration,
    VZSharedDirectory, VZSingleDirectoryShare, VZSocketDeviceConfiguration,
    VZStorageDeviceConfiguration, VZVirtioBlockDeviceConfiguration,
    VZVirtioConsoleDeviceSerialPortConfiguration, VZVirtioEntropyDeviceConfiguration,
    VZVirtioFileSystemDeviceConfiguration, VZVirtioNetworkDeviceConfiguration,
    VZVirtioSocketConnection, VZVirtioSocketDevice, VZVirtioSocketDeviceConfiguration,
    VZVirtualMachine, VZVirtualMachineConfiguration, VZVirtualMachineState,
};

use crate::vz::VzMachine;

/// A VZ object only ever touched on the VM's serial queue.
struct OnQueue<T>(T);
// SAFETY: the wrapped object is used only inside closures that run on the
// VM's serial queue, one at a time, as Virtualization.framework requires.
unsafe impl<T> Send for OnQueue<T> {}
// SAFETY: as above: shared references are used on the queue only.
unsafe impl<T> Sync for OnQueue<T> {}

/// A running (or startable) VZ virtual machine.
pub struct VzVm {
    vm: OnQueue<Retained<VZVirtualMachine>>,
    queue: DispatchRetained<DispatchQueue>,
}

fn url(path: &Path) -> Retained<NSURL> {
    NSURL::fileURLWithPath(&NSString::from_str(&path.display().to_string()))
}

fn describe_error(err: &NSError) -> String {
    err.localizedDescription().to_string()
}

/// The VZ configuration for `desc`, validated.
fn configuration(desc: &VzMachine) -> Result<Retained<VZVirtualMachineConfiguration>, String> {
    // SAFETY: Objective-C objects built with valid arguments and set on a
    // configuration that nothing else references yet.
    unsafe {
        let boot =
            VZLinuxBootLoader::initWithKernelURL(VZLinuxBootLoader::alloc(), &url(&desc.kernel));
        let initrd = url(&desc.initrd);
        boot.setInitialRamdiskURL(Some(&*initrd));
        boot.setCommandLine(&NSString::from_str(&desc.cmdline));

        let config = VZVirtualMachineConfiguration::new();
        let boot: &VZBootLoader = &boot;
        config.setBootLoader(Some(boot));
        config.setCPUCount(desc.cpus as usize);
        config.setMemorySize(desc.memory_bytes);

        let disk = VZDiskImageStorageDeviceAttachment::initWithURL_readOnly_error(
            VZDiskImageStorageDeviceAttachment::alloc(),
            &url(&desc.disk),
            false,
        )
        .map_err(|e| format!("opening {}: {}", desc.disk.display(), describe_error(&e)))?;
        let block = VZVirtioBlockDeviceConfiguration::initWithAttachment(
            VZVirtioBlockDeviceConfiguration::alloc(),
            &disk,
        );
        let storage: Retained<VZStorageDeviceConfiguration> = Retained::into_super(block);
        let mut disks = vec![storage];
        // The image's read-only /usr, after the data disk (the guest finds
        // it by its label).
        if let Some(system) = &desc.system_disk {
            let attachment = VZDiskImageStorageDeviceAttachment::initWithURL_readOnly_error(
                VZDiskImageStorageDeviceAttachment::alloc(),
                &url(system),
                true,
            )
            .map_err(|e| format!("opening {}: {}", system.display(), describe_error(&e)))?;
            let block = VZVirtioBlockDeviceConfiguration::initWithAttachment(
                VZVirtioBlockDeviceConfiguration::alloc(),
                &attachment,
            );
            disks.push(Retained::into_super(block));
        }
        config.setStorageDevices(&NSArray::from_retained_slice(&disks));

        let net = VZVirtioNetworkDeviceConfiguration::new();
        let nat = VZNATNetworkDeviceAttachment::new();
        let nat: &VZNetworkDeviceAttachment = &nat;
        net.setAttachment(Some(nat));
        let net: Retained<VZNetworkDeviceConfiguration> = Retained::into_super(net);
        config.setNetworkDevices(&NSArray::from_retained_slice(&[net]));

        let console_file = VZFileSerialPortAttachment::initWithURL_append_error(
            VZFileSerialPortAttachment::alloc(),
            &url(&desc.console_log),
            true,
        )
        .map_err(|e| {
            format!(
                "opening {}: {}",
                desc.console_log.display(),
                describe_error(&e)
            )
        })?;
        let console = VZVirtioConsoleDeviceSerialPortConfiguration::new();
        let console_file: &VZSerialPortAttachment = &console_file;
        console.setAttachment(Some(console_file));
        let console: Retained<VZSerialPortConfiguration> = Retained::into_super(console);
        config.setSerialPorts(&NSArray::from_retained_slice(&[console]));

        let vsock: Retained<VZSocketDeviceConfiguration> =
            Retained::into_super(VZVirtioSocketDeviceConfiguration::new());
        config.setSocketDevices(&NSArray::from_retained_slice(&[vsock]));
        let entropy: Retained<VZEntropyDeviceConfiguration> =
            Retained::into_super(VZVirtioEntropyDeviceConfiguration::new());
        config.setEntropyDevices(&NSArray::from_retained_slice(&[entropy]));

        // The host's shared folders: one virtio-fs device per folder, its
        // tag mounted by the guest where `skiff.share=` says.
        let mut shares: Vec<Retained<VZDirectorySharingDeviceConfiguration>> = Vec::new();
        for share in &desc.shares {
            let tag = NSString::from_str(&share.tag);
            VZVirtioFileSystemDeviceConfiguration::validateTag_error(&tag)
                .map_err(|e| format!("virtio-fs tag {}: {}", share.tag, describe_error(&e)))?;
            let device = VZVirtioFileSystemDeviceConfiguration::initWithTag(
                VZVirtioFileSystemDeviceConfiguration::alloc(),
                &tag,
            );
            let directory = VZSharedDirectory::initWithURL_readOnly(
                VZSharedDirectory::alloc(),
                &url(&share.host),
                share.read_only,
            );
            let single = VZSingleDirectoryShare::initWithDirectory(
                VZSingleDirectoryShare::alloc(),
                &directory,
            );
            let single: &VZDirectoryShare = &single;
            device.setShare(Some(single));
            shares.push(Retained::into_super(device));
        }
        config.setDirectorySharingDevices(&NSArray::from_retained_slice(&shares));

        config
            .validateWithError()
            .map_err(|e| format!("invalid VM configuration: {}", describe_error(&e)))?;
        Ok(config)
    }
}

impl VzVm {
    /// Builds the VM (not started).
    pub fn create(desc: &VzMachine) -> Result<VzVm, String> {
        let config = configuration(desc)?;
        let queue = DispatchQueue::new("dev.skiff.vz", None);
        // SAFETY: a valid configuration and a serial queue; the VM is used
        // on that queue only.
        let vm = unsafe {
            VZVirtualMachine::initWithConfiguration_queue(
                VZVirtualMachine::alloc(),
                &config,
                &queue,
            )
        };
        Ok(VzVm {
            vm: OnQueue(vm),
            queue,
        })
    }

    /// Starts the VM; returns when it runs (or failed to start).
    pub fn start(&self) -> Result<(), String> {
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let vm = OnQueue(self.vm.0.clone());
        self.queue.exec_async(move || {
            let vm = vm;
            let handler = RcBlock::new(move |err: *mut NSError| {
                // SAFETY: a non-null error is a valid NSError for the call.
                let result = match unsafe { err.as_ref() } {
                    None => Ok(()),
                    Some(err) => Err(describe_error(err)),
                };
                let _ = tx.send(result);
            });
            // SAFETY: on the VM's queue.
            unsafe { vm.0.startWithCompletionHandler(&handler) };
        });
        rx.recv_timeout(Duration::from_secs(60))
            .map_err(|_| "the VM did not start within 60 s".to_string())?
    }

    /// The VM's state.
    pub fn state(&self) -> VZVirtualMachineState {
        let mut state = None;
        let vm = &self.vm;
        let out = OnQueue(&mut state);
        self.queue.exec_sync(move || {
            let (out, vm) = (out, vm);
            // SAFETY: on the VM's queue.
            *out.0 = Some(unsafe { vm.0.state() });
        });
        state.unwrap_or(VZVirtualMachineState::Error)
    }

    /// Whether the VM has stopped (cleanly or with an error).
    pub fn ended(&self) -> Option<String> {
        match self.state() {
            VZVirtualMachineState::Stopped => Some("the VM stopped".into()),
            VZVirtualMachineState::Error => Some("the VM stopped with an error".into()),
            _ => None,
        }
    }

    /// Connects to the guest's vsock `port`; the descriptor is a duplicate
    /// the caller owns.
    pub fn connect(&self, port: u32) -> Result<OwnedFd, String> {
        let (tx, rx) = mpsc::channel::<Result<OwnedFd, String>>();
        let vm = OnQueue(self.vm.0.clone());
        self.queue.exec_async(move || {
            let vm = vm;
            // SAFETY: on the VM's queue.
            let device = unsafe { vm.0.socketDevices() }.firstObject();
            let Some(device) = device.and_then(|d| d.downcast::<VZVirtioSocketDevice>().ok())
            else {
                let _ = tx.send(Err("the VM has no virtio socket device".into()));
                return;
            };
            let handler = RcBlock::new(
                move |conn: *mut VZVirtioSocketConnection, err: *mut NSError| {
                    // SAFETY: non-null pointers are valid for the call.
                    let result = match (unsafe { conn.as_ref() }, unsafe { err.as_ref() }) {
                        (Some(conn), _) => {
                            // SAFETY: the connection's descriptor is valid while
                            // it lives; we keep a duplicate of our own.
                            let fd = unsafe { libc::dup(conn.fileDescriptor()) };
                            if fd < 0 {
                                Err(format!("dup: {}", std::io::Error::last_os_error()))
                            } else {
                                // SAFETY: a fresh descriptor from dup.
                                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
                            }
                        }
                        (None, Some(err)) => Err(describe_error(err)),
                        (None, None) => Err("vsock connection failed".into()),
                    };
                    let _ = tx.send(result);
                },
            );
            // SAFETY: on the VM's queue.
            unsafe { device.connectToPort_completionHandler(port, &handler) };
        });
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("no answer connecting to vsock port {port}"))?
    }

    /// Asks the guest to power off (the virtual power button).
    pub fn request_stop(&self) -> Result<(), String> {
        let mut result = Ok(());
        let vm = &self.vm;
        let out = OnQueue(&mut result);
        self.queue.exec_sync(move || {
            let (out, vm) = (out, vm);
            // SAFETY: on the VM's queue.
            *out.0 = unsafe { vm.0.requestStopWithError() }.map_err(|e| describe_error(&e));
        });
        result
    }

    /// Stops the VM at once.
    pub fn force_stop(&self) {
        let vm = OnQueue(self.vm.0.clone());
        self.queue.exec_async(move || {
            let vm = vm;
            let handler = RcBlock::new(|_err: *mut NSError| {});
            // SAFETY: on the VM's queue.
            unsafe { vm.0.stopWithCompletionHandler(&handler) };
        });
    }
}
