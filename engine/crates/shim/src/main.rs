//! `skiff-shim`: the per-container shim daemon (see the library's docs and
//! `docs/shim.md`).
//!
//! ```text
//! skiff-shim start --id ID --bundle DIR --state-dir DIR
//!                  [--stdin] [--defer-start] [--log-path FILE | --no-log]
//!                  [--timeout-ms N]
//! ```

mod daemon;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use skiff_shim::client::LogTarget;

use crate::daemon::Options;

const USAGE: &str = "usage: skiff-shim start --id ID --bundle DIR --state-dir DIR \
[--stdin] [--defer-start] [--log-path FILE | --no-log] [--timeout-ms N]";

fn parse_start(args: &[OsString]) -> Result<Options, String> {
    let mut id = None;
    let mut bundle = None;
    let mut state_dir = None;
    let mut stdin = false;
    let mut defer_start = false;
    let mut log = LogTarget::Default;
    let mut timeout = Duration::from_secs(60);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let arg = arg
            .to_str()
            .ok_or_else(|| format!("argument {arg:?} is not UTF-8"))?;
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg {
            "--id" => {
                id = Some(
                    value(arg)?
                        .into_string()
                        .map_err(|v| format!("--id {v:?} is not UTF-8"))?,
                );
            }
            "--bundle" => bundle = Some(PathBuf::from(value(arg)?)),
            "--state-dir" => state_dir = Some(PathBuf::from(value(arg)?)),
            "--log-path" => log = LogTarget::Path(PathBuf::from(value(arg)?)),
            "--no-log" => log = LogTarget::None,
            "--stdin" => stdin = true,
            "--defer-start" => defer_start = true,
            "--timeout-ms" => {
                let v = value(arg)?;
                let ms: u64 = v
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("--timeout-ms {v:?} is not a number"))?;
                timeout = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options {
        id: id.ok_or("--id is required")?,
        bundle: bundle.ok_or("--bundle is required")?,
        state_dir: state_dir.ok_or("--state-dir is required")?,
        stdin,
        defer_start,
        log,
        timeout,
    })
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let code = match args.first().and_then(|a| a.to_str()) {
        Some("start") => match parse_start(&args[1..]) {
            Ok(opts) => daemon::launch::start(opts),
            Err(msg) => {
                daemon::launch::fail(&format!("{msg}\n{USAGE}"));
                2
            }
        },
        Some("--version" | "-V") => {
            println!("skiff-shim {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help" | "-h") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
