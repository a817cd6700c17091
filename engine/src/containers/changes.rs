//! `docker diff`: what a container changed in its root filesystem, as
//! dockerd 20.10 (overlay2) reports it. dockerd compares the container's
//! merged tree with its image's (plus its init layer: the mount points
//! `/proc`, `/sys`, `/dev`, `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`, `/.dockerenv`); only what the writable layer holds
//! can differ, so this walks the writable layer and looks each entry up in
//! the merged image layers:
//!
//! - an entry the image does not have is added (`A`), and so is all under it;
//! - one it has is modified (`C`) when mode, owner, device number or file
//!   capabilities differ, or, for a non-directory, size or mtime (a
//!   directory's size and mtime are not a change, as in dockerd);
//! - a whiteout (character device 0/0) deletes (`D`) what the image had
//!   there; an opaque directory deletes every image entry it does not hold;
//! - a directory with changes under it and none of its own is reported as
//!   modified, just before them.
//!
//! Within a directory, entries come in name order, then the deletions (dockerd
//! walks maps: same entries and nesting, its order varies from call to call).
//! Mount points the runtime created in the writable layer stand for dockerd's
//! init layer and are never reported.
//!
//! The container may change its writable layer during the walk — swap a
//! directory for a symlink to `/` (CVE-2018-15664) — so the walk never
//! follows a path it listed: each directory is opened with `O_NOFOLLOW` and
//! read through its descriptor (`/proc/self/fd/N`), and entries are
//! `lstat`ed and their xattrs read inside that exact directory. A directory
//! that became a symlink is skipped; nothing outside the layer is listed.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::ContainerService;
use super::error::ContainerError;

/// How a path changed (docker's `Kind`: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`: modified.
    Modified = 0,
    /// `A`: added.
    Added = 1,
    /// `D`: deleted.
    Deleted = 2,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path in the container.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// Files dockerd's init layer holds (mount points of the container's
/// `/etc` files): never reported when the runtime created them.
const INIT_FILES: [&str; 4] = [
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/.dockerenv",
];

/// Directories dockerd's init layer holds: unchanged in themselves when the
/// image lacks them and the runtime created them.
const INIT_DIRS: [&str; 4] = ["/etc", "/dev", "/proc", "/sys"];

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const CAPABILITY_XATTR: &str = "security.capability";

impl ContainerService {
    /// `GET /containers/{id}/changes`: the container's changes to its
    /// image's filesystem (running or not).
    pub async fn changes(&self, what: &str) -> Result<Vec<Change>, ContainerError> {
        let record = self.resolve(what)?;
        let upper = self.store.dir(&record.id).join("rw/upper");
        let lower = self.image_lower_dirs(&record)?;
        let id = record.id.clone();
        tokio::task::spawn_blocking(move || diff(&upper, &lower))
            .await?
            .map_err(|e| ContainerError::io(format!("changes of container {id}"), e))
    }
}

/// The changes of writable layer `upper` over the overlay of `lower`
/// (top layer first). A missing `upper` (never started) has none.
pub fn diff(upper: &Path, lower: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    let Some(dir) = open_dir_nofollow(upper)? else {
        return Ok(out);
    };
    let root = OldDir {
        layers: lower.to_vec(),
    };
    walk(&fd_path(&dir), "", &root, opaque(upper)?, &mut out)?;
    Ok(out)
}

/// Directory `path` opened without following a symlink in its last
/// component; `None` if it is gone or is no longer a directory (a
/// container swapped it for a symlink).
pub(super) fn open_dir_nofollow(path: &Path) -> io::Result<Option<File>> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match opened {
        Ok(f) => Ok(Some(f)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The path of an open file's descriptor (`/proc/self/fd/N`): resolving it
/// leads to exactly that file, whatever was renamed since; names joined to
/// it are looked up in that directory.
pub(super) fn fd_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Directory `rel` (slash-separated, relative) under directory `root`,
/// opened component by component without following any symlink; `None` if
/// a component is gone or is not a directory.
pub(super) fn open_dir_beneath(root: &Path, rel: &str) -> io::Result<Option<File>> {
    let Some(mut dir) = open_dir_nofollow(root)? else {
        return Ok(None);
    };
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Ok(None);
        }
        match open_dir_nofollow(&fd_path(&dir).join(part))? {
            Some(next) => dir = next,
            None => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// One directory of the image's merged tree: the directories of the layers
/// it merges, top first (none: the image has no such directory).
#[derive(Debug, Default)]
struct OldDir {
    layers: Vec<PathBuf>,
}

impl OldDir {
    /// The merged entry `name`: where it is, its metadata and, for a
    /// directory, its own merged directory.
    fn lookup(&self, name: &OsString) -> io::Result<Option<OldEntry>> {
        for (i, dir) in self.layers.iter().enumerate() {
            let path = dir.join(name);
            let Some(md) = lstat(&path)? else {
                continue;
            };
            if is_whiteout(&md) {
                return Ok(None);
            }
            let mut layers = Vec::new();
            if md.is_dir() {
                layers.push(path.clone());
                if !opaque(&path)? {
                    for below in &self.layers[i + 1..] {
                        let p = below.join(name);
                        match lstat(&p)? {
                            None => continue,
                            Some(m) if m.is_dir() => {
                                let stop = opaque(&p)?;
                                layers.push(p);
                                if stop {
                                    break;
                                }
                            }
                            Some(_) => break,
                        }
                    }
                }
            }
            return Ok(Some(OldEntry {
                found: Some((path, md)),
                dir: OldDir { layers },
            }));
        }
        Ok(None)
    }

    /// The names in this merged directory.
    fn names(&self) -> io::Result<BTreeSet<OsString>> {
        let mut candidates = BTreeSet::new();
        for dir in &self.layers {
            candidates.extend(read_names(dir)?);
        }
        let mut names = BTreeSet::new();
        for name in candidates {
            if self.lookup(&name)?.is_some() {
                names.insert(name);
            }
        }
        Ok(names)
    }
}

/// An entry of the image's merged tree.
#[derive(Debug)]
struct OldEntry {
    /// Its path in the layer that provides it and its metadata (`None`: an
    /// init-layer directory the runtime created, taken as unchanged).
    found: Option<(PathBuf, Metadata)>,
    /// Its merged directory (empty for a non-directory).
    dir: OldDir,
}

/// Walk writable-layer directory `dir` (container path `rel`, "" for the
/// root) against the image's `old` directory.
fn walk(
    dir: &Path,
    rel: &str,
    old: &OldDir,
    is_opaque: bool,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let names = read_names(dir)?;
    let mut deleted = BTreeSet::new();
    let mut present = BTreeSet::new();
    for name in names {
        let path = format!("{rel}/{}", String::from_utf8_lossy(name.as_bytes()));
        let abs = dir.join(&name);
        // The container may remove what we just listed.
        let Some(md) = lstat(&abs)? else {
            continue;
        };
        if is_whiteout(&md) {
            if !is_opaque && old.lookup(&name)?.is_some() {
                deleted.insert(path);
            }
            continue;
        }
        present.insert(name.clone());
        if INIT_FILES.contains(&path.as_str()) {
            continue;
        }
        let found = match old.lookup(&name)? {
            None if md.is_dir() && INIT_DIRS.contains(&path.as_str()) => Some(OldEntry {
                found: None,
                dir: OldDir::default(),
            }),
            other => other,
        };
        let Some(entry) = found else {
            out.push(Change {
                path: path.clone(),
                kind: ChangeKind::Added,
            });
            if md.is_dir() {
                if let Some(sub) = open_dir_nofollow(&abs)? {
                    added(&fd_path(&sub), &path, out)?;
                }
            }
            continue;
        };
        let start = out.len();
        let modified = match &entry.found {
            Some((old_path, m)) => differs(m, &md) || capability(&abs)? != capability(old_path)?,
            None => false,
        };
        if modified {
            out.push(Change {
                path: path.clone(),
                kind: ChangeKind::Modified,
            });
        }
        if md.is_dir() {
            if let Some(sub) = open_dir_nofollow(&abs)? {
                walk(&fd_path(&sub), &path, &entry.dir, opaque(&abs)?, out)?;
            }
            if !modified && out.len() > start {
                out.insert(
                    start,
                    Change {
                        path,
                        kind: ChangeKind::Modified,
                    },
                );
            }
        }
    }
    if is_opaque {
        for name in old.names()? {
            if !present.contains(&name) {
                deleted.insert(format!(
                    "{rel}/{}",
                    String::from_utf8_lossy(name.as_bytes())
                ));
            }
        }
    }
    out.extend(deleted.into_iter().map(|path| Change {
        path,
        kind: ChangeKind::Deleted,
    }));
    Ok(())
}

/// Everything under added directory `dir`: added too.
fn added(dir: &Path, rel: &str, out: &mut Vec<Change>) -> io::Result<()> {
    for name in read_names(dir)? {
        let abs = dir.join(&name);
        let Some(md) = lstat(&abs)? else {
            continue;
        };
        if is_whiteout(&md) {
            continue;
        }
        let path = format!("{rel}/{}", String::from_utf8_lossy(name.as_bytes()));
        out.push(Change {
            path: path.clone(),
            kind: ChangeKind::Added,
        });
        if md.is_dir() {
            if let Some(sub) = open_dir_nofollow(&abs)? {
                added(&fd_path(&sub), &path, out)?;
            }
        }
    }
    Ok(())
}

/// dockerd's `statDifferent`: mode (type included), owner, device number,
/// and for non-directories size and mtime (equal seconds, and equal
/// nanoseconds unless one is 0, as tar loses them).
fn differs(old: &Metadata, new: &Metadata) -> bool {
    let same_time = old.mtime() == new.mtime()
        && (old.mtime_nsec() == new.mtime_nsec() || old.mtime_nsec() == 0 || new.mtime_nsec() == 0);
    old.mode() != new.mode()
        || old.uid() != new.uid()
        || old.gid() != new.gid()
        || old.rdev() != new.rdev()
        || (!new.is_dir() && (!same_time || old.size() != new.size()))
}

/// A file's capabilities (`security.capability`), if any.
fn capability(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match xattr::get(path, CAPABILITY_XATTR) {
        Ok(v) => Ok(v),
        Err(e) if unsupported(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a writable-layer or image directory is opaque (hides what the
/// layers below hold).
fn opaque(dir: &Path) -> io::Result<bool> {
    match xattr::get(dir, OPAQUE_XATTR) {
        Ok(v) => Ok(v.as_deref() == Some(b"y")),
        Err(e) if unsupported(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTSUP | libc::ENODATA | libc::ENOENT)
    )
}

/// An overlay whiteout: a character device 0/0.
fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// `lstat`, `None` when the path (or a parent) does not exist.
fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(md) => Ok(Some(md)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names in a directory, sorted (none if it is gone).
fn read_names(dir: &Path) -> io::Result<BTreeSet<OsString>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            Ok(BTreeSet::new())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A whiteout (needs root: mknod of a device).
    fn whiteout(path: &Path) {
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .expect("mknod whiteout");
    }

    fn mkdirs(root: &Path, dirs: &[&str]) {
        for d in dirs {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
    }

    fn write(root: &Path, file: &str, data: &str) {
        fs::write(root.join(file), data).expect("write");
    }

    /// `upper`'s copy of lower `dir`, as a copy-up leaves it (same mode,
    /// owner and mtime).
    fn copy_up_dir(lower: &Path, upper: &Path, dir: &str) {
        fs::create_dir_all(upper.join(dir)).expect("mkdir");
        let md = fs::metadata(lower.join(dir)).expect("stat");
        fs::set_permissions(upper.join(dir), md.permissions()).expect("chmod");
        fs::File::open(upper.join(dir))
            .and_then(|f| f.set_modified(md.modified()?))
            .expect("set mtime");
    }

    fn lines(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| {
                let k = match c.kind {
                    ChangeKind::Modified => "C",
                    ChangeKind::Added => "A",
                    ChangeKind::Deleted => "D",
                };
                format!("{k} {}", c.path)
            })
            .collect()
    }

    #[test]
    fn walks_the_writable_layer_like_dockerd() {
        // Whiteouts and opaque directories need root (mknod, trusted.*).
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let (base, top, upper) = (
            tmp.path().join("base"),
            tmp.path().join("top"),
            tmp.path().join("upper"),
        );
        // Image: base layer, then a layer deleting /opt/gone and adding /usr/lib/x.
        mkdirs(
            &base,
            &[
                "bin",
                "etc",
                "home/user",
                "opt/gone",
                "usr/lib",
                "var/spool/mail",
            ],
        );
        write(&base, "etc/passwd", "root");
        write(&base, "etc/group", "root");
        write(&base, "var/spool/mail/m", "m");
        write(&base, "var/spool/s", "s");
        mkdirs(&top, &["opt", "usr/lib"]);
        whiteout(&top.join("opt/gone"));
        write(&top, "usr/lib/x", "x");
        let lower = [top.clone(), base.clone()];

        // Never started: nothing.
        assert_eq!(diff(&upper, &lower).expect("diff"), vec![]);

        mkdirs(&upper, &["new/sub"]);
        write(&upper, "new/sub/f", "a");
        // Modified file (copied up, then written).
        copy_up_dir(&base, &upper, "etc");
        write(&upper, "etc/passwd", "root\nuser");
        // Deleted file and directory.
        whiteout(&upper.join("etc/group"));
        whiteout(&upper.join("home"));
        // A whiteout of what the image does not have: not a change.
        whiteout(&upper.join("etc/never"));
        // Runtime mount points: not changes.
        write(&upper, "etc/hosts", "");
        write(&upper, "etc/resolv.conf", "");
        mkdirs(&upper, &["proc"]);
        // A directory whose mtime only changed: not a change.
        copy_up_dir(&base, &upper, "bin");
        fs::write(upper.join("bin/.keep"), "").expect("write");
        fs::remove_file(upper.join("bin/.keep")).expect("rm");
        // chmod of a directory: a change.
        copy_up_dir(&base, &upper, "usr");
        fs::set_permissions(upper.join("usr"), fs::Permissions::from_mode(0o700)).expect("chmod");
        // Deep add under unchanged dirs: parents reported as modified.
        copy_up_dir(&top, &upper, "usr/lib");
        write(&upper, "usr/lib/y", "y");
        // Opaque directory: rm -rf /var/spool && mkdir /var/spool && touch z.
        copy_up_dir(&base, &upper, "var");
        copy_up_dir(&base, &upper, "var/spool");
        xattr::set(upper.join("var/spool"), OPAQUE_XATTR, b"y").expect("opaque");
        write(&upper, "var/spool/z", "z");
        // /opt/gone was deleted by the image: re-adding it is an add.
        copy_up_dir(&top, &upper, "opt");
        mkdirs(&upper, &["opt/gone"]);

        assert_eq!(
            lines(&diff(&upper, &lower).expect("diff")),
            [
                "C /etc",
                "C /etc/passwd",
                "D /etc/group",
                "A /new",
                "A /new/sub",
                "A /new/sub/f",
                "C /opt",
                "A /opt/gone",
                "C /usr",
                "C /usr/lib",
                "A /usr/lib/y",
                "C /var",
                "C /var/spool",
                "A /var/spool/z",
                "D /var/spool/mail",
                "D /var/spool/s",
                "D /home",
            ]
            .map(str::to_owned)
        );
    }

    #[test]
    fn init_layer_directories_the_image_lacks_are_not_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (image, upper) = (tmp.path().join("image"), tmp.path().join("upper"));
        fs::create_dir_all(&image).expect("mkdir");
        write(&image, "hello", "hi");
        // What the runtime creates for hello-world's mounts.
        mkdirs(&upper, &["etc", "dev", "proc", "sys"]);
        for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
            write(&upper, f, "");
        }
        let lower = [image];
        assert_eq!(diff(&upper, &lower).expect("diff"), vec![]);
        write(&upper, "etc/motd", "hi");
        write(&upper, "hello", "changed");
        assert_eq!(
            lines(&diff(&upper, &lower).expect("diff")),
            ["C /etc", "A /etc/motd", "C /hello"].map(str::to_owned)
        );
    }
}
