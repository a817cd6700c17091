//! Tray-only mode at a small footprint.
//!
//! A process that has shown a webview keeps most of what WebKitGTK set up
//! for it after the window is destroyed: WebKit's network process (a child
//! that lives as long as its web context, i.e. the app), the touched pages
//! of libwebkit2gtk and JavaScriptCore, GTK's rendering caches and the
//! allocator's arenas — ~168 MiB RSS measured by `bench/desktop.sh`, where
//! a process that never made a webview costs a fraction of it.
//!
//! So when the last window closes and the tray stays, the app ends the
//! WebKit processes it started and re-executes itself in tray-only mode
//! ([`relaunch_tray_only`]): the same pid, the same arguments, and two
//! variables — [`TRAY_ONLY_ENV`] (do not open the window at start) and
//! [`VIEW_STATE_ENV`] (what the page saved in [`crate::window::ViewState`],
//! so the window the tray re-creates comes back to the same view). The new
//! image reads and removes them at start ([`Launch::take_from_env`]), so
//! nothing the app starts later inherits them. [`TRAY_FLAG`] on the command
//! line starts the app in the tray too (start at login).

use std::ffi::OsString;
use std::time::{Duration, Instant};

/// Set (to `1`) in the environment of a tray-only start.
pub const TRAY_ONLY_ENV: &str = "SKIFF_DESKTOP_TRAY_ONLY";
/// The page's view state (JSON) carried across a re-execution.
pub const VIEW_STATE_ENV: &str = "SKIFF_DESKTOP_VIEW_STATE";
/// The command-line flag of a start in the tray, without a window.
pub const TRAY_FLAG: &str = "--tray";

/// How long WebKit's processes get to leave on SIGTERM before SIGKILL.
const WEBKIT_EXIT_GRACE: Duration = Duration::from_secs(2);

/// How this process was started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Launch {
    /// Start in the tray: the main window is not created until the tray's
    /// Open Dashboard (or, without a tray, at start anyway).
    pub tray_only: bool,
    /// The view state to hand to the next page (`null`: none).
    pub view_state: serde_json::Value,
}

impl Launch {
    /// The launch from the command line and the two variables' values
    /// (`tray_only_var`: [`TRAY_ONLY_ENV`], `view_state_var`:
    /// [`VIEW_STATE_ENV`]). A view state that is not JSON is ignored.
    pub fn parse(
        args: &[OsString],
        tray_only_var: Option<&str>,
        view_state_var: Option<&str>,
    ) -> Launch {
        let tray_only = tray_only_var == Some("1") || args.iter().any(|a| a == TRAY_FLAG);
        let view_state = view_state_var
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(serde_json::Value::Null);
        Launch {
            tray_only,
            view_state,
        }
    }

    /// Reads the launch from this process's arguments and environment and
    /// removes the two variables from the environment.
    ///
    /// # Safety
    ///
    /// Changes the environment: call it before any thread exists (first
    /// thing in `main`), as `std::env::remove_var` requires.
    pub unsafe fn take_from_env() -> Launch {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let tray = std::env::var(TRAY_ONLY_ENV).ok();
        let view = std::env::var(VIEW_STATE_ENV).ok();
        // SAFETY: the caller guarantees no other thread exists.
        unsafe {
            std::env::remove_var(TRAY_ONLY_ENV);
            std::env::remove_var(VIEW_STATE_ENV);
        }
        Launch::parse(&args, tray.as_deref(), view.as_deref())
    }
}

/// Ends the WebKit processes this process started, then replaces this
/// process's image with a fresh one of the same binary and arguments in
/// tray-only mode, carrying `view_state`. Returns only on failure (the
/// caller then keeps running as it is).
#[cfg(target_os = "linux")]
pub fn relaunch_tray_only(view_state: &serde_json::Value) -> std::io::Error {
    use std::os::unix::process::CommandExt;

    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return err,
    };
    end_webkit_children();
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(TRAY_ONLY_ENV, "1")
        .env(VIEW_STATE_ENV, view_state.to_string())
        .exec()
}

/// Elsewhere the destroyed window is all there is to it.
#[cfg(not(target_os = "linux"))]
pub fn relaunch_tray_only(_view_state: &serde_json::Value) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "re-executing in tray-only mode is done on Linux only",
    )
}

/// SIGTERM to this process's WebKit children (the web process, if still
/// leaving, and the network process), waited for up to
/// [`WEBKIT_EXIT_GRACE`], then SIGKILL; each is reaped, so none is left as
/// a zombie of the new image.
#[cfg(target_os = "linux")]
fn end_webkit_children() {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use nix::unistd::Pid;

    let mut left: Vec<Pid> = webkit_children(std::process::id())
        .into_iter()
        .map(|pid| Pid::from_raw(pid as i32))
        .collect();
    for &pid in &left {
        let _ = kill(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + WEBKIT_EXIT_GRACE;
    while !left.is_empty() {
        // Gone (also when GLib's child watch reaped it first: ECHILD).
        left.retain(|&pid| {
            matches!(
                waitpid(pid, Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            )
        });
        if Instant::now() >= deadline {
            for &pid in &left {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pids of `parent`'s children whose command name starts with
/// `WebKit`, from `/proc`.
#[cfg(target_os = "linux")]
fn webkit_children(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                parse_stat(&stat)
                    .is_some_and(|(comm, ppid)| ppid == parent && comm.starts_with("WebKit"))
            })
        })
        .collect()
}

/// `(comm, ppid)` from a `/proc/<pid>/stat` line (`pid (comm) state ppid
/// …`; comm may hold spaces and parentheses, so it ends at the last `)`).
fn parse_stat(stat: &str) -> Option<(&str, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_plain_start_opens_the_window() {
        assert_eq!(Launch::parse(&args(&[]), None, None), Launch::default());
    }

    #[test]
    fn the_flag_or_the_variable_starts_in_the_tray_with_the_view_state() {
        assert!(Launch::parse(&args(&["--tray"]), None, None).tray_only);
        let launch = Launch::parse(&args(&[]), Some("1"), Some(r#"{"view":"networks"}"#));
        assert!(launch.tray_only);
        assert_eq!(launch.view_state, serde_json::json!({ "view": "networks" }));
        let garbled = Launch::parse(&args(&[]), Some("0"), Some("{nope"));
        assert_eq!(garbled, Launch::default());
    }

    #[test]
    fn stat_lines_give_comm_and_parent() {
        assert_eq!(
            parse_stat("4242 (WebKitNetworkPr) S 4200 4200 1 0"),
            Some(("WebKitNetworkPr", 4200))
        );
        assert_eq!(parse_stat("7 (a) b (c)) R 1 7 7"), Some(("a) b (c)", 1)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn webkit_children_are_found_ended_and_reaped() {
        // A child named like WebKit's (comm comes from the file name).
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("WebKitFakeProc");
        std::fs::copy("/bin/sleep", &fake).expect("copy sleep");
        let other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let mut child = std::process::Command::new(&fake)
            .arg("30")
            .spawn()
            .expect("the fake WebKit process");
        let found = webkit_children(std::process::id());
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(!found.contains(&other.id()), "{found:?}");
        end_webkit_children();
        // Ended and reaped: no /proc entry left, not even a zombie.
        assert!(!std::path::Path::new(&format!("/proc/{}", child.id())).exists());
        assert!(std::path::Path::new(&format!("/proc/{}", other.id())).exists());
        // Already reaped: this wait finds no child (ECHILD), as expected.
        assert!(child.wait().is_err());
        let mut other = other;
        let _ = other.kill();
        let _ = other.wait();
    }
}
