//! `skiff-init --wsl`: the engine side inside a WSL2 distribution (see the
//! library's `wsl` module). Mounts what WSL lacks, supervises skiffd and
//! serves the relay on stdin/stdout until the host closes it or a signal
//! arrives; then stops skiffd and exits.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use skiff_init::cmdline::Settings;
use skiff_init::mounts;
use skiff_init::reaper::{self, Reaper};
use skiff_init::supervisor::{self, ENGINE_SOCKET};
use skiff_init::{disk, log, ping, say, wsl};
use skiff_relay::FdStream;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

/// Runs WSL mode to the end.
pub fn main() -> anyhow::Result<()> {
    let started_ms = log::uptime_ms();
    let (input, output) = wsl::take_relay_fds().context("taking stdin/stdout for the relay")?;
    let _lock = wsl::lock(Path::new(wsl::LOCK_FILE)).context("taking the instance lock")?;
    // No /proc yet (a bare root): everything is missing.
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let plan = wsl::plan(&skiff_mountinfo::parse(&info));
    let applied = wsl::apply(&plan);
    // From here on, the lines go to the log file (stderr is discarded by
    // the host, stdout is the relay).
    if let Err(e) = wsl::redirect_stdio(Path::new(wsl::LOG_FILE)) {
        say!("{e}");
    }
    say!(
        "skiff-init {} --wsl (pid {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    if !plan.detach.is_empty() {
        say!(
            "replaced the cgroup v1 hierarchies at {} with cgroup2",
            wsl::CGROUP
        );
    }
    for m in &plan.mounts {
        say!("mounted {} at {}", m.fstype, m.target);
    }
    applied.context("mounting what skiffd needs")?;
    if let Err(e) = wsl::become_subreaper() {
        say!("{e}");
    }
    match mounts::enable_cgroup_controllers() {
        Ok(c) if c.is_empty() => say!(
            "cgroup2 has no controllers (cgroup v1 holds them: set kernelCommandLine = cgroup_no_v1=all in .wslconfig)"
        ),
        Ok(c) => say!("cgroup2 controllers: {c}"),
        Err(e) => say!("cgroup2 controllers: {e}"),
    }
    for dir in [disk::MOUNT_POINT, "/run/skiff"] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(started_ms, input, output))
}

async fn run(started_ms: u64, input: File, output: File) -> anyhow::Result<()> {
    let reaper = Arc::new(Reaper::default());
    reaper::spawn_reaping(reaper.clone()).context("SIGCHLD handler")?;
    let (down_tx, mut down_rx) = mpsc::unbounded_channel::<String>();
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::hangup(), "SIGHUP"),
    ] {
        let mut stream = signal(kind).with_context(|| format!("{name} handler"))?;
        let tx = down_tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                let _ = tx.send(name.to_string());
            }
        });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let supervisor = tokio::spawn(supervisor::supervise(
        reaper.clone(),
        supervisor::skiffd_args(&Settings {
            // Binds come from Windows: only the drives WSL mounts hold them.
            host_shares: Some(skiff_init::shares::wsl_drives(
                &skiff_mountinfo::read_self().unwrap_or_default(),
            )),
            ..Settings::default()
        }),
        stop_rx,
    ));
    tokio::spawn(async move {
        ping::wait_ready(Path::new(ENGINE_SOCKET), Duration::from_millis(20)).await;
        say!(
            "engine ready after {} ms",
            log::uptime_ms().saturating_sub(started_ms)
        );
    });
    match (
        FdStream::device(input.into()),
        FdStream::device(output.into()),
    ) {
        (Ok(input), Ok(output)) => {
            let tx = down_tx.clone();
            let ports = skiff_init::ports::spawn_publisher();
            tokio::spawn(async move {
                let port = tokio::io::join(input, output);
                let engine = Path::new(ENGINE_SOCKET);
                let why = match skiff_relay::guest::serve_with_ports(port, engine, ports).await {
                    Ok(()) => "the host closed the relay".to_string(),
                    Err(e) => format!("relay: {e}"),
                };
                let _ = tx.send(why);
            });
        }
        // stdin/stdout a regular file or /dev/null (run by hand): no relay,
        // the engine still serves its socket inside the distribution.
        (Err(e), _) | (_, Err(e)) => say!("no relay on stdin/stdout: {e}"),
    }

    let reason = down_rx
        .recv()
        .await
        .unwrap_or_else(|| "no shutdown source left".to_string());
    say!("stopping ({reason})");
    let _ = stop_tx.send(true);
    let _ = supervisor.await;
    Ok(())
}
