//! Network namespace handles.
//!
//! A [`NetNs`] holds an open file of a network namespace (`/proc/PID/ns/net`,
//! a pinned `/run/…/netns/ID`, or one made by [`NetNs::create`]); the
//! namespace lives at least as long as the handle. Code runs inside one
//! with [`NetNs::run`], on a thread of its own that is thrown away afterwards,
//! so no thread of the caller (a tokio worker above all) ever changes
//! namespace. Sockets keep the namespace they were created in, so a socket
//! made inside `run` (a netlink socket, a listener) can be used from any
//! thread afterwards.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// A namespace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetNsError {
    /// Opening a namespace file.
    #[error("cannot open network namespace {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `setns(2)` into the namespace.
    #[error("cannot enter network namespace")]
    Enter(#[source] nix::Error),
    /// `unshare(CLONE_NEWNET)`.
    #[error("cannot create a network namespace")]
    Create(#[source] nix::Error),
    /// Bind-mounting the namespace onto a file, or unmounting it.
    #[error("cannot pin network namespace at {path}")]
    Pin {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The namespace file's identity.
    #[error("cannot stat network namespace")]
    Stat(#[source] io::Error),
    /// The thread that runs code inside the namespace could not be spawned.
    #[error("cannot spawn a thread for the network namespace")]
    Thread(#[source] io::Error),
}

/// An open network namespace.
#[derive(Debug)]
pub struct NetNs {
    file: OwnedFd,
    path: Option<PathBuf>,
}

const THREAD_SELF_NS: &str = "/proc/thread-self/ns/net";

impl NetNs {
    /// Opens the namespace file at `path` (`/proc/PID/ns/net`, a pinned
    /// namespace). Whether it is a network namespace shows when it is used.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NetNsError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| NetNsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(NetNs {
            file: file.into(),
            path: Some(path.to_path_buf()),
        })
    }

    /// Takes a namespace file descriptor (as from a runtime or `pidfd`).
    pub fn from_fd(fd: OwnedFd) -> Self {
        NetNs {
            file: fd,
            path: None,
        }
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<Self, NetNsError> {
        let mut ns = NetNs::open(THREAD_SELF_NS)?;
        ns.path = None;
        Ok(ns)
    }

    /// A new, empty network namespace (only a `lo`, down), alive while the
    /// handle (or a pin of it) is. Needs CAP_SYS_ADMIN.
    pub fn create() -> Result<Self, NetNsError> {
        run_on_thread(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(NetNsError::Create)?;
            NetNs::current()
        })?
    }

    /// The path it was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The namespace's identity (device and inode of its nsfs file): equal
    /// for two handles of the same namespace.
    pub fn id(&self) -> Result<(u64, u64), NetNsError> {
        let file = File::from(self.file.try_clone().map_err(NetNsError::Stat)?);
        let meta = file.metadata().map_err(NetNsError::Stat)?;
        Ok((meta.dev(), meta.ino()))
    }

    /// Runs `f` inside the namespace, on a thread of its own, and returns its
    /// result. A panic in `f` is resumed in the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetNsError> {
        run_on_thread(|| {
            nix::sched::setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(NetNsError::Enter)?;
            Ok(f())
        })?
    }

    /// Keeps the namespace alive at `path` (an empty file is created there
    /// and the namespace bind-mounted on it), as `ip netns add` does, so it
    /// survives this process. Open it again with [`NetNs::open`].
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<(), NetNsError> {
        let path = path.as_ref();
        let pin_err = |source| NetNsError::Pin {
            path: path.to_path_buf(),
            source,
        };
        File::create(path).map_err(pin_err)?;
        let source = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        nix::mount::mount(
            Some(source.as_str()),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| pin_err(e.into()))
    }

    /// Undoes [`NetNs::pin`]: unmounts and removes `path`. A path that is
    /// already gone is fine.
    pub fn unpin(path: impl AsRef<Path>) -> Result<(), NetNsError> {
        let path = path.as_ref();
        let pin_err = |source| NetNsError::Pin {
            path: path.to_path_buf(),
            source,
        };
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(pin_err(e.into())),
        }
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(pin_err(e)),
        }
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Runs `f` on a fresh thread (whose namespaces it may change) and joins it.
fn run_on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, NetNsError> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("skiff-netns".into())
            .spawn_scoped(s, f)
            .map_err(NetNsError::Thread)?;
        match handle.join() {
            Ok(v) => Ok(v),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_namespace_has_a_stable_identity() {
        let a = NetNs::current().expect("current");
        let b = NetNs::current().expect("current");
        assert_eq!(a.id().expect("id"), b.id().expect("id"));
        assert!(a.path().is_none());
    }

    #[test]
    fn run_returns_the_closures_value_and_resumes_panics() {
        let ns = NetNs::current().expect("current");
        assert_eq!(ns.run(|| 41 + 1).expect("run"), 42);
        let caught = std::panic::catch_unwind(|| ns.run(|| panic!("inside")));
        assert!(caught.is_err());
    }

    #[test]
    fn opening_a_missing_path_names_it() {
        let err = NetNs::open("/nonexistent/netns").expect_err("missing");
        assert_eq!(
            err.to_string(),
            "cannot open network namespace /nonexistent/netns"
        );
    }
}
