//! The supervisor on macOS (feature `vz`): the same duties as the Linux
//! one ([`crate::supervised`] starts it the same way), with the VM hosted
//! in this process by Virtualization.framework and the engine and control
//! ports reached over vsock ([`crate::vz`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::MachineConfig;
use crate::control::{self, ControlEvent};
use crate::error::{IoContext, MachineError, Result};
use crate::image::VmImage;
use crate::lock::InstanceLock;
use crate::paths::MachineDir;
use crate::state::{Phase, RunRecord};
use crate::supervision::{self, Outcome};
use crate::vz;
use crate::vz::runtime::VzVm;

/// Runs machine `dir` until it stops (see the Linux supervisor).
pub async fn run(dir: MachineDir, lock: InstanceLock) -> Result<()> {
    let mut record = supervision::begin(&dir)?;
    let _ = std::fs::remove_file(dir.socket());
    let result = match MachineConfig::load(&dir) {
        Ok(config) => run_vm(&dir, &config, &mut record).await,
        Err(err) => Err(err),
    };
    let _ = std::fs::remove_file(dir.socket());
    let _ = std::fs::remove_file(dir.ports());
    let outcome = match result {
        Ok(None) => Outcome::Stopped(None),
        Ok(Some(reason)) => Outcome::Died(reason),
        Err(err) => Outcome::Died(err.to_string()),
    };
    supervision::finish(&dir, record, outcome, lock)
}

/// `Ok(None)`: stopped on request; `Ok(Some(why))`: the VM died.
async fn run_vm(
    dir: &MachineDir,
    config: &MachineConfig,
    record: &mut RunRecord,
) -> Result<Option<String>> {
    let image = VmImage::locate(config.image_dir.as_deref())?;
    image.verify(true)?;
    let (shares, skipped) = crate::shares::devices(&config.folders(), |p| p.is_dir());
    for warning in skipped {
        tracing::warn!("{warning}");
    }
    let desc = vz::describe(config, dir, &image, supervision::unix_now(), &shares);
    supervision::rotate_console(dir);
    std::fs::File::create(dir.console()).ctx(|| format!("creating {}", dir.console().display()))?;
    let failed = |reason: String| MachineError::StartFailed {
        name: dir.name().to_string(),
        reason,
        lines: Vec::new(),
    };
    let vm = Arc::new(VzVm::create(&desc).map_err(failed)?);
    let starter = vm.clone();
    tokio::task::spawn_blocking(move || starter.start())
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)?;
    record.accel = Some("vz".into());
    record.phase = Phase::Booting;
    record.save(dir)?;

    let listener = supervision::bind_engine_socket(dir)?;
    let relay_vm = vm.clone();
    let vz::VirtioSocketDevice {
        engine_port,
        control_port,
    } = desc.socket_device;
    let forwarder = Arc::new(skiff_relay::PortForwarder::new());
    let ports_task = crate::ports::spawn_status_writer(dir, &forwarder);
    let relay = tokio::spawn(async move {
        let mut listener = listener;
        loop {
            let conn = relay_vm.clone();
            if let Ok(Ok(fd)) = tokio::task::spawn_blocking(move || conn.connect(engine_port)).await
            {
                if let Ok(port) = to_stream(fd) {
                    if let Err(err) =
                        skiff_relay::host::serve_session_with_ports(&mut listener, port, &forwarder)
                            .await
                    {
                        tracing::warn!("relay session: {err}");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let (events_tx, mut events) = tokio::sync::mpsc::channel::<Option<ControlEvent>>(16);
    let control_vm = vm.clone();
    let (writer_tx, mut writer_rx) =
        tokio::sync::mpsc::channel::<tokio::net::unix::OwnedWriteHalf>(1);
    let control_events = events_tx.clone();
    let control = tokio::spawn(async move {
        loop {
            let conn = control_vm.clone();
            if let Ok(Ok(fd)) =
                tokio::task::spawn_blocking(move || conn.connect(control_port)).await
            {
                if let Ok(stream) = to_stream(fd) {
                    let (read, write) = stream.into_split();
                    let _ = writer_tx.send(write).await;
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let _ = control_events.send(Some(control::parse_line(&line))).await;
                    }
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let ready = supervision::spawn_ready_probe(dir.socket(), events_tx, None);
    let mut sigterm = signal(SignalKind::terminate()).ctx(|| "handling SIGTERM".to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).ctx(|| "handling SIGINT".to_string())?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut control_writer = None;
    let outcome = loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(reason) = vm.ended() {
                    break Some(reason);
                }
            }
            Some(w) = writer_rx.recv() => control_writer = Some(w),
            _ = sigterm.recv() => break shutdown(&vm, dir, record, control_writer.as_mut()).await,
            _ = sigint.recv() => break shutdown(&vm, dir, record, control_writer.as_mut()).await,
            Some(event) = events.recv() => match event {
                Some(ControlEvent::Booted(_)) if record.phase == Phase::Booting => {
                    record.phase = Phase::Engine;
                    record.save(dir)?;
                }
                Some(_) => {}
                None => {
                    record.phase = Phase::Running;
                    record.save(dir)?;
                }
            },
        }
    };
    relay.abort();
    ports_task.abort();
    control.abort();
    ready.abort();
    Ok(outcome)
}

/// Control `poweroff`, then the virtual power button, then a hard stop.
async fn shutdown(
    vm: &Arc<VzVm>,
    dir: &MachineDir,
    record: &mut RunRecord,
    control: Option<&mut tokio::net::unix::OwnedWriteHalf>,
) -> Option<String> {
    record.phase = Phase::Stopping;
    let _ = record.save(dir);
    let wait = |secs: u64| async move {
        for _ in 0..secs * 5 {
            if vm.ended().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    };
    if let Some(control) = control {
        if control.write_all(control::POWEROFF).await.is_ok() && wait(30).await {
            return None;
        }
    }
    if vm.request_stop().is_ok() && wait(10).await {
        return None;
    }
    vm.force_stop();
    let _ = wait(5).await;
    None
}

fn to_stream(fd: std::os::fd::OwnedFd) -> std::io::Result<UnixStream> {
    let std = std::os::unix::net::UnixStream::from(fd);
    std.set_nonblocking(true)?;
    UnixStream::from_std(std)
}
