//! Harness for the desktop app's end-to-end test: a private X server
//! (Xvfb) with a system tray (trayer), `tauri-driver` in front of
//! WebKitGTK's `WebKitWebDriver`, and a WebDriver session that launches
//! the real `skiff-desktop` binary.
//!
//! - [`Display`]: `Xvfb :N` on the first free display from 90, killed on
//!   drop; [`Display::start_tray`] runs `trayer` on it.
//! - [`Driver`]: `tauri-driver` on free ports with the app's environment
//!   (the display, the engine endpoint); [`Driver::session`] opens a
//!   [`fantoccini::Client`] whose window is the app.
//! - [`screenshot_window`], [`screenshot_root`]: the app's window or the
//!   whole screen, with ImageMagick's `import`.
//! - [`throttle::Throttle`]: a TCP proxy that can slow a pull down.
//! - [`procs`]: the app's processes (WebKit's under the app) and their
//!   memory, from `/proc`.
//!
//! - [`preflight`]: every program the test needs, or one error naming
//!   what is missing and how to install it (the test fails, never skips).
//!
//! Environment: `SKIFF_DESKTOP_BIN` (default `<target>/debug/skiff-desktop`),
//! `TAURI_DRIVER` (default `$CARGO_HOME/bin` or `~/.cargo/bin`, then `PATH`),
//! `WEBKIT_WEBDRIVER` (default `WebKitWebDriver` on `PATH`),
//! `SKIFF_SCREENSHOTS_DIR` (default `<target>/desktop-screenshots`).

pub mod procs;
pub mod throttle;

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use skiff_e2e::util;

/// What can go wrong setting up the desktop test.
#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    /// A program could not be started.
    #[error("starting {program}: {source} ({hint})")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
        /// How to install it.
        hint: &'static str,
    },
    /// A program started but did not become ready.
    #[error("{program} did not become ready: {problem}\n{log}")]
    NotReady {
        /// The program.
        program: String,
        /// What was seen.
        problem: String,
        /// The tail of its log.
        log: String,
    },
    /// Programs the test needs are not installed.
    #[error("the desktop end-to-end test needs programs that are missing:\n{0}")]
    Missing(String),
    /// The app binary has not been built.
    #[error(
        "{0} is missing: build it first (cd ui && npm ci && npm run build; cargo build -p skiff-desktop -p skiff-tray)"
    )]
    NoApp(String),
    /// No free X display between 90 and 189.
    #[error("no free X display between :90 and :189")]
    NoDisplay,
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The WebDriver session could not be created.
    #[error("creating the WebDriver session for {app}: {source}")]
    Session {
        /// The app binary.
        app: String,
        /// Why.
        source: fantoccini::error::NewSessionError,
    },
    /// A screenshot failed.
    #[error("screenshot {path}: {problem}")]
    Screenshot {
        /// Where it was to go.
        path: String,
        /// Why.
        problem: String,
    },
}

/// What the harness functions return.
pub type Result<T, E = DesktopError> = std::result::Result<T, E>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DesktopError {
    let what = what.into();
    move |source| DesktopError::Io { what, source }
}

/// The app binary: `$SKIFF_DESKTOP_BIN`, else `<target>/debug/skiff-desktop`.
pub fn app_binary() -> PathBuf {
    match std::env::var_os("SKIFF_DESKTOP_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => util::target_dir().join("debug/skiff-desktop"),
    }
}

/// `tauri-driver`: `$TAURI_DRIVER`, `$CARGO_HOME/bin/tauri-driver`,
/// `~/.cargo/bin/tauri-driver`, `PATH` (where
/// `scripts/install-tauri-driver.sh` puts it).
pub fn tauri_driver_bin() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    let candidates = [
        format!("{cargo_home}/bin/tauri-driver"),
        format!("{home}/.cargo/bin/tauri-driver"),
    ];
    let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
    util::find_program("TAURI_DRIVER", &candidates, "tauri-driver")
        .unwrap_or_else(|| PathBuf::from("tauri-driver"))
}

/// `WebKitWebDriver`: `$WEBKIT_WEBDRIVER`, `/usr/bin/WebKitWebDriver`,
/// `PATH`.
pub fn webkit_driver_bin() -> PathBuf {
    util::find_program(
        "WEBKIT_WEBDRIVER",
        &["/usr/bin/WebKitWebDriver"],
        "WebKitWebDriver",
    )
    .unwrap_or_else(|| PathBuf::from("WebKitWebDriver"))
}

/// The programs the test runs, each with how to install it.
fn required_programs() -> Vec<(PathBuf, &'static str)> {
    let apt = |name: &str| on_path(name).unwrap_or_else(|| PathBuf::from(name));
    vec![
        (
            tauri_driver_bin(),
            "scripts/install-tauri-driver.sh (cargo install tauri-driver --locked)",
        ),
        (
            webkit_driver_bin(),
            "apt-get install webkit2gtk-driver (scripts/deps/desktop.apt)",
        ),
        (
            apt("Xvfb"),
            "apt-get install xvfb (scripts/deps/desktop.apt)",
        ),
        (
            apt("trayer"),
            "apt-get install trayer (scripts/deps/desktop.apt)",
        ),
        (
            apt("xwininfo"),
            "apt-get install x11-utils (scripts/deps/desktop.apt)",
        ),
        (
            apt("xdotool"),
            "apt-get install xdotool (scripts/deps/desktop.apt)",
        ),
        (
            apt("import"),
            "apt-get install imagemagick (scripts/deps/desktop.apt)",
        ),
        (
            apt("convert"),
            "apt-get install imagemagick (scripts/deps/desktop.apt)",
        ),
    ]
}

/// `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Checks that the app is built and every program the test runs is
/// installed; the error lists all that is missing.
pub fn preflight(app: &Path) -> Result<()> {
    if !app.is_file() {
        return Err(DesktopError::NoApp(app.display().to_string()));
    }
    let missing: Vec<String> = required_programs()
        .into_iter()
        .filter(|(path, _)| !path.is_file())
        .map(|(path, hint)| format!("  {}: install with {hint}", path.display()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DesktopError::Missing(missing.join("\n")))
    }
}

/// Where screenshots go: `$SKIFF_SCREENSHOTS_DIR`, else
/// `<target>/desktop-screenshots`.
pub fn screenshots_dir() -> PathBuf {
    match std::env::var_os("SKIFF_SCREENSHOTS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => util::target_dir().join("desktop-screenshots"),
    }
}

/// Kills and reaps a child (best effort: used in `Drop`).
fn kill(child: &mut Child) {
    let _ = util::stop_child(child, Duration::from_secs(3));
}

/// A private X server.
#[derive(Debug)]
pub struct Display {
    number: u32,
    child: Child,
    tray: Option<Child>,
}

impl Display {
    /// Starts `Xvfb` (`width`×`height`, 24 bit) on the first free display
    /// from `:90` and waits for its socket.
    pub fn start(width: u32, height: u32) -> Result<Display> {
        for number in 90..190 {
            let lock = PathBuf::from(format!("/tmp/.X{number}-lock"));
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            if lock.exists() || socket.exists() {
                continue;
            }
            let mut child = Command::new("Xvfb")
                .arg(format!(":{number}"))
                .args(["-screen", "0", &format!("{width}x{height}x24")])
                .args(["-nolisten", "tcp", "-noreset"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|source| DesktopError::Spawn {
                    program: "Xvfb".into(),
                    source,
                    hint: "apt-get install xvfb",
                })?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                // Ours once the lock file holds our pid (another Xvfb that
                // won the race for this number would hold its own).
                if socket.exists() && lock_pid(&lock) == Some(child.id()) {
                    let display = Display {
                        number,
                        child,
                        tray: None,
                    };
                    display.paint_background(width, height);
                    return Ok(display);
                }
                // Lost a race for this display: try the next one.
                if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    kill(&mut child);
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        Err(DesktopError::NoDisplay)
    }

    /// The X server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A soft grey gradient on the root window (best effort: Xvfb's is
    /// black), so screenshots of the screen look like a desktop.
    fn paint_background(&self, width: u32, height: u32) {
        let _ = Command::new("display")
            .args(["-window", "root", "-size", &format!("{width}x{height}")])
            .arg("gradient:#e2e8f0-#94a3b8")
            .env("DISPLAY", self.name())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// `:N`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// Runs `trayer` (an XEmbed system tray) at the top right of the
    /// screen, so the app's tray icon has somewhere to show.
    pub fn start_tray(&mut self) -> Result<()> {
        let child = Command::new("trayer")
            .args([
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
            ])
            .args(["--height", "30", "--iconspacing", "6", "--padding", "6"])
            .args([
                "--transparent",
                "true",
                "--alpha",
                "0",
                "--tint",
                "0x1e293b",
            ])
            .args(["--SetDockType", "true", "--expand", "false"])
            .env("DISPLAY", self.name())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| DesktopError::Spawn {
                program: "trayer".into(),
                source,
                hint: "apt-get install trayer",
            })?;
        self.tray = Some(child);
        thread::sleep(Duration::from_millis(300));
        Ok(())
    }
}

/// The pid in an X lock file (`/tmp/.XN-lock`: the pid, space-padded).
fn lock_pid(lock: &Path) -> Option<u32> {
    fs::read_to_string(lock).ok()?.trim().parse().ok()
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(tray) = self.tray.as_mut() {
            kill(tray);
        }
        kill(&mut self.child);
    }
}

/// `tauri-driver` (and, through it, `WebKitWebDriver`).
#[derive(Debug)]
pub struct Driver {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Driver {
    /// Starts `tauri-driver` on free ports with `DISPLAY` and `env` (which
    /// the app, its grandchild, inherits); its log goes to `log`. The app's
    /// XDG config/data/cache dirs go under `state` (WebKit's storage is
    /// then private to this run), and the driver, WebKitWebDriver, the app
    /// and WebKit's processes share a process group that is killed on
    /// drop.
    pub fn start(
        display: &Display,
        env: &[(&str, String)],
        state: &Path,
        log: &Path,
    ) -> Result<Driver> {
        let bin = tauri_driver_bin();
        let port = util::free_port().map_err(io("finding a free port"))?;
        let native_port = util::free_port().map_err(io("finding a free port"))?;
        let out = File::create(log).map_err(io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("duplicating {}", log.display())))?;
        let mut cmd = Command::new(&bin);
        cmd.args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .arg("--native-driver")
            .arg(webkit_driver_bin())
            .env("DISPLAY", display.name())
            .env("XDG_CONFIG_HOME", state.join("config"))
            .env("XDG_DATA_HOME", state.join("data"))
            .env("XDG_CACHE_HOME", state.join("cache"))
            // No session bus: the tray is then an XEmbed icon in trayer,
            // and nothing reaches a desktop session of the host.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            // Software rendering: Xvfb has no GPU.
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env("GDK_BACKEND", "x11")
            .env("NO_AT_BRIDGE", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let child = cmd.spawn().map_err(|source| DesktopError::Spawn {
            program: bin.display().to_string(),
            source,
            hint: "scripts/install-tauri-driver.sh",
        })?;
        let mut driver = Driver {
            port,
            child,
            log: log.to_path_buf(),
        };
        driver.wait_ready()?;
        Ok(driver)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = format!("127.0.0.1:{}", self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_ready(format!("exited ({status})")));
            }
            // tauri-driver forwards /status to WebKitWebDriver: both are up.
            if util::http_get(&addr, "/status", &[]).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.not_ready(format!("no answer on {addr}/status")));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn not_ready(&self, problem: String) -> DesktopError {
        DesktopError::NotReady {
            program: "tauri-driver".into(),
            problem,
            log: util::tail(&self.log, 40),
        }
    }

    /// The pid of `tauri-driver`: the app (`skiff-desktop`) runs below it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The WebDriver URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The driver's log so far (WebKitWebDriver's and the app's stderr).
    pub fn log(&self) -> String {
        util::tail(&self.log, 200)
    }

    /// Launches `app` and returns the session driving its window.
    pub async fn session(&self, app: &Path) -> Result<Client> {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app }),
        );
        // WebKitWebDriver sometimes drops the first session request right
        // after it starts listening: try a few times.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&self.url())
                .await;
            match result {
                Ok(client) => return Ok(client),
                Err(source) if attempt >= 3 => {
                    return Err(DesktopError::Session {
                        app: app.display().to_string(),
                        source,
                    });
                }
                Err(err) => {
                    eprintln!("skiff-desktop-e2e: session attempt {attempt} failed: {err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The app and WebKit's processes are grandchildren: stop the whole
        // group (TERM, then KILL what is left), then reap the driver.
        let group = i32::try_from(self.child.id()).map(Pid::from_raw);
        if let Ok(group) = group {
            let _ = killpg(group, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while killpg(group, None).is_ok() && Instant::now() < deadline {
                let _ = self.child.try_wait();
                thread::sleep(Duration::from_millis(50));
            }
            let _ = killpg(group, Signal::SIGKILL);
        }
        kill(&mut self.child);
        if thread::panicking() {
            util::print_tail("tauri-driver (and the app)", &self.log, 60);
        }
    }
}

/// Saves the whole screen of `display` as a PNG at `path`.
pub fn screenshot_root(display: &Display, path: &Path) -> Result<()> {
    import_root(display, &[], path)
}

/// ImageMagick's `import -window root [crop…] path` on `display`.
fn import_root(display: &Display, crop: &[&str], path: &Path) -> Result<()> {
    let out = Command::new("import")
        .args(["-window", "root"])
        .args(crop)
        .arg(path)
        .env("DISPLAY", display.name())
        .output()
        .map_err(|source| DesktopError::Spawn {
            program: "import".into(),
            source,
            hint: "apt-get install imagemagick",
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DesktopError::Screenshot {
            path: path.display().to_string(),
            problem: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Saves the window titled `title` on `display` (cropped from the screen,
/// so what X shows is what is saved) as a PNG at `path`.
pub fn screenshot_window(display: &Display, title: &str, path: &Path) -> Result<()> {
    let problem = |problem: String| DesktopError::Screenshot {
        path: path.display().to_string(),
        problem,
    };
    let info = x_command(display, "xwininfo", &["-name", title])
        .ok_or_else(|| problem(format!("no window named {title:?} (xwininfo)")))?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let (Some(x), Some(y), Some(w), Some(h)) = (
        field("Absolute upper-left X:"),
        field("Absolute upper-left Y:"),
        field("Width:"),
        field("Height:"),
    ) else {
        return Err(problem(format!("no geometry in:\n{info}")));
    };
    import_root(
        display,
        &["-crop", &format!("{w}x{h}+{x}+{y}"), "+repage"],
        path,
    )
}

/// Writes PNG bytes (a WebDriver screenshot) to `dir/name`.
pub fn save_png(dir: &Path, name: &str, png: &[u8]) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let path = dir.join(name);
    fs::write(&path, png).map_err(io(format!("writing {}", path.display())))?;
    Ok(path)
}

/// Runs `program args…` on `display` and returns its stdout (for
/// `xdotool`/`xwininfo`); `None` when it fails.
pub fn x_command(display: &Display, program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env("DISPLAY", display.name())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_pid_reads_the_padded_pid() {
        let lock =
            std::env::temp_dir().join(format!("skiff-desktop-e2e-{}.lock", std::process::id()));
        fs::write(&lock, "      4242\n").expect("writing the lock");
        let pid = lock_pid(&lock);
        let _ = fs::remove_file(&lock);
        assert_eq!(pid, Some(4242));
        assert_eq!(lock_pid(&lock), None);
    }

    #[test]
    fn preflight_names_a_missing_app() {
        let err = preflight(Path::new("/nonexistent/skiff-desktop")).expect_err("no app");
        let message = err.to_string();
        assert!(
            message.contains("/nonexistent/skiff-desktop is missing"),
            "{message}"
        );
        assert!(
            message.contains("cargo build -p skiff-desktop"),
            "{message}"
        );
    }
}
