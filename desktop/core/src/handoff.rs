//! How the app (`skiff-desktop`) and the tray program (`skiff-tray`)
//! replace each other, in one process.
//!
//! When its window closes, the app ends WebKit's processes and replaces
//! itself with the tray program ([`replace`]: `exec` on Unix, so the pid
//! stays), passing its own arguments, its binary ([`APP_ENV`]) and the
//! page's view state ([`VIEW_STATE_ENV`], JSON). The tray's Open
//! Dashboard replaces the tray with the app again, carrying the view state
//! back, so the new window comes back to the same view. Each program reads
//! and removes the variables at start ([`Carried::take_from_env`]), so
//! nothing started later inherits them.
//!
//! If the tray program cannot show its icon it hands back to the app in
//! tray-only mode ([`TRAY_ONLY_ENV`]) with [`NO_HANDOFF_ENV`] set, and the
//! app stays in the tray itself rather than handing over again.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Set (to `1`) in the environment of a tray-only start of the app.
pub const TRAY_ONLY_ENV: &str = "SKIFF_DESKTOP_TRAY_ONLY";
/// The page's view state (JSON) carried across a hand-over.
pub const VIEW_STATE_ENV: &str = "SKIFF_DESKTOP_VIEW_STATE";
/// The app's binary, for the tray program to hand back to.
pub const APP_ENV: &str = "SKIFF_DESKTOP_APP";
/// Set (to `1`) when the app must not hand over to the tray program (it
/// could not show its icon).
pub const NO_HANDOFF_ENV: &str = "SKIFF_DESKTOP_NO_HANDOFF";
/// The tray program's binary (default: [`TRAY_NAME`] next to the app).
pub const TRAY_PROGRAM_ENV: &str = "SKIFF_TRAY_PROGRAM";
/// The command-line flag of a start in the tray, without a window.
pub const TRAY_FLAG: &str = "--tray";
/// The app's binary name.
pub const APP_NAME: &str = "skiff-desktop";
/// The tray program's binary name.
pub const TRAY_NAME: &str = "skiff-tray";

/// What a hand-over carried into this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Carried {
    /// The command-line arguments (without the program name).
    pub args: Vec<OsString>,
    /// [`TRAY_ONLY_ENV`] was `1` or [`TRAY_FLAG`] was given.
    pub tray_only: bool,
    /// The view state (`null`: none, or not JSON).
    pub view_state: serde_json::Value,
    /// [`APP_ENV`]'s value.
    pub app: Option<PathBuf>,
    /// [`NO_HANDOFF_ENV`] was `1`.
    pub no_handoff: bool,
}

impl Carried {
    /// What `args` and the variables' values (looked up by `var`) carry.
    pub fn parse(args: Vec<OsString>, var: impl Fn(&str) -> Option<String>) -> Carried {
        let tray_only =
            var(TRAY_ONLY_ENV).as_deref() == Some("1") || args.iter().any(|a| a == TRAY_FLAG);
        let view_state = var(VIEW_STATE_ENV)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null);
        Carried {
            tray_only,
            view_state,
            app: var(APP_ENV).filter(|s| !s.is_empty()).map(PathBuf::from),
            no_handoff: var(NO_HANDOFF_ENV).as_deref() == Some("1"),
            args,
        }
    }

    /// Reads what this process was given and removes the hand-over
    /// variables from its environment.
    ///
    /// # Safety
    ///
    /// Changes the environment: call it before any thread exists (first
    /// thing in `main`), as `std::env::remove_var` requires.
    pub unsafe fn take_from_env() -> Carried {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let carried = Carried::parse(args, |key| std::env::var(key).ok());
        for key in [TRAY_ONLY_ENV, VIEW_STATE_ENV, APP_ENV, NO_HANDOFF_ENV] {
            // SAFETY: the caller guarantees no other thread exists.
            unsafe { std::env::remove_var(key) };
        }
        carried
    }

    /// The arguments without [`TRAY_FLAG`] (the app opened from the tray
    /// shows its window).
    pub fn args_for_window(&self) -> Vec<OsString> {
        self.args
            .iter()
            .filter(|a| *a != TRAY_FLAG)
            .cloned()
            .collect()
    }
}

/// `name` in the directory of this process's binary (with the platform's
/// executable suffix).
pub fn sibling(name: &str) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// The tray program: [`TRAY_PROGRAM_ENV`] when set, else [`TRAY_NAME`]
/// next to this binary.
pub fn tray_program() -> std::io::Result<PathBuf> {
    match std::env::var_os(TRAY_PROGRAM_ENV).filter(|v| !v.is_empty()) {
        Some(path) => Ok(PathBuf::from(path)),
        None => sibling(TRAY_NAME),
    }
}

/// Replaces this process with `program` run with `args` and `env` added
/// to the environment. On Unix the process image is replaced (`exec`: the
/// same pid); elsewhere the program is started and this process exits.
/// Returns only on failure.
pub fn replace(program: &Path, args: &[OsString], env: &[(&str, String)]) -> std::io::Error {
    let mut command = std::process::Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.exec()
    }
    #[cfg(not(unix))]
    {
        match command.spawn() {
            Ok(_) => std::process::exit(0),
            Err(err) => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn variables_and_the_flag_are_read() {
        let plain = Carried::parse(args(&["-v"]), |_| None);
        assert_eq!(
            plain,
            Carried {
                args: args(&["-v"]),
                ..Carried::default()
            }
        );
        let vars = |key: &str| match key {
            TRAY_ONLY_ENV => Some("1".to_string()),
            VIEW_STATE_ENV => Some(r#"{"view":"networks"}"#.to_string()),
            APP_ENV => Some("/opt/skiff/skiff-desktop".to_string()),
            NO_HANDOFF_ENV => Some("1".to_string()),
            _ => None,
        };
        let carried = Carried::parse(args(&[]), vars);
        assert!(carried.tray_only && carried.no_handoff);
        assert_eq!(
            carried.view_state,
            serde_json::json!({ "view": "networks" })
        );
        assert_eq!(carried.app, Some(PathBuf::from("/opt/skiff/skiff-desktop")));
        let flagged = Carried::parse(args(&["--tray", "x"]), |k| {
            (k == VIEW_STATE_ENV).then(|| "{nope".to_string())
        });
        assert!(flagged.tray_only);
        assert_eq!(flagged.view_state, serde_json::Value::Null);
        assert_eq!(flagged.args_for_window(), args(&["x"]));
    }

    #[test]
    fn the_tray_program_sits_next_to_this_binary() {
        let path = sibling(TRAY_NAME).expect("current exe");
        let exe = std::env::current_exe().expect("current exe");
        assert_eq!(path.parent(), exe.parent());
        assert!(path.ends_with(format!("{TRAY_NAME}{}", std::env::consts::EXE_SUFFIX)));
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_program_is_an_error_not_an_exit() {
        let err = replace(Path::new("/nonexistent/skiff-tray"), &[], &[]);
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
