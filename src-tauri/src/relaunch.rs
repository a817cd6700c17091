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
//! WebKit processes it started and hands over to the tray program
//! (`skiff-tray`, which links no WebKit; see
//! [`skiff_desktop_core::handoff`]): the same pid, the app's arguments, its
//! binary and the view state ([`VIEW_STATE_ENV`]: what the page saved in
//! [`crate::window::ViewState`]), which the tray carries back when it
//! opens the window again. A start with [`TRAY_FLAG`] (start at login)
//! hands over at once ([`hand_over_at_start`]). Without a tray program
//! (or when it handed back because it could not show its icon) the app
//! re-executes itself in tray-only mode instead ([`TRAY_ONLY_ENV`]: do not
//! open the window at start). The new image reads and removes the
//! variables at start ([`Launch::take_from_env`]).

use std::time::{Duration, Instant};

use skiff_desktop_core::handoff::{self, APP_ENV, Carried};
pub use skiff_desktop_core::handoff::{TRAY_FLAG, TRAY_ONLY_ENV, VIEW_STATE_ENV};

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
    /// Stay in the tray in this process rather than handing over to the
    /// tray program (it handed back: it could not show its icon).
    pub no_handoff: bool,
}

impl From<Carried> for Launch {
    fn from(c: Carried) -> Launch {
        Launch {
            tray_only: c.tray_only,
            view_state: c.view_state,
            no_handoff: c.no_handoff,
        }
    }
}

impl Launch {
    /// Reads the launch from this process's arguments and environment and
    /// removes the hand-over variables from the environment.
    ///
    /// # Safety
    ///
    /// Changes the environment: call it before any thread exists (first
    /// thing in `main`), as `std::env::remove_var` requires.
    pub unsafe fn take_from_env() -> Launch {
        // SAFETY: the caller guarantees no other thread exists.
        Launch::from(unsafe { Carried::take_from_env() })
    }
}

/// Replaces this process with the tray program, carrying `view_state`
/// and this binary's path and arguments. Returns only on failure.
pub fn hand_over_to_tray(view_state: &serde_json::Value) -> std::io::Error {
    let (exe, tray) = match (std::env::current_exe(), handoff::tray_program()) {
        (Ok(exe), Ok(tray)) => (exe, tray),
        (Err(err), _) | (_, Err(err)) => return err,
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let err = handoff::replace(
        &tray,
        &args,
        &[
            (VIEW_STATE_ENV, view_state.to_string()),
            (APP_ENV, exe.to_string_lossy().into_owned()),
        ],
    );
    std::io::Error::new(
        err.kind(),
        format!("starting the tray program {}: {err}", tray.display()),
    )
}

/// A start in the tray (`launch.tray_only`) hands over to the tray program
/// before anything is set up, unless it handed back; returns only when
/// it did not (the app then stays in the tray itself). Linux only, as
/// [`relaunch_tray_only`].
pub fn hand_over_at_start(launch: &Launch) {
    if cfg!(target_os = "linux") && launch.tray_only && !launch.no_handoff {
        let err = hand_over_to_tray(&launch.view_state);
        eprintln!("skiff-desktop: staying in the tray in the app: {err}");
    }
}

/// Ends the WebKit processes this process started, then hands over to the
/// tray program, or (without one, or with `no_handoff`) replaces this
/// process's image with a fresh one of the same binary and arguments in
/// tray-only mode; either carries `view_state`. Returns only on failure
/// (the caller then keeps running as it is).
#[cfg(target_os = "linux")]
pub fn relaunch_tray_only(view_state: &serde_json::Value, no_handoff: bool) -> std::io::Error {
    use std::os::unix::process::CommandExt;

    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return err,
    };
    end_webkit_children();
    if !no_handoff {
        let err = hand_over_to_tray(view_state);
        tracing::warn!("re-executing tray-only instead: {err}");
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(TRAY_ONLY_ENV, "1")
        .env(handoff::NO_HANDOFF_ENV, "1")
        .env(VIEW_STATE_ENV, view_state.to_string())
        .exec()
}

/// Elsewhere the destroyed window is all there is to it.
#[cfg(not(target_os = "linux"))]
pub fn relaunch_tray_only(_view_state: &serde_json::Value, _no_handoff: bool) -> std::io::Error {
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

    #[test]
    fn the_launch_is_what_was_carried() {
        let carried = Carried::parse(vec!["--tray".into()], |k| {
            (k == handoff::NO_HANDOFF_ENV).then(|| "1".to_string())
        });
        let launch = Launch::from(carried);
        assert!(launch.tray_only && launch.no_handoff);
        assert_eq!(launch.view_state, serde_json::Value::Null);
        assert_eq!(Launch::from(Carried::default()), Launch::default());
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
