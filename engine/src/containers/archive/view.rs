//! A container's filesystem seen from inside: work runs on a thread of its
//! own whose root directory is the container's, so every path — symlinks
//! and `..` included — resolves inside the container, as with dockerd's
//! `openContainerFS` (a private mount namespace and a switch of root on one
//! locked OS thread).
//!
//! - [`Root::Mounted`]: a running container, whose overlay the host has
//!   mounted: writes are seen by the container at once.
//! - [`Root::Overlay`]: a container that is not running: its overlay is
//!   mounted in the thread's private mount namespace — read-only as an
//!   overlay of the writable layer over the image's, which changes nothing,
//!   or read-write for `cp` into the container.
//!
//! With binds (the container's `/etc/hostname`, `/etc/hosts`,
//! `/etc/resolv.conf` and `-v` directories, as dockerd mounts them for
//! `cp`), the thread first gets a private mount namespace (nothing it mounts
//! is seen by the host or the container, and it all goes away with the
//! thread); each bind's target is opened component by component without
//! following symlinks and mounted onto through its descriptor, so a
//! container cannot redirect it. Then the thread `chroot`s.
//!
//! Nothing outside the thread is affected: it unshares its filesystem
//! attributes (`CLONE_FS`) before changing its root, and it ends when the
//! work is done, never returning to a pool.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, open, openat};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::containers::error::ContainerError;

/// Where the thread's root comes from.
#[derive(Debug)]
pub enum Root {
    /// A directory already mounted (a running container's overlay).
    Mounted {
        /// The directory.
        target: PathBuf,
        /// Binds over it.
        binds: Vec<Bind>,
    },
    /// A stopped container's overlay, mounted privately.
    Overlay(Overlay),
}

impl Root {
    /// A directory to `chroot` into, without binds.
    pub fn dir(target: impl Into<PathBuf>) -> Self {
        Root::Mounted {
            target: target.into(),
            binds: Vec::new(),
        }
    }
}

/// The overlay of a stopped container.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// The mount point (the container's `rootfs` directory).
    pub target: PathBuf,
    /// The image's layer directories, top first.
    pub lower: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// Overlay's work directory next to it.
    pub work: PathBuf,
    /// Mount read-write (for extraction); read-only otherwise.
    pub writable: bool,
    /// Host files or directories bound over existing container paths.
    pub binds: Vec<Bind>,
}

/// A bind mount into the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The host path.
    pub source: PathBuf,
    /// The absolute container path; skipped unless it exists as the same
    /// kind (file or directory) with no symlink on the way.
    pub dest: String,
    /// Read-only.
    pub readonly: bool,
}

/// A failed system call, in the context of `what`.
fn sys(what: &str, source: nix::Error) -> ContainerError {
    ContainerError::Sys {
        context: what.to_owned(),
        source,
    }
}

/// Runs `f` on a new thread once its root is the container's; `f` gets
/// whether that worked. Returns when the thread is started.
pub fn spawn<F>(root: Root, f: F) -> Result<(), ContainerError>
where
    F: FnOnce(Result<(), ContainerError>) + Send + 'static,
{
    std::thread::Builder::new()
        .name("skiff-ctr-fs".into())
        .spawn(move || f(enter(root)))
        .map(drop)
        .map_err(|e| ContainerError::io("starting a container filesystem thread", e))
}

/// Runs `f` in the container's filesystem and returns its result.
pub async fn run<T, F>(root: Root, f: F) -> Result<T, ContainerError>
where
    F: FnOnce() -> Result<T, ContainerError> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn(root, move |entered| {
        let _ = tx.send(entered.and_then(|()| f()));
    })?;
    rx.await
        .map_err(|_| ContainerError::Runtime("the container filesystem thread died".into()))?
}

/// Makes every mount of the calling thread's mount namespace private
/// (`mount --make-rprivate /`), so nothing mounted from then on propagates
/// anywhere. Call it right after `unshare(CLONE_NEWNS)`: on the host's own
/// namespace it would change the host.
pub(crate) fn make_mounts_private() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// Makes this thread's root the container's (see the module docs).
fn enter(root: Root) -> Result<(), ContainerError> {
    let (target, binds, overlay) = match root {
        Root::Mounted { target, binds } => (target, binds, None),
        Root::Overlay(o) => (o.target.clone(), o.binds.clone(), Some(o)),
    };
    if overlay.is_none() && binds.is_empty() {
        unshare(CloneFlags::CLONE_FS).map_err(|e| sys("unshare", e))?;
    } else {
        unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS).map_err(|e| sys("unshare", e))?;
        make_mounts_private().map_err(|e| sys("making the mount namespace private", e))?;
        if let Some(o) = &overlay {
            mount_overlay(o)?;
        }
        for b in &binds {
            bind(&target, b)?;
        }
    }
    nix::unistd::chroot(&target).map_err(|e| sys(&format!("chroot {}", target.display()), e))?;
    nix::unistd::chdir("/").map_err(|e| sys("chdir /", e))
}

fn mount_overlay(o: &Overlay) -> Result<(), ContainerError> {
    for d in [&o.target, &o.upper, &o.work] {
        std::fs::create_dir_all(d)
            .map_err(|e| ContainerError::io(format!("creating {}", d.display()), e))?;
    }
    let join = |dirs: &[&PathBuf]| {
        dirs.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let what = format!("mounting the root filesystem at {}", o.target.display());
    if o.writable {
        // A volatile mount of a run that crashed leaves this behind, and
        // overlayfs refuses to mount the work directory again while it exists.
        let _ = std::fs::remove_dir_all(o.work.join("work/incompat/volatile"));
        if o.lower.is_empty() {
            return Err(ContainerError::Runtime(format!(
                "{what}: the image has no layers"
            )));
        }
        let lower: Vec<&PathBuf> = o.lower.iter().collect();
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            join(&lower),
            o.upper.display(),
            o.work.display()
        );
        return mount(
            Some("overlay"),
            &o.target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| sys(&what, e));
    }
    // Read-only: the writable layer is just the top lower layer, so the
    // mount cannot change it (and takes no lock on it).
    let layers: Vec<&PathBuf> = std::iter::once(&o.upper).chain(&o.lower).collect();
    if layers.len() == 1 {
        mount(
            Some(&o.upper),
            &o.target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| sys(&what, e))?;
        return mount(
            None::<&str>,
            &o.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| sys(&what, e));
    }
    let data = format!("lowerdir={}", join(&layers));
    mount(
        Some("overlay"),
        &o.target,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(data.as_str()),
    )
    .map_err(|e| sys(&what, e))
}

/// Opens `rel` under `root` without following any symlink (`O_PATH`), so a
/// mount onto the descriptor lands exactly there.
pub fn open_beneath(root: &Path, rel: &str) -> std::io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut fd = open(root, flags | OFlag::O_DIRECTORY, Mode::empty())?;
    for c in Path::new(rel).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => fd = openat(&fd, name, flags, Mode::empty())?,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{rel}: '..' is not allowed"),
                ));
            }
        }
        // A symlink opened with O_PATH|O_NOFOLLOW is the link itself.
        if SFlag::from_bits_truncate(fstat(&fd)?.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{rel}: goes through a symlink"),
            ));
        }
    }
    Ok(fd)
}

/// Like [`open_beneath`], creating the missing directories (mode 0755) on
/// the way, never through a symlink.
fn make_dirs_beneath(root: &Path, rel: &str) -> std::io::Result<OwnedFd> {
    let mut at = PathBuf::from("/");
    for c in Path::new(rel).components() {
        let Component::Normal(name) = c else {
            continue;
        };
        at.push(name);
        let rel_now = at.to_string_lossy();
        match open_beneath(root, &rel_now) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = open_beneath(
                    root,
                    &at.parent().unwrap_or(Path::new("/")).to_string_lossy(),
                )?;
                nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o755))?;
            }
            Err(e) => return Err(e),
        }
    }
    open_beneath(root, rel)
}

fn bind(root: &Path, b: &Bind) -> Result<(), ContainerError> {
    let Ok(src_meta) = std::fs::metadata(&b.source) else {
        return Ok(());
    };
    let opened = match open_beneath(root, &b.dest) {
        // A directory mount point the container never created (it has not
        // run yet) is made, as dockerd's `mountVolumes` makes it — where
        // the root is writable.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && src_meta.is_dir() => {
            make_dirs_beneath(root, &b.dest)
        }
        other => other,
    };
    let Ok(fd) = opened else {
        return Ok(()); // missing, or behind a symlink: not bound
    };
    let Ok(st) = fstat(&fd) else {
        return Ok(());
    };
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    if is_dir != src_meta.is_dir() {
        return Ok(());
    }
    // The descriptor pins the target: nothing can swap it for a symlink.
    let target = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    let what = format!("binding {} at {}", b.source.display(), b.dest);
    mount(
        Some(&b.source),
        target.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys(&what, e))?;
    if b.readonly {
        mount(
            None::<&str>,
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| sys(&what, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_beneath_never_follows_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(root.join("etc/hostname"), "x").expect("write");
        std::os::unix::fs::symlink("/etc", root.join("link")).expect("symlink");
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/pw")).expect("symlink");
        assert!(open_beneath(root, "/etc/hostname").is_ok());
        assert!(open_beneath(root, "/link/hostname").is_err());
        assert!(open_beneath(root, "/etc/pw").is_err());
        assert!(open_beneath(root, "/etc/../etc/hostname").is_err());
        assert!(open_beneath(root, "/missing").is_err());
    }

    #[tokio::test]
    async fn a_chrooted_thread_sees_only_its_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/hostname"), "inside\n").expect("write");
        std::os::unix::fs::symlink("/", dir.path().join("escape")).expect("symlink");
        let seen = run(Root::dir(dir.path()), || {
            let direct = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let through = std::fs::read_to_string("/escape/../../etc/hostname").unwrap_or_default();
            Ok((direct, through))
        })
        .await
        .expect("run");
        assert_eq!(seen, ("inside\n".to_owned(), "inside\n".to_owned()));
        // The test process itself keeps its root.
        assert!(Path::new("/proc/self").exists());
    }
}
