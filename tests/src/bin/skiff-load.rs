//! `skiff-load`: the load generator of [`skiff_e2e::load`] on the command
//! line (what `bench/load.sh` runs against skiffd and dockerd).
//!
//! ```text
//! skiff-load --socket /run/skiffd.sock --pid 1234 --clients 256 --seconds 60 --settle 60
//! ```
//!
//! Prints the report, then one line `json: {…}` with the figures; exits 1
//! when any request failed, 2 when the run could not be set up.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use skiff_e2e::load::{LoadOpts, run};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(about = "Concurrent clients against a docker-compatible engine's socket")]
struct Args {
    /// The engine's API socket.
    #[arg(long)]
    socket: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds to wait after the load before the last sample.
    #[arg(long, default_value_t = 60)]
    settle: u64,
    /// A daemon process to measure (repeat: figures are summed).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// The image the containers run (must be present).
    #[arg(long, default_value = "busybox")]
    image: String,
    /// Worker threads of the client's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skiff-load: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = LoadOpts {
        socket: args.socket,
        clients: args.clients,
        duration: Duration::from_secs(args.seconds),
        image: args.image,
        pids: args.pids,
        settle: Duration::from_secs(args.settle),
    };
    match runtime.block_on(run(opts)) {
        Ok(report) => {
            print!("{}", report.render());
            println!("json: {}", report.json());
            if report.errors() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("skiff-load: setup failed: {e}");
            ExitCode::from(2)
        }
    }
}
