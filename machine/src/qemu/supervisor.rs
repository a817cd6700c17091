//! The supervisor: a detached process (`skiff machine supervise NAME`)
//! that owns a running machine. It holds the instance lock (inherited on
//! descriptor 3), runs QEMU as its child (killed with the supervisor:
//! `PR_SET_PDEATHSIG`), serves `docker.sock` through the relay, follows the
//! control port, marks the machine running once `/_ping` answers through
//! `docker.sock`, and on SIGTERM shuts the guest down (control `poweroff`,
//! then QMP `system_powerdown`, then SIGKILL). When QEMU dies on its own it
//! records why (`run.json`), so `status` reports the machine broken with
//! the reason and the next `start` begins afresh.
//!
//! Where the host's `/dev/vhost-vsock` opens read-write, QEMU also gets a
//! vhost-vsock device and the relay talks to the guest over vsock (port
//! 1024), falling back to the serial engine port if vsock does not connect
//! within 10 s of boot ([`super::vsock`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::config::{Accel, MachineConfig};
use crate::control::{self, ControlEvent};
use crate::error::{IoContext, MachineError, Result};
use crate::image::VmImage;
use crate::lock::InstanceLock;
use crate::paths::MachineDir;
use crate::qemu::vsock::{self, Transport, TransportChooser};
use crate::qemu::{self, Accelerator};
use crate::state::{Phase, RunRecord};
use crate::supervision::{self, Outcome};

/// How long the guest gets to power off after `poweroff`.
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after the ACPI power button.
const POWERDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long QEMU may take to create its sockets.
const SOCKETS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one vsock connect may take.
const VSOCK_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Lines waiting for the control port (a paused guest reads none).
const CONTROL_QUEUE: usize = 256;
/// Where the guest CID of a vsock-enabled run is recorded.
const VSOCK_CID_FILE: &str = "vsock.cid";

/// Runs machine `dir` until it stops; `lock` is the inherited instance
/// lock, `skiff_bin` the binary for QEMU's guestfwd helper. Always leaves a
/// final `run.json` behind.
pub async fn run(dir: MachineDir, lock: InstanceLock, skiff_bin: PathBuf) -> Result<()> {
    let mut record = supervision::begin(&dir)?;
    remove_sockets(&dir);
    let outcome = match MachineConfig::load(&dir) {
        Ok(config) => run_vm(&dir, &config, &mut record, &skiff_bin)
            .await
            .unwrap_or_else(|err| Outcome::Died(err.to_string())),
        Err(err) => Outcome::Died(err.to_string()),
    };
    remove_sockets(&dir);
    supervision::finish(&dir, record, outcome, lock)
}

fn remove_sockets(dir: &MachineDir) {
    for path in [
        dir.socket(),
        dir.engine_port(),
        dir.control_port(),
        dir.qmp(),
        dir.ports(),
        dir.dir().join(VSOCK_CID_FILE),
    ] {
        let _ = std::fs::remove_file(path);
    }
    // The shared folders' vhost-user sockets (`virtiofs-<tag>.sock`).
    if let Ok(entries) = std::fs::read_dir(dir.dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("virtiofs-") && name.ends_with(".sock") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The accelerator for `config`: KVM only when the probe shows it works.
fn choose_accel(config: &MachineConfig, skiff_bin: &Path) -> Result<Accelerator> {
    match config.accel {
        Accel::Tcg => Ok(Accelerator::Tcg),
        Accel::Kvm => crate::qemu::kvm::probe(skiff_bin)
            .map(|()| Accelerator::Kvm)
            .map_err(|reason| MachineError::Unsupported {
                backend: "qemu (kvm)".into(),
                reason,
            }),
        Accel::Auto => match crate::qemu::kvm::probe(skiff_bin) {
            Ok(()) => Ok(Accelerator::Kvm),
            Err(reason) => {
                tracing::info!("using TCG: {reason}");
                Ok(Accelerator::Tcg)
            }
        },
    }
}

/// The guest CID when QEMU gets a vhost-vsock device (the device opens
/// read-write), recorded in `vsock.cid`; `None` keeps the serial-only
/// command line.
fn choose_vsock(dir: &MachineDir, device: &Path) -> Option<u32> {
    match vsock::probe(device) {
        Ok(()) => {
            let cid = vsock::guest_cid(dir.dir(), 0);
            tracing::info!("vhost-vsock available: guest CID {cid}");
            let path = dir.dir().join(VSOCK_CID_FILE);
            if let Err(err) = crate::fsutil::write_atomic(&path, format!("{cid}\n").as_bytes()) {
                tracing::warn!("recording the guest CID: {err}");
            }
            Some(cid)
        }
        Err(reason) => {
            tracing::debug!("no vsock: {reason}");
            None
        }
    }
}

/// Internal events of the supervisor's main loop.
enum Event {
    Control(ControlEvent),
    Ready,
}

async fn run_vm(
    dir: &MachineDir,
    config: &MachineConfig,
    record: &mut RunRecord,
    skiff_bin: &Path,
) -> Result<Outcome> {
    let image = VmImage::locate(config.image_dir.as_deref())?;
    image.verify(true)?;
    let accel = choose_accel(config, skiff_bin)?;
    record.accel = Some(accel.as_str().to_string());
    let now = supervision::unix_now();
    let vsock_cid = choose_vsock(dir, Path::new(vsock::VHOST_VSOCK_DEVICE));
    let (shares, skipped) = crate::shares::devices(&config.folders(), |p| p.is_dir());
    for warning in skipped {
        tracing::warn!("{warning}");
    }
    // Alive (and killed on return) as long as QEMU runs.
    let virtiofsd = crate::qemu::virtiofs::spawn_all(dir, &shares).await?;
    for warning in &virtiofsd.warnings {
        tracing::warn!("{warning}");
    }
    let devices = qemu::Devices {
        vsock_cid,
        shares: virtiofsd.shares.clone(),
    };
    let cmd = qemu::command(config, dir, &image, accel, skiff_bin, now, &devices)?;
    // This boot's console; the previous one is kept beside it.
    supervision::rotate_console(dir);
    let qemu_log = dir.dir().join("qemu.log");
    let stderr =
        std::fs::File::create(&qemu_log).ctx(|| format!("creating {}", qemu_log.display()))?;
    tracing::info!("{} {}", cmd.program, cmd.args.join(" "));
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true);
    die_with_supervisor(&mut command);
    let mut child = command
        .spawn()
        .ctx(|| format!("starting {} (is QEMU installed?)", cmd.program))?;
    record.vm_pid = child.id();
    record.phase = Phase::Booting;
    record.save(dir)?;

    let mut sigterm = signal(SignalKind::terminate()).ctx(|| "handling SIGTERM".to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).ctx(|| "handling SIGINT".to_string())?;

    // QEMU creates its sockets at start.
    let started = std::time::Instant::now();
    while !(dir.engine_port().exists() && dir.control_port().exists() && dir.qmp().exists()) {
        if let Some(status) = child.try_wait().ctx(|| "waiting for QEMU".to_string())? {
            return Ok(Outcome::Died(describe_exit(
                &cmd.program,
                status,
                &qemu_log,
                vsock_cid,
            )));
        }
        if started.elapsed() > SOCKETS_TIMEOUT {
            return Ok(Outcome::Died(format!(
                "{} created no sockets within {} s",
                cmd.program,
                SOCKETS_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let listener = supervision::bind_engine_socket(dir)?;
    let (booted_tx, booted_rx) = watch::channel(None);
    let forwarder = Arc::new(skiff_relay::PortForwarder::new());
    let ports_task = crate::ports::spawn_status_writer(dir, &forwarder);
    let relay = tokio::spawn(relay_loop(
        listener,
        dir.engine_port(),
        vsock_cid,
        booted_rx,
        forwarder,
    ));

    let (events_tx, mut events) = mpsc::channel(16);
    let control = UnixStream::connect(dir.control_port())
        .await
        .ctx(|| format!("connecting to {}", dir.control_port().display()))?;
    let (control_read, control_write) = control.into_split();
    // One writer owns the control port's write half: `time` pushes, the
    // shared folders' `touch` lines and `poweroff` never interleave, and a
    // guest that is not reading (paused) never stalls this loop.
    let (lines_tx, lines_rx) = mpsc::channel::<String>(CONTROL_QUEUE);
    let writer_task = tokio::spawn(control_writer(control_write, lines_rx));
    let _share_watcher = if virtiofsd.shares.is_empty() {
        None
    } else {
        crate::watch::spawn(&virtiofsd.shares, lines_tx.clone())
            .inspect_err(|err| tracing::warn!("watching the shared folders: {err}"))
            .ok()
    };
    let mut clock = tokio::time::interval(control::TIME_PUSH_INTERVAL);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut guest_booted = false;
    let control_tx = events_tx.clone();
    let control_task = tokio::spawn(async move {
        let mut lines = BufReader::new(control_read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!("control: {line}");
            if control_tx
                .send(Event::Control(control::parse_line(&line)))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let ready_task = supervision::spawn_ready_probe(dir.socket(), events_tx, Event::Ready);

    let outcome = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.ctx(|| "waiting for QEMU".to_string())?;
                break Outcome::Died(describe_exit(&cmd.program, status, &qemu_log, vsock_cid));
            }
            _ = sigterm.recv() => break shutdown(dir, record, &mut child, &lines_tx).await,
            _ = sigint.recv() => break shutdown(dir, record, &mut child, &lines_tx).await,
            _ = clock.tick(), if guest_booted => {
                // The host's time, every second: the guest steps to it when
                // it is off (after a host sleep or a paused VM).
                let _ = lines_tx.try_send(control::time_line(std::time::SystemTime::now()));
            }
            Some(event) = events.recv() => match event {
                Event::Control(ControlEvent::Booted(ms)) => {
                    tracing::info!("guest init up after {ms} ms");
                    guest_booted = true;
                    booted_tx.send_if_modified(|at| {
                        let first = at.is_none();
                        at.get_or_insert_with(Instant::now);
                        first
                    });
                    if record.phase == Phase::Booting {
                        record.phase = Phase::Engine;
                        record.save(dir)?;
                    }
                }
                Event::Control(ControlEvent::EngineReady(ms)) => {
                    tracing::info!("guest engine ready after {ms} ms");
                }
                Event::Control(_) => {}
                Event::Ready => {
                    tracing::info!("the engine answers on {}", dir.socket().display());
                    record.phase = Phase::Running;
                    record.save(dir)?;
                }
            },
        }
    };
    relay.abort();
    writer_task.abort();
    ports_task.abort();
    control_task.abort();
    ready_task.abort();
    Ok(outcome)
}

/// Makes `command`'s process get SIGKILL when the supervisor dies
/// (`PR_SET_PDEATHSIG`): QEMU and the virtiofsd daemons never outlive it.
pub(super) fn die_with_supervisor(command: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe and takes no pointers here.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Writes `lines` to the control port in order until either side closes.
async fn control_writer(
    mut port: tokio::net::unix::OwnedWriteHalf,
    mut lines: mpsc::Receiver<String>,
) {
    while let Some(line) = lines.recv().await {
        if let Err(err) = port.write_all(line.as_bytes()).await {
            tracing::debug!("control port: {err}");
            return;
        }
    }
}

/// The graceful stop: control `poweroff`, the ACPI power button, SIGKILL.
async fn shutdown(
    dir: &MachineDir,
    record: &mut RunRecord,
    child: &mut Child,
    control: &mpsc::Sender<String>,
) -> Outcome {
    record.phase = Phase::Stopping;
    let _ = record.save(dir);
    let poweroff = String::from_utf8_lossy(control::POWEROFF).into_owned();
    if control.send(poweroff).await.is_ok() {
        if let Ok(Ok(_)) = tokio::time::timeout(POWEROFF_TIMEOUT, child.wait()).await {
            return Outcome::Stopped(None);
        }
        tracing::warn!(
            "the guest did not power off within {} s",
            POWEROFF_TIMEOUT.as_secs()
        );
    }
    match crate::qemu::qmp::execute(&dir.qmp(), "system_powerdown").await {
        Ok(()) => {
            if let Ok(Ok(_)) = tokio::time::timeout(POWERDOWN_TIMEOUT, child.wait()).await {
                return Outcome::Stopped(None);
            }
            tracing::warn!("the guest ignored the power button");
        }
        Err(err) => tracing::warn!("system_powerdown: {err}"),
    }
    let _ = child.kill().await;
    Outcome::Stopped(Some("the guest did not power off; QEMU was killed".into()))
}

/// Serves `docker.sock` over the engine port, reconnecting when a session
/// ends (the guest's relay restarted). With `vsock_cid` the port is vsock
/// `(cid, 1024)` until [`TransportChooser`] falls back to the serial
/// `engine_port` (vsock failed for 10 s after `booted`, the time of the
/// guest's `booted` line).
async fn relay_loop(
    listener: UnixListener,
    engine_port: PathBuf,
    vsock_cid: Option<u32>,
    booted: watch::Receiver<Option<Instant>>,
    forwarder: Arc<skiff_relay::PortForwarder>,
) {
    let mut listener = listener;
    let mut chooser = TransportChooser::new(vsock_cid.is_some());
    let mut warned = false;
    loop {
        let since_boot = booted.borrow().map(|at| at.elapsed());
        match (chooser.next(since_boot), vsock_cid) {
            (Transport::Vsock, Some(cid)) => {
                let port = vsock::ENGINE_PORT;
                match tokio::time::timeout(VSOCK_CONNECT_TIMEOUT, vsock::connect(cid, port)).await {
                    Ok(Ok(stream)) => {
                        chooser.connected();
                        tracing::info!("relay over vsock {cid}:{port}");
                        serve(&mut listener, stream, &forwarder).await;
                    }
                    Ok(Err(err)) => tracing::debug!("{err}"),
                    Err(_) => tracing::debug!("vsock {cid}:{port}: connect timed out"),
                }
            }
            _ => {
                if chooser.fell_back() && !warned {
                    warned = true;
                    tracing::warn!(
                        "vsock did not connect within {} s of boot; relaying over {} instead",
                        vsock::FALLBACK_AFTER.as_secs(),
                        engine_port.display()
                    );
                }
                match UnixStream::connect(&engine_port).await {
                    Ok(port) => serve(&mut listener, port, &forwarder).await,
                    Err(err) => tracing::debug!("connecting to {}: {err}", engine_port.display()),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One relay session over `port`, forwarding the guest's published ports
/// while it lasts.
async fn serve<P>(listener: &mut UnixListener, port: P, forwarder: &skiff_relay::PortForwarder)
where
    P: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match skiff_relay::host::serve_session_with_ports(listener, port, forwarder).await {
        Ok(()) => tracing::info!("relay session ended"),
        Err(err) => tracing::warn!("relay session: {err}"),
    }
}

/// Whether QEMU's stderr says the vhost-vsock guest CID was refused
/// (another VM on this host has it).
fn cid_refused(qemu_log: &str) -> bool {
    qemu_log.to_ascii_lowercase().contains("guest cid")
}

/// Why QEMU ended, with the last lines of its stderr (and, with
/// `vsock_cid`, whether the guest CID was taken).
fn describe_exit(
    program: &str,
    status: std::process::ExitStatus,
    log: &Path,
    vsock_cid: Option<u32>,
) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("{program} exited with status {code}"),
        (None, Some(sig)) => format!("{program} was killed by signal {sig}"),
        _ => format!("{program} exited"),
    };
    let tail = crate::fsutil::tail_lines(log, 5).unwrap_or_default();
    let how = match vsock_cid {
        Some(cid) if cid_refused(&tail.join("\n")) => format!(
            "vsock guest CID {cid} is already in use on this host (another VM has it): {how}"
        ),
        _ => how,
    };
    if tail.is_empty() {
        how
    } else {
        format!("{how}: {}", tail.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_taken_guest_cid_is_named_in_the_exit_reason() {
        let (_tmp, log) = crate::fsutil::temp_path("qemu.log");
        std::fs::write(
            &log,
            "qemu-system-x86_64: -device vhost-vsock-pci,guest-cid=77: vhost-vsock: unable to set guest cid: Address already in use\n",
        )
        .expect("write");
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let text = describe_exit("qemu-system-x86_64", status, &log, Some(77));
        assert!(
            text.starts_with("vsock guest CID 77 is already in use on this host"),
            "{text}"
        );
        assert!(text.contains("exited with status 1"), "{text}");
        // Without vsock (or another failure) the reason is unchanged.
        let plain = describe_exit("qemu-system-x86_64", status, &log, None);
        assert!(
            plain.starts_with("qemu-system-x86_64 exited with status 1: "),
            "{plain}"
        );
        std::fs::write(&log, "could not open disk image\n").expect("write");
        let other = describe_exit("qemu-system-x86_64", status, &log, Some(77));
        assert!(!other.contains("CID"), "{other}");
    }

    #[test]
    fn without_a_usable_device_the_command_line_stays_serial() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = crate::paths::Home::at(tmp.path().to_path_buf());
        let dir = home.machine("default").expect("name");
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        assert_eq!(choose_vsock(&dir, &tmp.path().join("no-such-device")), None);
        assert!(!dir.dir().join(VSOCK_CID_FILE).exists());
        let fake = tmp.path().join("rw-device");
        std::fs::write(&fake, b"").expect("write");
        let cid = choose_vsock(&dir, &fake).expect("usable");
        assert_eq!(cid, vsock::guest_cid(dir.dir(), 0));
        let recorded = std::fs::read_to_string(dir.dir().join(VSOCK_CID_FILE)).expect("cid file");
        assert_eq!(recorded.trim(), cid.to_string());
    }
}
