//! The supervisor on Windows: runs the guest side in the WSL distribution
//! (`wsl.exe … --exec /usr/bin/skiff-init --wsl`, relay on its stdio) and
//! serves the named pipe with the relay's host half, one session per run.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::windows::named_pipe::{ClientOptions, ServerOptions};

use crate::error::{IoContext, MachineError, Result};
use crate::paths::MachineDir;
use crate::state::{Phase, RunRecord};

/// Runs machine `dir` until the distribution's side ends.
pub async fn run(dir: MachineDir) -> Result<()> {
    let mut record = RunRecord::new(Phase::Booting);
    record.supervisor_pid = Some(std::process::id());
    record.accel = Some("wsl2".into());
    record.save(&dir)?;
    let mut child = tokio::process::Command::new("wsl.exe")
        .args(super::run_args(dir.name()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ctx(|| "running wsl.exe".to_string())?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(MachineError::io(
            "wsl.exe stdio",
            std::io::ErrorKind::BrokenPipe.into(),
        ));
    };
    let port = tokio::io::join(stdout, stdin);
    let pipe = super::pipe_path(dir.name());
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let mut server = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&pipe)
        .ctx(|| format!("creating {pipe}"))?;
    let server_pipe = pipe.clone();
    let acceptor = tokio::spawn(async move {
        loop {
            if server.connect().await.is_err() {
                continue;
            }
            let Ok(next) = ServerOptions::new().create(&server_pipe) else {
                return;
            };
            let connected = std::mem::replace(&mut server, next);
            if tx.send(connected).await.is_err() {
                return;
            }
        }
    });
    let ready_pipe = pipe.clone();
    let ready_dir = dir.clone();
    let ready = tokio::spawn(async move {
        loop {
            if ping(&ready_pipe).await.is_ok() {
                let mut record =
                    RunRecord::load(&ready_dir).unwrap_or_else(|| RunRecord::new(Phase::Running));
                record.phase = Phase::Running;
                let _ = record.save(&ready_dir);
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let forwarder = skiff_relay::PortForwarder::new();
    let ports_task = crate::ports::spawn_status_writer(&dir, &forwarder);
    let session = skiff_relay::host::serve_session_with_ports(&mut rx, port, &forwarder);
    let outcome = tokio::select! {
        result = session => match result {
            Ok(()) => None,
            Err(err) => Some(err.to_string()),
        },
        status = child.wait() => match status {
            // init's WSL mode exits 0 when asked to stop.
            Ok(status) if status.success() => None,
            status => Some(format!("wsl.exe exited: {status:?}")),
        },
    };
    acceptor.abort();
    ready.abort();
    ports_task.abort();
    let _ = std::fs::remove_file(dir.ports());
    let mut record = RunRecord::load(&dir).unwrap_or_else(|| RunRecord::new(Phase::Stopped));
    record.phase = if outcome.is_some() {
        Phase::Broken
    } else {
        Phase::Stopped
    };
    record.reason = outcome;
    record.save(&dir)
}

async fn ping(pipe: &str) -> std::io::Result<()> {
    let mut client = ClientOptions::new().open(pipe)?;
    client
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: skiff\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await?;
    crate::ping::check_answer(&answer).map_err(std::io::Error::other)
}
