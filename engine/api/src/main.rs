//! The `skiffd` binary: parse flags, open the daemon, serve the API.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use skiff_engine::config::{Config, Flags, Listen};
use skiff_engine::daemon::Daemon;
use skiffd_api as api;

/// `skiffd check`: the consistency checker (see `skiff_engine::check`).
#[derive(Debug, Parser)]
#[command(
    name = "skiffd check",
    about = "Check a data root's stores for consistency (read-only; best with the daemon stopped)"
)]
struct CheckFlags {
    /// Root directory of persistent state (default: as the daemon resolves it).
    #[arg(long = "data-root")]
    data_root: Option<std::path::PathBuf>,
    /// Daemon configuration file (for its `data-root`).
    #[arg(long = "config-file")]
    config_file: Option<std::path::PathBuf>,
}

/// Runs `skiffd check`; exit status 0 when clean, 1 when a problem is
/// found, 2 when the data root cannot be read.
fn check_main(args: impl Iterator<Item = std::ffi::OsString>) -> anyhow::Result<()> {
    let flags = CheckFlags::parse_from(args);
    let config = Config::load(Flags {
        data_root: flags.data_root,
        config_file: flags.config_file,
        ..Flags::default()
    })?;
    let root = &config.data_root;
    let report = match skiff_engine::check::check(root) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("skiffd check: {e}");
            std::process::exit(2);
        }
    };
    println!("skiffd check: {}", root.display());
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    println!("checked: {}", counts.join(", "));
    for note in &report.notes {
        println!("note: {note}");
    }
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    if report.is_clean() {
        println!("clean");
        Ok(())
    } else {
        println!("{} problem(s)", report.problems.len());
        std::process::exit(1);
    }
}

fn main() -> anyhow::Result<()> {
    let args = std::env::args_os();
    if std::env::args_os().nth(1).is_some_and(|a| a == "check") {
        let program = std::ffi::OsString::from("skiffd check");
        return check_main(std::iter::once(program).chain(args.skip(2)));
    }
    skiff_engine::memory::limit_arenas();
    raise_open_files_limit();
    // Back to the baseline RSS within seconds of any burst (issue 19 §3).
    skiff_engine::memory::trim_periodically(std::time::Duration::from_secs(10))?;
    let config = Config::load(Flags::parse())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // A log on a full disk drops lines; reporting that with `eprintln!`
        // to the same stderr would panic the logging thread.
        .log_internal_errors(false)
        .init();
    // Crash points for the crash tests (debug builds only; see the crate).
    for armed in skiff_failpoint::arm_from_env()? {
        tracing::warn!(
            "crash point {} armed: SIGKILL at hit {}",
            armed.name,
            armed.hit
        );
    }
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
    daemon.build.sweep_step_containers().await;
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
    // Idle bridge devices go (the default bridge's is kept while we run).
    let networks = daemon.networks.clone();
    let _ = tokio::task::spawn_blocking(move || networks.shutdown()).await;
    Ok(())
}
