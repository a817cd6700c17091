//! The QEMU backend (Linux). The machine runs under a detached supervisor
//! process ([`supervisor`], started by [`crate::supervised`]) that runs
//! QEMU with the command line built here — platform neutral, so it is
//! tested everywhere — with KVM when its probe passes ([`kvm`]), powers it
//! off through QMP ([`qmp`]), reaches the guest over vhost-vsock when the
//! host has it ([`vsock`]), and serves QEMU's guestfwd to the registry
//! mirror ([`tcp_proxy`]).

pub mod kvm;
#[cfg(unix)]
pub mod qmp;
#[cfg(target_os = "linux")]
pub mod supervisor;
pub mod tcp_proxy;
#[cfg(target_os = "linux")]
pub mod virtiofs;
#[cfg(target_os = "linux")]
pub mod vsock;

use std::path::{Path, PathBuf};

use crate::cmdline::{self, GUEST_MIRROR_IP, GUEST_MIRROR_PORT};
use crate::config::{MachineConfig, MirrorAddr, Network};
use crate::error::Result;
use crate::image::VmImage;
use crate::paths::MachineDir;
use crate::shares::ShareDevice;

/// The accelerator QEMU is started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    /// Hardware virtualisation.
    Kvm,
    /// Emulation.
    Tcg,
}

impl Accelerator {
    /// `kvm` or `tcg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

/// What to run: program and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuCommand {
    /// `qemu-system-x86_64` or `qemu-system-aarch64`.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

/// The QEMU program for the image's architecture.
pub fn program(arch: &str) -> &'static str {
    if arch == "arm64" {
        "qemu-system-aarch64"
    } else {
        "qemu-system-x86_64"
    }
}

/// A path inside a QEMU option value: commas are doubled.
fn opt(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Quotes `s` for the `cmd:` of a guestfwd (GLib's shell-style parsing).
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+=@".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The optional devices of a run, decided by the supervisor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    /// The guest CID of a `vhost-vsock-pci` device (the host's vhost-vsock
    /// works, see [`vsock`]).
    pub vsock_cid: Option<u32>,
    /// The shared folders: a `vhost-user-fs-pci` device each, served by a
    /// virtiofsd on [`virtiofs_socket`] ([`virtiofs`]); the guest's memory
    /// is then a shared memfd, as vhost-user requires.
    pub shares: Vec<ShareDevice>,
}

/// The vhost-user socket of the virtiofsd serving share `tag` of `dir`.
pub fn virtiofs_socket(dir: &MachineDir, tag: &str) -> PathBuf {
    dir.dir().join(format!("virtiofs-{tag}.sock"))
}

/// The command line of the contract for `config` in `dir`, booting
/// `image` with `accel`. `skiff_bin` runs `machine connect-tcp` for the
/// registry mirror's guestfwd; `now` seeds the guest clock. With
/// `devices.vsock_cid` a `vhost-vsock-pci` device gets that guest CID (the
/// virtio-serial ports stay either way); each of `devices.shares` gets a
/// `vhost-user-fs-pci` device and a `skiff.share=` key.
pub fn command(
    config: &MachineConfig,
    dir: &MachineDir,
    image: &VmImage,
    accel: Accelerator,
    skiff_bin: &Path,
    now: u64,
    devices: &Devices,
) -> Result<QemuCommand> {
    let arch = image.manifest.arch.as_str();
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));
    let machine = if arch == "arm64" { "virt" } else { "q35" };
    push(&["-machine", machine, "-accel", accel.as_str(), "-cpu", "max"]);
    push(&[
        "-smp",
        &config.cpus.to_string(),
        "-m",
        &config.memory_mib.to_string(),
    ]);
    push(&["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]);
    push(&["-kernel", &image.kernel().display().to_string()]);
    push(&["-initrd", &image.initrd().display().to_string()]);
    let cmdline = cmdline::kernel_cmdline(
        config,
        if arch == "arm64" { "ttyAMA0" } else { "ttyS0" },
        now,
        &devices.shares,
    );
    push(&["-append", &cmdline]);
    push(&["-serial", &format!("file:{}", opt(&dir.console()))]);
    push(&[
        "-drive",
        &format!(
            "file={},if=virtio,format=raw,cache=writeback",
            opt(&dir.disk())
        ),
    ]);
    // The image's read-only /usr, second: the data disk stays /dev/vda
    // (the guest finds this one by its label).
    if let Some(system) = image.system_disk() {
        push(&[
            "-drive",
            &format!("file={},if=virtio,format=raw,readonly=on", opt(&system)),
        ]);
    }
    let mut netdev = String::from("user,id=n0");
    if config.network == Network::Restricted {
        netdev.push_str(",restrict=on");
    }
    if let Some(mirror) = &config.registry_mirror {
        let addr = MirrorAddr::parse(mirror)?;
        let cmd = format!(
            "{} machine connect-tcp {}",
            shell_quote(&skiff_bin.display().to_string()),
            shell_quote(&format!("{}:{}", addr.host, addr.port)),
        );
        netdev.push_str(&format!(
            ",guestfwd=tcp:{GUEST_MIRROR_IP}:{GUEST_MIRROR_PORT}-cmd:{}",
            cmd.replace(',', ",,")
        ));
    }
    push(&["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0"]);
    push(&["-device", "virtio-serial-pci"]);
    // Freed guest pages go back to the host (the guest's virtio_balloon
    // reports them; no target size is ever set).
    push(&["-device", "virtio-balloon-pci,free-page-reporting=on"]);
    push(&[
        "-chardev",
        &format!(
            "socket,id=engine,path={},server=on,wait=off",
            opt(&dir.engine_port())
        ),
        "-device",
        "virtserialport,chardev=engine,name=skiff.engine",
    ]);
    push(&[
        "-chardev",
        &format!(
            "socket,id=control,path={},server=on,wait=off",
            opt(&dir.control_port())
        ),
        "-device",
        "virtserialport,chardev=control,name=skiff.control",
    ]);
    if let Some(cid) = devices.vsock_cid {
        push(&["-device", &format!("vhost-vsock-pci,guest-cid={cid}")]);
    }
    if !devices.shares.is_empty() {
        // vhost-user: virtiofsd maps the guest's memory, so it is a shared
        // memfd (works with TCG as with KVM).
        push(&[
            "-object",
            &format!(
                "memory-backend-memfd,id=mem,size={}M,share=on",
                config.memory_mib
            ),
            "-numa",
            "node,memdev=mem",
        ]);
        for (i, share) in devices.shares.iter().enumerate() {
            push(&[
                "-chardev",
                &format!(
                    "socket,id=fs{i},path={}",
                    opt(&virtiofs_socket(dir, &share.tag))
                ),
                "-device",
                &format!("vhost-user-fs-pci,chardev=fs{i},tag={}", share.tag),
            ]);
        }
    }
    push(&[
        "-qmp",
        &format!("unix:{},server=on,wait=off", opt(&dir.qmp())),
    ]);
    Ok(QemuCommand {
        program: program(arch).to_string(),
        args,
    })
}

// Paths are compared as text: Unix separators.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::paths::Home;

    #[test]
    fn the_contract_command_line() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let image = crate::image::tests::fake_image(&tmp.path().join("img"));
        let home = Home::at("/h".into());
        let dir = home.machine("default").expect("name");
        let mut config = MachineConfig::new("default");
        config.registry_mirror = Some("http://127.0.0.1:5000".into());
        config.network = Network::Restricted;
        let cmd = tcg_command(&config, &dir, &image);
        assert_eq!(cmd.program, "qemu-system-x86_64");
        let line = cmd.args.join(" ");
        let img = image.dir.display();
        let want = format!(
            "-machine q35 -accel tcg -cpu max -smp 2 -m 2048 -nodefaults -no-user-config -nographic -no-reboot \
             -kernel {img}/vmlinuz -initrd {img}/initramfs.img \
             -append console=ttyS0 panic=-1 quiet skiff.data=/dev/vda skiff.mirror=http://10.0.2.100:5000 skiff.insecure=10.0.2.100:5000 skiff.time=42 skiff.ip=10.0.2.15/24 skiff.gw=10.0.2.2 \
             -serial file:/h/machines/default/console.log \
             -drive file=/h/machines/default/disk.img,if=virtio,format=raw,cache=writeback \
             -netdev user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:5000-cmd:/usr/bin/skiff machine connect-tcp 127.0.0.1:5000 \
             -device virtio-net-pci,netdev=n0 -device virtio-serial-pci \
             -device virtio-balloon-pci,free-page-reporting=on \
             -chardev socket,id=engine,path=/h/machines/default/engine.port,server=on,wait=off \
             -device virtserialport,chardev=engine,name=skiff.engine \
             -chardev socket,id=control,path=/h/machines/default/control.port,server=on,wait=off \
             -device virtserialport,chardev=control,name=skiff.control \
             -qmp unix:/h/machines/default/qmp.sock,server=on,wait=off"
        );
        assert_eq!(line, want);
        // The kernel command line is one argument.
        let append = cmd
            .args
            .iter()
            .position(|a| a == "-append")
            .expect("-append");
        assert!(cmd.args[append + 1].starts_with("console=ttyS0 "));
        assert!(!line.contains("vsock"), "{line}");
    }

    /// The command line under TCG, with no vsock and no shares.
    fn tcg_command(config: &MachineConfig, dir: &MachineDir, image: &VmImage) -> QemuCommand {
        command(
            config,
            dir,
            image,
            Accelerator::Tcg,
            Path::new("/usr/bin/skiff"),
            42,
            &Devices::default(),
        )
        .expect("command")
    }

    #[test]
    fn the_system_disk_is_a_read_only_second_drive() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut image = crate::image::tests::fake_image(&tmp.path().join("img"));
        image.manifest.files.insert(
            "system.img".into(),
            crate::image::FileEntry {
                sha256: "00".into(),
                size: 1,
            },
        );
        let home = Home::at("/h".into());
        let dir = home.machine("default").expect("name");
        let cmd = tcg_command(&MachineConfig::new("default"), &dir, &image);
        let line = cmd.args.join(" ");
        let want = format!(
            "-drive file=/h/machines/default/disk.img,if=virtio,format=raw,cache=writeback \
             -drive file={}/system.img,if=virtio,format=raw,readonly=on -netdev ",
            image.dir.display()
        );
        assert!(line.contains(&want), "{line}");
    }

    #[test]
    fn vhost_vsock_adds_one_device_and_keeps_the_serial_ports() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let image = crate::image::tests::fake_image(&tmp.path().join("img"));
        let home = Home::at("/h".into());
        let dir = home.machine("default").expect("name");
        let config = MachineConfig::new("default");
        let args = |vsock_cid| {
            command(
                &config,
                &dir,
                &image,
                Accelerator::Kvm,
                Path::new("/usr/bin/skiff"),
                42,
                &Devices {
                    vsock_cid,
                    ..Devices::default()
                },
            )
            .expect("command")
            .args
        };
        let serial = args(None);
        let vsock = args(Some(123_456));
        let qmp = serial.iter().position(|a| a == "-qmp").expect("-qmp");
        // Exactly the serial form plus the device, before -qmp.
        let mut want = serial.clone();
        want.splice(
            qmp..qmp,
            ["-device", "vhost-vsock-pci,guest-cid=123456"].map(String::from),
        );
        assert_eq!(vsock, want);
        let line = vsock.join(" ");
        assert!(
            line.contains("-device virtserialport,chardev=engine,name=skiff.engine"),
            "{line}"
        );
        assert!(
            line.contains("-device virtserialport,chardev=control,name=skiff.control"),
            "{line}"
        );
    }

    #[test]
    fn paths_and_commands_are_escaped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let image = crate::image::tests::fake_image(&tmp.path().join("img"));
        let home = Home::at("/odd,dir".into());
        let dir = home.machine("m").expect("name");
        let mut config = MachineConfig::new("m");
        config.network = Network::Nat;
        config.registry_mirror = Some("http://localhost:5001".into());
        let cmd = command(
            &config,
            &dir,
            &image,
            Accelerator::Kvm,
            Path::new("/opt/my apps/skiff"),
            1,
            &Devices::default(),
        )
        .expect("command");
        let line = cmd.args.join("\u{1}");
        assert!(line.contains("-accel\u{1}kvm"), "{line}");
        assert!(
            line.contains("file:/odd,,dir/machines/m/console.log"),
            "{line}"
        );
        assert!(
            line.contains("user,id=n0,guestfwd=tcp:10.0.2.100:5000-cmd:'/opt/my apps/skiff' machine connect-tcp localhost:5001"),
            "{line}"
        );
        assert!(!line.contains("restrict"), "{line}");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn shared_folders_add_shared_memory_a_device_each_and_their_keys() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let image = crate::image::tests::fake_image(&tmp.path().join("img"));
        let home = Home::at("/h".into());
        let dir = home.machine("default").expect("name");
        let config = MachineConfig::new("default");
        let (shares, _) = crate::shares::devices(
            &[
                crate::shares::SharedFolder::parse("/home/me").expect("share"),
                crate::shares::SharedFolder::parse("/data:/srv/data:ro").expect("share"),
            ],
            |_| true,
        );
        let args = |devices: &Devices| {
            let skiff = Path::new("/usr/bin/skiff");
            command(&config, &dir, &image, Accelerator::Tcg, skiff, 42, devices)
                .expect("command")
                .args
        };
        let plain = args(&Devices::default());
        let shared = args(&Devices {
            shares,
            ..Devices::default()
        });
        let line = shared.join(" ");
        assert!(
            line.contains(
                " -object memory-backend-memfd,id=mem,size=2048M,share=on -numa node,memdev=mem \
                 -chardev socket,id=fs0,path=/h/machines/default/virtiofs-skiff0.sock \
                 -device vhost-user-fs-pci,chardev=fs0,tag=skiff0 \
                 -chardev socket,id=fs1,path=/h/machines/default/virtiofs-skiff1.sock \
                 -device vhost-user-fs-pci,chardev=fs1,tag=skiff1 -qmp "
            ),
            "{line}"
        );
        assert!(
            line.contains("skiff.gw=10.0.2.2 skiff.share=skiff0:/home/me skiff.share=skiff1:/srv/data:ro -serial"),
            "{line}"
        );
        // Nothing else changes.
        assert_eq!(shared.len(), plain.len() + 12);
    }
}
