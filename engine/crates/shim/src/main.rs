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

/// Why the arguments of `skiff-shim start` are refused.
#[derive(Debug, thiserror::Error)]
enum UsageError {
    /// An argument (or the value of `--id`) is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(String),
    /// A flag's value is missing.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// `--timeout-ms` is not a number.
    #[error("--timeout-ms {0:?} is not a number")]
    NotANumber(OsString),
    /// A flag nobody knows.
    #[error("unknown argument {0:?}")]
    Unknown(String),
    /// A required flag is missing.
    #[error("{0} is required")]
    Required(&'static str),
}

fn parse_start(args: &[OsString]) -> Result<Options, UsageError> {
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
            .ok_or_else(|| UsageError::NotUtf8(format!("argument {arg:?}")))?;
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| UsageError::MissingValue(name.to_owned()))
        };
        match arg {
            "--id" => {
                id = Some(
                    value(arg)?
                        .into_string()
                        .map_err(|v| UsageError::NotUtf8(format!("--id {v:?}")))?,
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
                    .ok_or_else(|| UsageError::NotANumber(v.clone()))?;
                timeout = Duration::from_millis(ms);
            }
            other => return Err(UsageError::Unknown(other.to_owned())),
        }
    }
    Ok(Options {
        id: id.ok_or(UsageError::Required("--id"))?,
        bundle: bundle.ok_or(UsageError::Required("--bundle"))?,
        state_dir: state_dir.ok_or(UsageError::Required("--state-dir"))?,
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
            Err(e) => {
                daemon::launch::fail(&format!("{e}\n{USAGE}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, UsageError> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse_start(&args)
    }

    #[test]
    fn start_flags_parse() {
        let opts = parse(&[
            "--id",
            "c1",
            "--bundle",
            "/b",
            "--state-dir",
            "/s",
            "--defer-start",
            "--no-log",
            "--timeout-ms",
            "250",
        ])
        .expect("valid flags");
        assert_eq!(opts.id, "c1");
        assert!(opts.defer_start && !opts.stdin);
        assert!(matches!(opts.log, LogTarget::None));
        assert_eq!(opts.timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_flags_say_why() {
        let msg = |args: &[&str]| parse(args).err().map(|e| e.to_string());
        assert_eq!(msg(&["--id"]).as_deref(), Some("--id needs a value"));
        assert_eq!(
            msg(&["--bundle", "/b"]).as_deref(),
            Some("--id is required")
        );
        assert_eq!(msg(&["--x"]).as_deref(), Some("unknown argument \"--x\""));
        assert_eq!(
            msg(&["--timeout-ms", "soon"]).as_deref(),
            Some("--timeout-ms \"soon\" is not a number")
        );
    }
}
