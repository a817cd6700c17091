//! Boots the real VM image under QEMU (TCG: no KVM needed) twice on one
//! data disk, with the host side of the contract (docs/vm.md):
//!
//! 1. first boot on a fresh `truncate`d disk: `booted` and `engine-ready`
//!    on the control port; the engine port relays the docker CLI to skiffd
//!    (`docker info` says cgroup v2; a container runs from an image loaded
//!    through the relay; cgroup2 is mounted with `favordynmods`);
//!    `poweroff` → `ok` and QEMU exits by itself; the disk now holds ext4
//!    with init's format marker;
//! 2. second boot: the disk is not reformatted (same UUID, same marker) and
//!    the image loaded on the first boot is still there; the ACPI power
//!    button (QMP `system_powerdown`) powers the VM off cleanly.
//!
//! The image is (re)built by `vm-image/build.sh` (incremental), or taken
//! from `SKIFF_IMAGE_DIR`. Needs qemu-system-x86_64, e2fsprogs, the static
//! busybox and a docker CLI (scripts/deps/vm-image.apt, install-deps.sh).

mod common;
use common::{docker, guest_shell, image_dir};

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Generous: TCG on a loaded 2-core CI machine boots in 10–60 s.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const EXIT_TIMEOUT: Duration = Duration::from_secs(90);

/// One QEMU process with the contract's command line.
struct Vm {
    child: Child,
    dir: PathBuf,
}

impl Vm {
    fn launch(image: &Path, dir: &Path) -> Vm {
        for f in ["console.log", "engine.port", "control.port", "qmp.sock"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let append = format!(
            "console=ttyS0 panic=-1 quiet skiff.data=/dev/vda skiff.time={now} \
             skiff.ip=10.0.2.15/24 skiff.gw=10.0.2.2"
        );
        let d = dir.display();
        let mut args: Vec<String> = vec![
            "-machine".into(),
            "q35".into(),
            "-accel".into(),
            "tcg".into(),
            "-cpu".into(),
            "max".into(),
            "-smp".into(),
            "2".into(),
            "-m".into(),
            "1024".into(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-nographic".into(),
            "-no-reboot".into(),
            "-kernel".into(),
            image.join("vmlinuz").display().to_string(),
            "-initrd".into(),
            image.join("initramfs.img").display().to_string(),
            "-append".into(),
            append,
            "-serial".into(),
            format!("file:{d}/console.log"),
            "-drive".into(),
            format!("file={d}/disk.img,if=virtio,format=raw,cache=writeback"),
        ];
        // The image's read-only /usr (docs/vm.md), after the data disk.
        let system = image.join("system.img");
        if system.is_file() {
            args.push("-drive".into());
            args.push(format!(
                "file={},if=virtio,format=raw,readonly=on",
                system.display()
            ));
        }
        args.extend([
            "-netdev".into(),
            "user,id=n0,restrict=on".into(),
            "-device".into(),
            "virtio-net-pci,netdev=n0".into(),
            "-device".into(),
            "virtio-serial-pci".into(),
            "-chardev".into(),
            format!("socket,id=engine,path={d}/engine.port,server=on,wait=off"),
            "-device".into(),
            "virtserialport,chardev=engine,name=skiff.engine".into(),
            "-chardev".into(),
            format!("socket,id=control,path={d}/control.port,server=on,wait=off"),
            "-device".into(),
            "virtserialport,chardev=control,name=skiff.control".into(),
            "-qmp".into(),
            format!("unix:{d}/qmp.sock,server=on,wait=off"),
        ]);
        let child = Command::new("qemu-system-x86_64")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting qemu-system-x86_64 (apt-get install qemu-system-x86)");
        Vm {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn console(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The whole console log once it contains `needle` (waits up to 30 s).
    fn wait_console(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{needle:?} not on the console:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn connect(&self, name: &str) -> UnixStream {
        let path = self.dir.join(name);
        let start = Instant::now();
        loop {
            if let Ok(s) = UnixStream::connect(&path) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no {} from QEMU",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "QEMU did not exit within {timeout:?}; console:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host end of the control port.
struct Control {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Control {
    fn open(vm: &Vm) -> Control {
        let stream = vm.connect("control.port");
        let writer = stream.try_clone().expect("clone");
        Control {
            reader: BufReader::new(stream),
            writer,
        }
    }

    fn line(&mut self, vm: &Vm, timeout: Duration) -> String {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(n) if n > 0 => line,
            other => panic!(
                "control port: {other:?} instead of a line; console:\n{}",
                vm.console()
            ),
        }
    }

    /// Waits for `<word> <uptime_ms>`, returns the uptime.
    fn expect(&mut self, vm: &Vm, word: &str, timeout: Duration) -> u64 {
        let line = self.line(vm, timeout);
        let ms = line
            .strip_prefix(word)
            .and_then(|rest| rest.trim().parse::<u64>().ok());
        ms.unwrap_or_else(|| {
            panic!(
                "expected {word:?}, got {line:?}; console:\n{}",
                vm.console()
            )
        })
    }
}

/// `system_powerdown` over QMP (the ACPI power button).
fn qmp_powerdown(vm: &Vm) {
    let mut s = vm.connect("qmp.sock");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut greeting = String::new();
    reader.read_line(&mut greeting).expect("qmp greeting");
    assert!(greeting.contains("QMP"), "{greeting}");
    for cmd in ["qmp_capabilities", "system_powerdown"] {
        writeln!(s, "{{\"execute\":\"{cmd}\"}}").expect("qmp write");
        loop {
            let mut answer = String::new();
            reader.read_line(&mut answer).expect("qmp answer");
            if answer.contains("\"return\"") {
                break;
            }
            assert!(!answer.contains("\"error\""), "{cmd}: {answer}");
        }
    }
}

/// The disk's ext4 UUID (dumpe2fs), or None if it has no ext4 filesystem.
fn disk_uuid(disk: &Path) -> Option<String> {
    let out = Command::new("dumpe2fs")
        .arg("-h")
        .arg(disk)
        .stderr(Stdio::null())
        .output()
        .expect("dumpe2fs (apt-get install e2fsprogs)");
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Filesystem UUID:"))
        .map(|u| u.trim().to_string())
}

/// A file at the top of the disk's filesystem (debugfs, read-only).
fn disk_file(disk: &Path, name: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat /{name}"))
        .arg(disk)
        .stderr(Stdio::null())
        .output()
        .expect("debugfs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A one-layer image (`docker save` format) with the static busybox, for
/// `docker load` through the relay: no registry needed inside the VM.
fn busybox_image_tar(path: &Path) {
    let busybox =
        std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(busybox.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    layer
        .append_data(&mut header, "bin/busybox", &busybox[..])
        .expect("layer");
    let layer = layer.into_inner().expect("layer");
    let diff_id = format!("sha256:{}", hex(&Sha256::digest(&layer)));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/busybox","echo","hello from the vm"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let config_name = format!("{}.json", hex(&Sha256::digest(config.as_bytes())));
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["skiff-vm-test:latest"],"Layers":["layer.tar"]}}]"#
    );
    let mut archive = tar::Builder::new(std::fs::File::create(path).expect("create tar"));
    for (name, data) in [
        ("layer.tar", layer.as_slice()),
        (config_name.as_str(), config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        archive.append_data(&mut h, name, data).expect("archive");
    }
    archive.finish().expect("archive");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The host half of the engine relay on a background runtime: the guest's
/// skiffd appears as `socket` on the host.
fn relay_engine(vm: &Vm, socket: &Path) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let port = vm.connect("engine.port");
    port.set_nonblocking(true).expect("nonblocking");
    let socket = socket.to_path_buf();
    runtime.spawn(async move {
        let port = tokio::net::UnixStream::from_std(port).expect("port");
        let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
        let _ = skiff_relay::host::serve(listener, port).await;
    });
    runtime
}

#[test]
fn boots_formats_relays_and_powers_off_twice() {
    let image = image_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let disk = dir.join("disk.img");
    let status = Command::new("truncate")
        .args(["-s", "1G"])
        .arg(&disk)
        .status()
        .expect("truncate");
    assert!(status.success());
    assert_eq!(disk_uuid(&disk), None, "a fresh disk has no filesystem");
    let image_tar = dir.join("busybox.tar");
    busybox_image_tar(&image_tar);

    // First boot: format, engine, relay, a container, poweroff.
    let launched = Instant::now();
    let mut vm = Vm::launch(&image, dir);
    let mut control = Control::open(&vm);
    let booted = control.expect(&vm, "booted ", BOOT_TIMEOUT);
    let ready = control.expect(&vm, "engine-ready ", BOOT_TIMEOUT);
    assert!(
        ready >= booted,
        "engine-ready {ready} before booted {booted}"
    );
    eprintln!(
        "first boot: booted {booted} ms, engine-ready {ready} ms (guest uptime), {:.1} s from launch",
        launched.elapsed().as_secs_f64()
    );
    // The serial line drains after the control port line arrived.
    let console = vm.wait_console(&format!("skiff-init: engine ready after {ready} ms"));
    assert!(console.contains("(formatted now)"), "{console}");
    assert!(
        console.contains(
            "skiff-init: cgroup2 mounted with nsdelegate,memory_recursiveprot,favordynmods"
        ),
        "{console}"
    );

    let socket = dir.join("docker.sock");
    let relay = relay_engine(&vm, &socket);
    let (ok, out) = docker(
        &socket,
        &[
            "info",
            "--format",
            "{{.CgroupVersion}} {{.OperatingSystem}}",
        ],
    );
    assert!(ok, "docker info through the relay: {out}");
    assert!(out.starts_with("2 "), "the guest is pure cgroup v2: {out}");
    let (ok, out) = docker(&socket, &["load", "-i", &image_tar.display().to_string()]);
    assert!(ok, "docker load: {out}");
    let (ok, out) = docker(&socket, &["run", "--rm", "skiff-vm-test"]);
    assert!(
        ok,
        "docker run in the VM: {out}; console:\n{}",
        vm.console()
    );
    assert!(out.contains("hello from the vm"), "{out}");
    // overlay is not loaded at boot: the kernel asked /sbin/modprobe
    // (skiff-init) for `fs-overlay` when skiffd mounted the container.
    let (ok, out) = docker(
        &socket,
        &[
            "run",
            "--rm",
            "skiff-vm-test",
            "/bin/busybox",
            "cat",
            "/proc/modules",
            "/proc/self/cgroup",
        ],
    );
    assert!(ok, "docker run: {out}");
    assert!(out.lines().any(|l| l.starts_with("overlay ")), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("0::/")),
        "cgroup v2 only: {out}"
    );

    // init's cgroup2 options, favordynmods above all (Debian's 6.1 kernel
    // has it): moving a container's process into its cgroup does not wait
    // for an RCU grace period. Still there after the containers mounted
    // cgroup2 (outside the initial cgroup namespace: no reset).
    let (status, out) = relay.block_on(guest_shell(
        &socket,
        "grep ' /sys/fs/cgroup ' /proc/self/mountinfo",
    ));
    assert_eq!(status, 0, "{out}");
    let (_, super_options) = out
        .trim()
        .rsplit_once(' ')
        .expect("mountinfo line with super options");
    assert!(out.contains(" - cgroup2 cgroup2 "), "{out}");
    for option in ["nsdelegate", "memory_recursiveprot", "favordynmods"] {
        assert!(
            super_options.split(',').any(|o| o == option),
            "{option} on /sys/fs/cgroup: {out}"
        );
    }
    // `skiff machine shell`'s stream: a command in the guest (busybox sh).
    let (status, out) = relay.block_on(guest_shell(
        &socket,
        "cat /proc/cmdline /sys/fs/cgroup/cgroup.subtree_control; readlink /proc/1/exe",
    ));
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("skiff.data=/dev/vda"), "{out}");
    assert!(
        out.contains("memory") && out.contains("pids"),
        "controllers for containers: {out}"
    );
    assert!(out.contains("/init"), "{out}");
    // The usual busybox applets are on PATH (/bin -> /usr/bin), and a
    // failing command's status comes back.
    let (status, out) = relay.block_on(guest_shell(
        &socket,
        "readlink /bin/sh; ls /usr/bin/skiffd; ps | grep -c '[s]kiffd -H unix:///run/skiff/docker.sock'; mount | grep ' /var/lib/skiff '; exit 3",
    ));
    assert_eq!(status, 3, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("busybox"), "{out}");
    assert_eq!(lines.get(1).copied(), Some("/usr/bin/skiffd"), "{out}");
    assert_eq!(
        lines.get(2).copied(),
        Some("1"),
        "one supervised skiffd: {out}"
    );
    assert!(
        lines
            .get(3)
            .is_some_and(|l| l.starts_with("/dev/vda on /var/lib/skiff type ext4")),
        "{out}"
    );

    writeln!(control.writer, "poweroff").expect("poweroff");
    assert_eq!(control.line(&vm, Duration::from_secs(30)), "ok\n");
    let status = vm.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "QEMU exit status {status}");
    drop(relay);
    let console = std::fs::read_to_string(dir.join("console.log")).expect("console");
    assert!(console.contains("skiff-init: power off"), "{console}");
    assert!(!console.contains("Kernel panic"), "{console}");

    let uuid = disk_uuid(&disk).expect("the first boot formatted the disk ext4");
    let marker = disk_file(&disk, ".skiff-formatted");
    assert!(
        marker.starts_with(&format!("uuid={uuid} ")),
        "marker {marker:?} for {uuid}"
    );

    // Second boot: same filesystem, same data; the power button stops it.
    let mut vm = Vm::launch(&image, dir);
    let mut control = Control::open(&vm);
    control.expect(&vm, "booted ", BOOT_TIMEOUT);
    let ready = control.expect(&vm, "engine-ready ", BOOT_TIMEOUT);
    eprintln!("second boot: engine-ready {ready} ms (guest uptime)");
    let console = vm.wait_console(&format!(
        "skiff-init: data disk /dev/vda: ext4 {uuid}, mounted"
    ));
    assert!(
        !console.contains("(formatted now)"),
        "reformatted: {console}"
    );
    let socket = dir.join("docker2.sock");
    let relay = relay_engine(&vm, &socket);
    let (ok, out) = docker(&socket, &["images", "--format", "{{.Repository}}"]);
    assert!(
        ok && out.contains("skiff-vm-test"),
        "the loaded image survived: {out}"
    );
    qmp_powerdown(&vm);
    let status = vm.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "QEMU exit status {status}");
    drop(relay);
    let console = std::fs::read_to_string(dir.join("console.log")).expect("console");
    assert!(
        console.contains("shutting down (the power button)"),
        "{console}"
    );
    assert!(console.contains("skiff-init: power off"), "{console}");
    assert_eq!(
        disk_uuid(&disk).as_deref(),
        Some(uuid.as_str()),
        "same filesystem"
    );
    assert_eq!(
        disk_file(&disk, ".skiff-formatted"),
        marker,
        "same format marker"
    );
}
