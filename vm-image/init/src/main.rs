//! `skiff-init`, PID 1 of the Skiff VM: boots the guest, supervises skiffd,
//! relays the engine socket, answers the control port, powers off.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use skiff_init::cmdline::{self, Settings};
use skiff_init::mode::{self, Mode};
use skiff_init::reaper::{self, Reaper};
use skiff_init::supervisor::ENGINE_SOCKET;
use skiff_init::{
    clock, control_port, disk, engine_port, kmod, log, mounts, net, ping, power, rootfs, say,
    shares, supervisor, system, vport, vsock,
};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

mod wsl_main;

/// Modules the boot needs before anything else (disk, network, ports).
const BOOT_MODULES: &str = "/etc/skiff/modules.boot";
/// Device drivers nothing would load on demand (loaded in the background).
/// Everything else in the image is loaded when the kernel asks for it,
/// through `/sbin/modprobe` (this binary).
const BACKGROUND_MODULES: &str = "/etc/skiff/modules.background";

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    match mode::select(&argv, std::process::id()) {
        Mode::Modprobe(rest) => std::process::exit(kmod::modprobe::main(&rest)),
        Mode::Wsl => {
            if let Err(e) = wsl_main::main() {
                say!("fatal: {e:#}");
                std::process::exit(1);
            }
        }
        Mode::Refuse(why) => {
            eprintln!("skiff-init {}: {why}", env!("CARGO_PKG_VERSION"));
            std::process::exit(2);
        }
        Mode::Vm => {
            if let Err(e) = boot() {
                say!("fatal: {e:#}");
            }
            power::power_off(&Reaper::default());
        }
    }
}

/// The synchronous part of the boot, then the runtime; returns only on a
/// fatal error.
fn boot() -> anyhow::Result<()> {
    let started_ms = log::uptime_ms();
    let mut switched = std::env::var(rootfs::SWITCHED_ENV)
        .ok()
        .map(|ms| format!("init started at {ms} ms, moved the initramfs to a tmpfs"));
    if switched.is_none() && rootfs::running_on_rootfs()? {
        match rootfs::bind_switch() {
            Ok(()) => {
                switched = Some(format!(
                    "init started at {started_ms} ms, root is a bind mount of the initramfs"
                ))
            }
            Err(e) => {
                say!("{e}: moving the initramfs to a tmpfs instead");
                rootfs::switch_to_tmpfs(started_ms).context("leaving the initramfs")?;
            }
        }
    }
    mounts::mount_api().context("mounting the API filesystems")?;
    log::stamp("init", started_ms);
    log::stamp("mounts", log::uptime_ms());
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        say!("ctrl-alt-del to SIGINT: {e}");
    }
    let text = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let (mut settings, errors) = cmdline::parse(&text);
    if settings.debug {
        log::enable_timestamps();
        if let Some(how) = &switched {
            say!("{how}");
        }
    }
    for e in errors {
        say!("kernel command line: {e}");
    }
    if let Err(e) = nix::unistd::sethostname("skiff") {
        say!("hostname: {e}");
    }
    match mounts::enable_cgroup_controllers() {
        Ok(c) => say!("cgroup2 controllers: {c}"),
        Err(e) => say!("cgroup2 controllers: {e}"),
    }

    let modules_dir = kmod::modules_dir();
    load_modules(&modules_dir, Path::new(BOOT_MODULES), settings.debug);
    log::stamp("modules", log::uptime_ms());
    // The rest of the image (skiffd, the libraries, every other module):
    // the initramfs holds only what it takes to get here.
    if system::needed() {
        let device = system::mount_usr(&settings.data, Duration::from_secs(5))
            .context("mounting the system disk")?;
        say!(
            "system disk {} mounted at {}",
            device.display(),
            system::MOUNT_POINT
        );
        log::stamp("system", log::uptime_ms());
    }
    let background = {
        let dir = modules_dir.clone();
        let verbose = settings.debug;
        std::thread::spawn(move || load_modules(&dir, Path::new(BACKGROUND_MODULES), verbose))
    };

    match clock::sync_from_host(settings.time) {
        Ok((_, true)) => say!("clock set from the host"),
        Ok(_) => {}
        Err(e) => say!("clock: {e}"),
    }
    setup_network(&settings);
    log::stamp("network", log::uptime_ms());
    match disk::prepare(&settings.data, log::uptime_ms) {
        Ok(p) => say!(
            "data disk {}: ext4 {}{}, mounted at {}",
            settings.data.display(),
            p.superblock.uuid,
            if p.formatted { " (formatted now)" } else { "" },
            disk::MOUNT_POINT
        ),
        Err(e) => {
            say!("data disk: {e}; using a tmpfs (nothing will persist)");
            disk::mount_tmpfs_fallback().context("mounting the fallback data root")?;
        }
    }

    log::stamp("disk", log::uptime_ms());
    // The host's folders, before skiffd: it is told which it has.
    let mounted = shares::mount_all(&modules_dir, &settings.shares);
    settings.host_shares = Some(mounted.into_iter().map(|s| s.path).collect());
    settings.vm_host_ip = Some(settings.gw);
    log::stamp("shares", log::uptime_ms());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(settings, background))
}

fn load_modules(dir: &Path, list: &Path, verbose: bool) {
    let started = log::uptime_ms();
    let report = kmod::read_list(list)
        .and_then(|wanted| kmod::plan(dir, &wanted))
        .map(|plan| kmod::load_all(dir, &plan));
    match report {
        Ok(report) => {
            for e in &report.failed {
                say!("{e}");
            }
            say!(
                "{}: {} module(s) in {} ms",
                list.display(),
                report.loaded,
                log::uptime_ms().saturating_sub(started)
            );
            if verbose {
                let slowest: Vec<String> = report
                    .slowest(5)
                    .iter()
                    .map(|(name, d)| format!("{name} {} ms", d.as_millis()))
                    .collect();
                say!("slowest: {}", slowest.join(", "));
            }
        }
        Err(e) => say!("modules: {e}"),
    }
}

fn setup_network(settings: &Settings) {
    if let Err(e) = net::loopback_up() {
        say!("lo: {e}");
    }
    if !net::exists("eth0") {
        say!("no eth0: the guest has no network");
        return;
    }
    match net::configure("eth0", settings.ip, settings.gw) {
        Ok(()) => say!(
            "eth0 {}/{} via {}",
            settings.ip.addr,
            settings.ip.prefix,
            settings.gw
        ),
        Err(e) => say!("eth0: {e}"),
    }
}

/// Everything after the synchronous boot; returns only on a fatal error
/// (a clean shutdown powers off from inside).
async fn run(settings: Settings, background: std::thread::JoinHandle<()>) -> anyhow::Result<()> {
    let reaper = Arc::new(Reaper::default());
    reaper::spawn_reaping(reaper.clone()).context("SIGCHLD handler")?;
    let (down_tx, mut down_rx) = mpsc::unbounded_channel::<String>();
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::from_raw(libc::SIGPWR), "SIGPWR"),
        // busybox halt / poweroff (from `skiff machine shell`).
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ] {
        let mut stream = signal(kind).with_context(|| format!("{name} handler"))?;
        let tx = down_tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                let _ = tx.send(name.to_string());
            }
        });
    }

    let booted_ms = log::uptime_ms();
    say!("booted in {booted_ms} ms");
    let (ready_tx, ready_rx) = watch::channel(None::<u64>);
    let (stop_tx, stop_rx) = watch::channel(false);

    let supervisor = tokio::spawn(supervisor::supervise(
        reaper.clone(),
        supervisor::skiffd_args(&settings),
        stop_rx,
    ));
    {
        let (ready_rx, down_tx) = (ready_rx.clone(), down_tx.clone());
        tokio::spawn(async move {
            match vport::find_wait("skiff.control", Duration::from_secs(2)).await {
                Some(device) => control_port::serve(device, booted_ms, ready_rx, down_tx).await,
                None => say!("no skiff.control virtio-serial port"),
            }
        });
    }
    let ports = skiff_init::ports::spawn_publisher();
    let virtio_ports = ports.clone();
    tokio::spawn(async move {
        match vport::find_wait("skiff.engine", Duration::from_secs(2)).await {
            Some(device) => engine_port::serve_virtio(device, virtio_ports).await,
            None => say!("no skiff.engine virtio-serial port"),
        }
    });
    {
        let down_tx = down_tx.clone();
        tokio::spawn(async move {
            // vsock and the power button exist once the background modules
            // (the vsock transport, `button`, `evdev`) are in.
            let _ = tokio::task::spawn_blocking(move || background.join()).await;
            serve_vsock(booted_ms, ready_rx, down_tx.clone(), ports);
            let (press_tx, mut press_rx) = mpsc::unbounded_channel();
            if power::watch_power_buttons(press_tx) == 0 {
                say!("no power button");
            }
            while press_rx.recv().await.is_some() {
                let _ = down_tx.send("the power button".to_string());
            }
        });
    }
    tokio::spawn(async move {
        ping::wait_ready(Path::new(ENGINE_SOCKET), Duration::from_millis(5)).await;
        let ms = log::uptime_ms();
        say!("engine ready after {ms} ms");
        log::stamp("skiffd-listening", ms);
        let _ = ready_tx.send(Some(ms));
    });

    let reason = down_rx
        .recv()
        .await
        .unwrap_or_else(|| "no shutdown source left".to_string());
    say!("shutting down ({reason})");
    let _ = stop_tx.send(true);
    let _ = supervisor.await;
    let reaper_for_end = reaper.clone();
    let _ = tokio::task::spawn_blocking(move || power::power_off(&reaper_for_end)).await;
    Ok(())
}

/// Listens on the vsock ports (Virtualization.framework's way in); a guest
/// without a vsock transport just logs why not.
fn serve_vsock(
    booted_ms: u64,
    ready: watch::Receiver<Option<u64>>,
    shutdown: mpsc::UnboundedSender<String>,
    ports: skiff_relay::GuestPorts,
) {
    match vsock::VsockListener::bind(vsock::ENGINE_PORT) {
        Ok(l) => {
            tokio::spawn(engine_port::serve_vsock(l, ports));
        }
        Err(e) => {
            say!("vsock port {}: {e}", vsock::ENGINE_PORT);
            return;
        }
    }
    match vsock::VsockListener::bind(vsock::CONTROL_PORT) {
        Ok(l) => {
            tokio::spawn(control_port::serve_vsock(l, booted_ms, ready, shutdown));
        }
        Err(e) => say!("vsock port {}: {e}", vsock::CONTROL_PORT),
    }
}
