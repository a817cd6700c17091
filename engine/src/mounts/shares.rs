//! Binds when skiffd runs in Skiff's VM (`--vm`): the docker CLI on the
//! host sends the *host's* paths (`-v "$PWD":/src`), and only the host
//! folders shared into the VM (virtiofs, at the same absolute path; see
//! docs/vm.md) hold the user's files there. A bind source outside every
//! shared folder that does not exist in the VM would otherwise be created
//! as an empty directory of the VM — the user's data would go where they
//! cannot see it — so it is refused, naming the path and the shared
//! folders. A source that exists in the VM (`/proc`, `/var/run/docker.sock`,
//! a path of the VM's own) is bound as on any Linux host.

use std::path::{Path, PathBuf};

use super::error::MountError;
use super::{FileInfo, clean_path};

/// The host folders shared into the VM, as the guest sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostShares {
    folders: Vec<PathBuf>,
}

impl HostShares {
    /// The shares mounted at `folders` (guest paths; `--host-share`).
    pub fn new(folders: Vec<PathBuf>) -> Self {
        Self { folders }
    }

    /// The shared folders.
    pub fn folders(&self) -> &[PathBuf] {
        &self.folders
    }

    /// Whether `source` (absolute) lies in a shared folder, `..` resolved
    /// lexically.
    pub fn shares(&self, source: &str) -> bool {
        let clean = clean_path(source);
        self.folders
            .iter()
            .any(|f| Path::new(&clean).starts_with(f))
    }

    /// Ok when a bind of `source` reaches what the user means: inside a
    /// shared folder, or a path that exists in the VM. Otherwise
    /// [`MountError::NotShared`].
    pub fn check(&self, source: &str, fs: &dyn FileInfo) -> Result<(), MountError> {
        if self.shares(source) || fs.exists(source).unwrap_or(true) {
            return Ok(());
        }
        let shared = if self.folders.is_empty() {
            "none".to_owned()
        } else {
            self.folders
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(MountError::NotShared {
            path: source.to_owned(),
            shared,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fs(&'static [&'static str]);
    impl FileInfo for Fs {
        fn exists(&self, path: &str) -> std::io::Result<bool> {
            Ok(self.0.contains(&path))
        }
    }

    #[test]
    fn sources_in_a_share_or_in_the_vm_pass_the_others_are_refused() {
        let shares = HostShares::new(vec!["/home/me".into(), "/Volumes/data".into()]);
        let vm = Fs(&["/proc", "/var/run/docker.sock"]);
        for ok in [
            "/home/me",
            "/home/me/src/app",
            "/home/me/new/dir",
            "/Volumes/data/x",
            "/proc",
            "/var/run/docker.sock",
        ] {
            assert!(shares.check(ok, &vm).is_ok(), "{ok}");
        }
        for refused in ["/home/meow", "/home/me/../other", "/srv/x", "/Users/me"] {
            let err = shares.check(refused, &vm).expect_err(refused);
            assert_eq!(
                err.to_string(),
                format!(
                    "bind source path {refused} is not shared with the Skiff VM \
                     (shared folders: /home/me, /Volumes/data): a folder of the host \
                     is seen in the VM only when shared (skiff machine create --mount HOST_PATH)"
                )
            );
            assert_eq!(err.kind(), crate::errdefs::ErrorKind::InvalidArgument);
        }
        let none = HostShares::default();
        let err = none.check("/home/me/x", &vm).expect_err("no shares");
        assert!(err.to_string().contains("(shared folders: none)"), "{err}");
    }
}
