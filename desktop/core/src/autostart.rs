//! Start at login: the app, in the tray (`--tray`), when the user logs in.
//!
//! - Linux and the BSDs: an XDG autostart entry,
//!   `$XDG_CONFIG_HOME/autostart/skiff-desktop.desktop` (else
//!   `~/.config/autostart`), per the freedesktop autostart spec. Written
//!   here rather than through `auto-launch`, whose Linux half ignores
//!   `XDG_CONFIG_HOME` and panics without a home directory.
//! - macOS (a LaunchAgent) and Windows (the `Run` registry key): the
//!   maintained `auto-launch` crate, which tauri-plugin-autostart wraps too
//!   — used directly, as it needs no Tauri plugin.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// The name the app registers under.
pub const APP_NAME: &str = "Skiff";

/// Whether the app starts at login, and where that is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutostartStatus {
    /// It starts at login.
    pub enabled: bool,
    /// Where the entry is (a file, a LaunchAgent, a registry key).
    pub location: String,
}

/// The start-at-login entry of one program.
#[derive(Debug, Clone)]
pub struct Autostart {
    exe: PathBuf,
    #[cfg(not(any(target_os = "macos", windows)))]
    dir: PathBuf,
}

fn failed(what: &str, path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what} {}: {err}", path.display()))
}

#[cfg(not(any(target_os = "macos", windows)))]
impl Autostart {
    /// The entry of the running program, in the XDG autostart folder.
    pub fn from_env() -> Result<Autostart> {
        let exe = std::env::current_exe()
            .map_err(|err| Error::Internal(format!("the app's own path: {err}")))?;
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".config"))
            })
            .ok_or_else(|| {
                Error::Internal(
                    "start at login needs XDG_CONFIG_HOME or HOME to find the autostart folder"
                        .into(),
                )
            })?;
        Ok(Autostart::at(config.join("autostart"), exe))
    }

    /// The entry for `exe` in autostart folder `dir`.
    pub fn at(dir: PathBuf, exe: PathBuf) -> Autostart {
        Autostart { exe, dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("skiff-desktop.desktop")
    }

    /// Whether the entry exists (and is not `Hidden`, which the spec reads
    /// as removed).
    pub fn status(&self) -> Result<AutostartStatus> {
        let file = self.file();
        let enabled = match std::fs::read_to_string(&file) {
            Ok(text) => !text.lines().any(|l| l.trim() == "Hidden=true"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
            Err(err) => return Err(failed("reading", &file, err)),
        };
        Ok(AutostartStatus {
            enabled,
            location: file.display().to_string(),
        })
    }

    /// Writes (atomically) or removes the entry.
    pub fn set(&self, enabled: bool) -> Result<AutostartStatus> {
        let file = self.file();
        if enabled {
            std::fs::create_dir_all(&self.dir).map_err(|e| failed("creating", &self.dir, e))?;
            skiff_machine::fsutil::write_atomic(&file, self.entry().as_bytes())
                .map_err(|e| failed("writing", &file, e))?;
        } else {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(failed("removing", &file, err)),
            }
        }
        self.status()
    }

    /// The desktop entry: the app in the tray.
    fn entry(&self) -> String {
        format!(
            "[Desktop Entry]\nType=Application\nName={APP_NAME}\nComment=Skiff's container engine in the tray\nExec={} --tray\nIcon=skiff\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
            exec_quote(&self.exe.display().to_string())
        )
    }
}

/// Quotes an `Exec=` argument as the desktop entry spec asks: in double
/// quotes, with `"`, `` ` ``, `$` and `\` escaped by a backslash, and `%`
/// (a field code) doubled.
#[cfg(not(any(target_os = "macos", windows)))]
fn exec_quote(arg: &str) -> String {
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    // A desktop entry's values escape backslashes once more.
    out.replace('\\', "\\\\")
}

#[cfg(any(target_os = "macos", windows))]
impl Autostart {
    /// The entry of the running program.
    pub fn from_env() -> Result<Autostart> {
        let exe = std::env::current_exe()
            .map_err(|err| Error::Internal(format!("the app's own path: {err}")))?;
        Ok(Autostart { exe })
    }

    fn launcher(&self) -> Result<auto_launch::AutoLaunch> {
        auto_launch::AutoLaunchBuilder::new()
            .set_app_name(APP_NAME)
            .set_app_path(&self.exe.display().to_string())
            .set_args(&["--tray"])
            .set_use_launch_agent(true)
            .build()
            .map_err(|err| failed("start at login for", &self.exe, err))
    }

    fn location() -> String {
        if cfg!(windows) {
            format!("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\{APP_NAME}")
        } else {
            format!("~/Library/LaunchAgents/{APP_NAME}.plist")
        }
    }

    /// Whether the entry exists.
    pub fn status(&self) -> Result<AutostartStatus> {
        let enabled = self
            .launcher()?
            .is_enabled()
            .map_err(|err| failed("reading start at login for", &self.exe, err))?;
        Ok(AutostartStatus {
            enabled,
            location: Autostart::location(),
        })
    }

    /// Adds or removes the entry.
    pub fn set(&self, enabled: bool) -> Result<AutostartStatus> {
        let launcher = self.launcher()?;
        let done = if enabled {
            launcher.enable()
        } else {
            launcher.disable()
        };
        done.map_err(|err| failed("changing start at login for", &self.exe, err))?;
        self.status()
    }
}

#[cfg(all(test, not(any(target_os = "macos", windows))))]
mod tests {
    use super::*;

    #[test]
    fn writes_and_removes_the_xdg_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let autostart = Autostart::at(
            dir.path().join("autostart"),
            PathBuf::from("/opt/Skiff App/skiff-desktop"),
        );
        let off = autostart.status().expect("status");
        assert!(!off.enabled);
        assert!(off.location.ends_with("autostart/skiff-desktop.desktop"));
        let on = autostart.set(true).expect("enable");
        assert!(on.enabled);
        let text = std::fs::read_to_string(&on.location).expect("the entry");
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        assert!(
            text.contains("Exec=\"/opt/Skiff App/skiff-desktop\" --tray\n"),
            "{text}"
        );
        assert!(text.contains("Type=Application\n"));
        // Enabling twice is fine; disabling removes the file, twice too.
        autostart.set(true).expect("enable again");
        assert!(!autostart.set(false).expect("disable").enabled);
        assert!(!Path::new(&on.location).exists());
        assert!(!autostart.set(false).expect("disable again").enabled);
        // An entry hidden by the user (the spec's way to remove one) is off.
        std::fs::write(&on.location, "[Desktop Entry]\nHidden=true\n").expect("write");
        assert!(!autostart.status().expect("status").enabled);
    }

    #[test]
    fn exec_arguments_are_quoted_as_the_spec_asks() {
        assert_eq!(exec_quote("/a b/c"), "\"/a b/c\"");
        assert_eq!(exec_quote("/x$y\"z%"), "\"/x\\\\$y\\\\\"z%%\"");
    }
}
