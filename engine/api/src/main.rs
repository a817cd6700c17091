//! The `skiffd` binary: parse flags, open the daemon, serve the API.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use skiff_engine::config::{Config, Flags, Listen};
use skiff_engine::daemon::Daemon;
use skiffd_api as api;

fn main() -> anyhow::Result<()> {
    skiff_engine::memory::limit_arenas();
    raise_open_files_limit();
    let config = Config::load(Flags::parse())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(config));
    // Blocking tasks waiting on shims never end by themselves; containers
    // outlive skiffd by design, so do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

/// Raise the soft limit on open files to the hard one (as Go's runtime does
/// for dockerd): every API connection is a descriptor, and a thousand idle
/// clients must not make `accept` fail for the others.
fn raise_open_files_limit() {
    use nix::libc;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer to a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur >= lim.rlim_max
    {
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer to a local.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        eprintln!(
            "skiffd: raising the open files limit: {}",
            std::io::Error::last_os_error()
        );
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let listeners = config.listen.clone();
    let group = config.group.clone();
    let daemon = Arc::new(
        tokio::task::block_in_place(|| Daemon::open(config)).context("opening the daemon")?,
    );
    daemon.containers.reconcile().await;
    for listen in listeners {
        match listen {
            Listen::Unix(path) => {
                let l = api::listener::bind_unix(&path, group.as_deref())?;
                tracing::info!("API listening on {}", path.display());
                tokio::spawn(api::serve_unix(daemon.clone(), l));
            }
            Listen::Tcp(addr) => {
                let l = tokio::net::TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("listening on tcp://{addr}"))?;
                tracing::warn!(
                    "API listening on tcp://{addr}: unauthenticated and unencrypted — anyone who can reach it is root here"
                );
                tokio::spawn(api::serve_tcp(daemon.clone(), l));
            }
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}
