//! Putting `docker-credential-skiff` where the docker CLI finds it.
//!
//! A sign-in without a user helper names `skiff` in `config.json`
//! (`credHelpers`), and the CLI then runs `docker-credential-skiff` from
//! its `PATH`. Docker Desktop ships its helpers in `~/.docker/bin` and
//! either links them into a system folder or has the user add that folder
//! to `PATH`; Rancher Desktop puts them in `~/.rd/bin` and edits the shell
//! profiles (which has cost users their `.zshrc`). Skiff edits no profile
//! and writes nothing outside the user's home:
//!
//! 1. a `docker-credential-skiff` already on `PATH` (a package installed
//!    it, or an earlier link) is used as is — unless it is a link of ours
//!    (into a folder of the user's) that points at another copy or at
//!    nothing, which is re-pointed at this app's;
//! 2. else a link to the helper built beside the app binary goes into a
//!    `PATH` folder the user owns inside their home: `~/.local/bin` when
//!    it is on `PATH`, else the first such folder in `PATH` order;
//! 3. else the link goes into `~/.local/bin` (created) and the sign-in is
//!    refused with the exact line to add to the shell profile: a
//!    `credHelpers` entry naming a helper the CLI cannot find would break
//!    the CLI's `docker pull`/`push` for that registry.
//!
//! `PATH` is this process's: the app's session, which a terminal usually
//! shares (a terminal-only `PATH` addition is not seen).

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The helper's program name.
pub const HELPER_PROGRAM: &str = "docker-credential-skiff";

/// Where the helper is and where the CLI looks for it.
#[derive(Debug, Clone)]
pub struct CliPath {
    /// The app's helper (beside the app binary).
    helper: PathBuf,
    /// The CLI's `PATH`.
    path: OsString,
    /// The user's home.
    home: Option<PathBuf>,
}

impl CliPath {
    /// The helper beside this process's binary, `PATH` and `HOME` of this
    /// process.
    pub fn from_env() -> CliPath {
        let helper = skiff_desktop_core::handoff::sibling(HELPER_PROGRAM)
            .unwrap_or_else(|_| PathBuf::from(HELPER_PROGRAM));
        CliPath::new(
            helper,
            std::env::var_os("PATH").unwrap_or_default(),
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
        )
    }

    /// The helper at `helper`, a CLI searching `path`, a user at `home`.
    pub fn new(helper: PathBuf, path: OsString, home: Option<PathBuf>) -> CliPath {
        CliPath { helper, path, home }
    }

    /// Makes sure the CLI finds the helper (see the module doc); returns
    /// the path the CLI will run. An error — the helper is missing beside
    /// the app, or no `PATH` folder of the user's exists (the message then
    /// holds the line to add) — means `config.json` must not name it.
    pub fn ensure(&self) -> Result<PathBuf> {
        if !is_executable(&self.helper) {
            return Err(Error::InvalidRequest(format!(
                "the credential helper {HELPER_PROGRAM} is missing beside the app ({}): reinstall Skiff",
                self.helper.display()
            )));
        }
        let dirs: Vec<PathBuf> = std::env::split_paths(&self.path)
            .filter(|d| d.is_absolute())
            .collect();
        if let Some(found) = dirs
            .iter()
            .map(|d| d.join(HELPER_PROGRAM))
            .find(|p| is_executable(p))
        {
            if !self.is_stale_link(&found) {
                return Ok(found);
            }
            return self.link(&found).map(|()| found);
        }
        let local_bin = self.home.as_ref().map(|h| h.join(".local").join("bin"));
        let mut owned = dirs.iter().filter(|d| self.is_users(d));
        let chosen = match &local_bin {
            Some(local) if dirs.contains(local) && self.is_users(local) => Some(local.clone()),
            _ => owned.next().cloned(),
        };
        if let Some(dir) = chosen {
            let target = dir.join(HELPER_PROGRAM);
            self.link(&target)?;
            return Ok(target);
        }
        let Some(local) = local_bin else {
            return Err(Error::InvalidRequest(format!(
                "{HELPER_PROGRAM} is not on your PATH and there is no home folder to put it in (set HOME); nothing was stored"
            )));
        };
        // Ready for when the user adds the line.
        let prepared = std::fs::create_dir_all(&local)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.link(&local.join(HELPER_PROGRAM))
                    .map_err(|e| e.sentence())
            });
        if let Err(err) = prepared {
            tracing::warn!("linking {HELPER_PROGRAM} into {}: {err}", local.display());
        }
        Err(Error::InvalidRequest(not_on_path_message()))
    }

    /// Whether `dir` is a folder inside the home owned by this user (the
    /// app may put a link there).
    fn is_users(&self, dir: &Path) -> bool {
        let Some(home) = &self.home else {
            return false;
        };
        let inside = match (dir.canonicalize(), home.canonicalize()) {
            (Ok(dir), Ok(home)) => dir.starts_with(&home) && dir != home,
            _ => false,
        };
        inside
            && std::fs::metadata(dir).is_ok_and(|m| {
                m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o200 != 0
            })
    }

    /// Whether `found` is a link in a folder of the user's to another
    /// helper than the app's (an older copy of the app, moved since).
    fn is_stale_link(&self, found: &Path) -> bool {
        let is_link = std::fs::symlink_metadata(found).is_ok_and(|m| m.file_type().is_symlink());
        let ours = match (found.canonicalize(), self.helper.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        let named_like_ours = std::fs::read_link(found)
            .is_ok_and(|t| t.file_name() == Some(std::ffi::OsStr::new(HELPER_PROGRAM)));
        is_link && !ours && named_like_ours && found.parent().is_some_and(|d| self.is_users(d))
    }

    /// Points `target` at the app's helper: a new link renamed over it
    /// (atomic); a file there that is not a link is left alone (an error).
    fn link(&self, target: &Path) -> Result<()> {
        let io = |what: &str, e: std::io::Error| {
            Error::InvalidRequest(format!("{what} {}: {e}", target.display()))
        };
        if let Ok(meta) = std::fs::symlink_metadata(target) {
            if !meta.file_type().is_symlink() {
                return Err(Error::InvalidRequest(format!(
                    "{} exists and is not the app's helper: remove it, or make it executable if it is one",
                    target.display()
                )));
            }
        }
        let helper = self
            .helper
            .canonicalize()
            .map_err(|e| io("resolving the helper for", e))?;
        let tmp = target.with_file_name(format!(".{HELPER_PROGRAM}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&helper, &tmp).map_err(|e| io("linking", e))?;
        std::fs::rename(&tmp, target).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("linking", e)
        })?;
        tracing::info!("{} → {}", target.display(), helper.display());
        Ok(())
    }
}

/// The refusal when no `PATH` folder of the user's exists.
pub fn not_on_path_message() -> String {
    format!(
        "the docker CLI could not find {HELPER_PROGRAM} (it is not on your PATH), so this sign-in was not stored. \
         Skiff put it in ~/.local/bin: add this line to ~/.profile (or your shell's startup file), \
         log out and in again, then sign in: export PATH=\"$HOME/.local/bin:$PATH\""
    )
}

/// A file (or a link to one) with an execute bit.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A home with the app's helper in `<home>/app`.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let app = home.join("app");
        std::fs::create_dir_all(&app).expect("app dir");
        let helper = app.join(HELPER_PROGRAM);
        std::fs::write(&helper, "#!/bin/sh\n").expect("helper");
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        (tmp, home, helper)
    }

    fn path_of(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).expect("join")
    }

    #[test]
    fn links_into_local_bin_when_it_is_on_path() {
        let (_tmp, home, helper) = setup();
        let bin = home.join("bin");
        let local = home.join(".local/bin");
        for d in [&bin, &local] {
            std::fs::create_dir_all(d).expect("dir");
        }
        let cli = CliPath::new(
            helper.clone(),
            path_of(&[Path::new("/usr/bin"), &bin, &local]),
            Some(home),
        );
        let placed = cli.ensure().expect("placed");
        assert_eq!(placed, local.join(HELPER_PROGRAM));
        assert_eq!(
            std::fs::read_link(&placed).expect("a link"),
            helper.canonicalize().expect("canonical")
        );
        // Again: found on PATH, left as is.
        assert_eq!(cli.ensure().expect("again"), placed);
    }

    #[test]
    fn else_the_first_folder_of_the_users_on_path() {
        let (_tmp, home, helper) = setup();
        let bin = home.join("bin");
        std::fs::create_dir_all(&bin).expect("dir");
        let outside = tempfile::tempdir().expect("outside home");
        let cli = CliPath::new(
            helper,
            path_of(&[outside.path(), &home.join("missing"), &bin]),
            Some(home),
        );
        assert_eq!(cli.ensure().expect("placed"), bin.join(HELPER_PROGRAM));
        assert!(!outside.path().join(HELPER_PROGRAM).exists());
    }

    #[test]
    fn without_a_folder_of_the_users_on_path_it_refuses_with_the_line() {
        let (_tmp, home, helper) = setup();
        let outside = tempfile::tempdir().expect("outside home");
        let cli = CliPath::new(helper, path_of(&[outside.path()]), Some(home.clone()));
        let err = cli.ensure().expect_err("refused");
        assert_eq!(err.kind(), "invalid_request");
        assert!(
            err.to_string()
                .contains("export PATH=\"$HOME/.local/bin:$PATH\""),
            "{err}"
        );
        // Linked, ready for when the line is added.
        assert!(is_executable(&home.join(".local/bin").join(HELPER_PROGRAM)));
        assert!(!outside.path().join(HELPER_PROGRAM).exists());
        let cli = CliPath::new(cli.helper.clone(), path_of(&[outside.path()]), None);
        assert!(cli.ensure().is_err());
    }

    #[test]
    fn a_helper_on_path_is_used_and_a_stale_link_repointed() {
        let (_tmp, home, helper) = setup();
        let system = tempfile::tempdir().expect("a packaged bin dir");
        let packaged = system.path().join(HELPER_PROGRAM);
        std::fs::copy(&helper, &packaged).expect("copy");
        let cli = CliPath::new(
            helper.clone(),
            path_of(&[system.path()]),
            Some(home.clone()),
        );
        assert_eq!(cli.ensure().expect("found"), packaged);

        // A link of an older copy of the app (moved since: still there).
        let old = home.join("old-app");
        std::fs::create_dir_all(&old).expect("old app");
        std::fs::copy(&helper, old.join(HELPER_PROGRAM)).expect("old helper");
        let bin = home.join(".local/bin");
        std::fs::create_dir_all(&bin).expect("bin");
        std::os::unix::fs::symlink(old.join(HELPER_PROGRAM), bin.join(HELPER_PROGRAM))
            .expect("old link");
        let cli = CliPath::new(helper.clone(), path_of(&[&bin]), Some(home.clone()));
        assert_eq!(cli.ensure().expect("re-pointed"), bin.join(HELPER_PROGRAM));
        assert_eq!(
            bin.join(HELPER_PROGRAM).canonicalize().expect("target"),
            helper.canonicalize().expect("helper")
        );

        // A dangling link (the old copy is gone) is not found: replaced.
        std::fs::remove_file(bin.join(HELPER_PROGRAM)).expect("rm link");
        std::os::unix::fs::symlink(
            home.join("gone").join(HELPER_PROGRAM),
            bin.join(HELPER_PROGRAM),
        )
        .expect("dangling");
        assert_eq!(cli.ensure().expect("replaced"), bin.join(HELPER_PROGRAM));
        assert!(is_executable(&bin.join(HELPER_PROGRAM)));
    }

    #[test]
    fn a_missing_helper_or_a_foreign_file_is_refused() {
        let (_tmp, home, helper) = setup();
        let bin = home.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        // Not executable, not a link: the user's file, left alone.
        std::fs::write(bin.join(HELPER_PROGRAM), "notes").expect("file");
        let cli = CliPath::new(helper.clone(), path_of(&[&bin]), Some(home.clone()));
        let err = cli.ensure().expect_err("refused");
        assert!(err.to_string().contains("is not the app's helper"), "{err}");
        assert_eq!(
            std::fs::read_to_string(bin.join(HELPER_PROGRAM)).expect("kept"),
            "notes"
        );
        let cli = CliPath::new(home.join("nope"), path_of(&[&bin]), Some(home));
        assert!(
            cli.ensure()
                .expect_err("missing")
                .to_string()
                .contains("reinstall")
        );
    }
}
