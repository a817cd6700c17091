//! `docker cp`: stat (`HEAD …/archive`), copy out of (`GET`) and into
//! (`PUT`) a container's filesystem, running or not, as dockerd does.
//!
//! All file work happens in a [`view`] of the container's filesystem — its
//! overlay (where the host has it mounted while it runs; else a private
//! read-only, or to copy into it read-write, mount of it) with its binds
//! (`/etc/hostname`, `-v` directories) as dockerd mounts them for `cp` —
//! whose root is the container's, so symlinks made in the container resolve
//! inside it and nothing is ever read or written outside it.
//!
//! - [`pathstat`]: `ContainerPathStat`, and docker's path rules;
//! - [`tarball`]: the self-consistent tar writer (also `docker export`'s);
//! - [`extract`]: docker's rules for unpacking into the container.

pub mod extract;
pub mod pathstat;
pub mod tarball;
pub mod view;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use self::extract::{ExtractError, ExtractOptions};
use self::pathstat::PathStat;
use self::tarball::Tarball;
use self::view::{Bind, Overlay, Root};
use super::ContainerService;
use super::error::ContainerError;
use super::record::{ContainerRecord, Status};
use super::rootfs::Rootfs;
use crate::errdefs::ErrorKind;
use crate::streams::ChannelWriter;

/// Errors of the archive operations, worded as docker words them.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The path does not exist in the container.
    #[error("Could not find the file {path} in container {container}")]
    FileNotFound {
        /// The path as requested.
        path: String,
        /// The container as named in the request.
        container: String,
    },
    /// A request that cannot be honoured as made (not a directory, a
    /// read-only root filesystem).
    #[error("{0}")]
    Invalid(String),
    /// The filesystem work failed.
    #[error("{0}")]
    Failed(String),
    /// A container error (unknown container, runtime failure).
    #[error(transparent)]
    Container(#[from] ContainerError),
}

impl ArchiveError {
    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::FileNotFound { .. } => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::InvalidArgument,
            Self::Failed(_) => ErrorKind::Internal,
            Self::Container(e) => e.kind(),
        }
    }
}

/// What `PUT …/archive` asks besides the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: owner of every entry = the container's user.
    pub copy_uid_gid: bool,
}

/// Maps an I/O error on `path` to docker's answer.
fn io_error(e: &io::Error, path: &str, container: &str) -> ArchiveError {
    if e.kind() == io::ErrorKind::NotFound {
        ArchiveError::FileNotFound {
            path: path.to_owned(),
            container: container.to_owned(),
        }
    } else {
        ArchiveError::Failed(format!("{path}: {e}"))
    }
}

/// The binds of a container: its `/etc` files and `-v /host:/ctr[:ro]`.
fn binds(record: &ContainerRecord, dir: &Path) -> Vec<Bind> {
    let mut out: Vec<Bind> = ["hostname", "hosts", "resolv.conf"]
        .iter()
        .map(|f| Bind {
            source: dir.join(f),
            dest: format!("/etc/{f}"),
            readonly: false,
        })
        .collect();
    for b in record.host_config.binds.iter().flatten() {
        let mut parts = b.split(':');
        if let (Some(src), Some(dst)) = (parts.next(), parts.next())
            && src.starts_with('/')
        {
            out.push(Bind {
                source: PathBuf::from(src),
                dest: dst.to_owned(),
                readonly: parts
                    .next()
                    .is_some_and(|o| o.split(',').any(|x| x == "ro")),
            });
        }
    }
    out
}

/// Whether container path `path` is (under) the destination of a bind or
/// of a volume or `--mount` bind of the container (not a tmpfs: `cp` does
/// not reach into one).
fn in_bind(record: &ContainerRecord, path: &str) -> bool {
    let under = |dst: &str| {
        let dst = pathstat::clean(dst);
        path == dst || path.starts_with(&format!("{}/", dst.trim_end_matches('/')))
    };
    record
        .host_config
        .binds
        .iter()
        .flatten()
        .any(|b| b.split(':').nth(1).is_some_and(under))
        || record
            .mounts
            .iter()
            .any(|m| m.kind != crate::mounts::MountKind::Tmpfs && under(&m.target))
}

impl ContainerService {
    /// Where a view of `record`'s filesystem comes from: its overlay where
    /// the host has it mounted (it runs), else a private mount of it;
    /// `mounts`: with its binds (for `cp`; not for `export`).
    pub(crate) fn view_root(
        &self,
        record: &ContainerRecord,
        writable: bool,
        mounts: bool,
    ) -> Result<Root, ContainerError> {
        let dir = self.store.dir(&record.id);
        let binds = if mounts {
            let mut all = binds(record, &dir);
            // Volumes and `--mount` binds, as the container sees them.
            for (source, dest, readonly) in self.mount_sources(record) {
                if !all.iter().any(|b| b.dest == dest) {
                    all.push(Bind {
                        source,
                        dest,
                        readonly,
                    });
                }
            }
            all
        } else {
            Vec::new()
        };
        let rootfs = Rootfs::new(&dir);
        if rootfs.is_mounted() {
            return Ok(Root::Mounted {
                target: rootfs.target,
                binds,
            });
        }
        let lower = self.image_lower_dirs(record)?;
        Ok(Root::Overlay(Overlay {
            target: dir.join("rootfs"),
            lower,
            upper: dir.join("rw/upper"),
            work: dir.join("rw/work"),
            writable,
            binds,
        }))
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn archive_stat(&self, what: &str, path: &str) -> Result<PathStat, ArchiveError> {
        let record = self.resolve(what)?;
        let root = self.view_root(&record, false, true)?;
        let (abs, path, what) = (pathstat::absolute(path), path.to_owned(), what.to_owned());
        view::run(root, move || {
            Ok(pathstat::stat(&abs).map_err(|e| io_error(&e, &path, &what)))
        })
        .await?
    }

    /// `GET /containers/{id}/archive?path=`: the path's stat and a tar of
    /// it, streamed as it is read.
    pub async fn archive_get(
        &self,
        what: &str,
        path: &str,
    ) -> Result<(PathStat, mpsc::Receiver<io::Result<Bytes>>), ArchiveError> {
        let record = self.resolve(what)?;
        let root = self.view_root(&record, false, true)?;
        let (abs, path, name) = (pathstat::absolute(path), path.to_owned(), what.to_owned());
        let (mut writer, chunks) = ChannelWriter::new();
        let (stat_tx, stat_rx) = oneshot::channel::<Result<PathStat, ArchiveError>>();
        view::spawn(root, move |entered| {
            let stat = match entered {
                Err(e) => Err(e.into()),
                Ok(()) => pathstat::stat(&abs).map_err(|e| io_error(&e, &path, &name)),
            };
            let stat = match stat {
                Ok(s) => s,
                Err(e) => {
                    let _ = stat_tx.send(Err(e));
                    return;
                }
            };
            let is_dir = pathstat::is_dir(stat.mode);
            if stat_tx.send(Ok(stat)).is_err() {
                return;
            }
            let written = write_path(&mut writer, &abs, is_dir);
            match written {
                Ok(()) => {
                    let _ = writer.flush();
                }
                Err(e) => writer.fail(e),
            }
        })?;
        let stat = stat_rx
            .await
            .map_err(|_| ArchiveError::Failed("the container filesystem thread died".into()))??;
        self.record_event("archive-path", &record, &[]);
        Ok((stat, chunks))
    }

    /// `PUT /containers/{id}/archive?path=`: extract the tar `content`
    /// (gzip or zstd compressed, or not) into directory `path`.
    pub async fn archive_put(
        &self,
        what: &str,
        path: &str,
        opts: PutOptions,
        content: impl Read + Send + 'static,
    ) -> Result<(), ArchiveError> {
        let record = self.resolve(what)?;
        if matches!(record.state.status, Status::Removing | Status::Dead) {
            return Err(ContainerError::Conflict(format!(
                "container {} is marked for removal",
                record.id
            ))
            .into());
        }
        let root = self.view_root(&record, true, true)?;
        let (path, name) = (path.to_owned(), what.to_owned());
        let readonly = record.host_config.readonly_rootfs.unwrap_or(false);
        let user = record.config.user.clone().unwrap_or_default();
        let rec = record.clone();
        view::run(root, move || {
            Ok(extract_into(
                &rec, &path, &name, readonly, &user, opts, content,
            ))
        })
        .await??;
        self.record_event("extract-to-dir", &record, &[]);
        Ok(())
    }
}

/// The tar of container path `abs` (in a view): a directory as `base/…`,
/// anything else as the single entry `base`.
fn write_path(out: &mut impl Write, abs: &str, is_dir: bool) -> io::Result<()> {
    let name = pathstat::base(abs);
    let mut t = Tarball::new(out);
    if is_dir {
        // docker names the entries of `/` `/…`, of `x/.` `./…`.
        t.add_dir(abs, if name == "/" { "/" } else { &name })?;
    } else {
        let (dir, entry) = pathstat::split(abs.trim_end_matches('/'));
        t.add_entry(&dir, &entry, &name)?;
    }
    t.finish().map(drop)
}

/// `PUT` in a view: resolve the destination, check it, extract.
fn extract_into(
    record: &ContainerRecord,
    path: &str,
    container: &str,
    readonly: bool,
    user: &str,
    opts: PutOptions,
    content: impl Read,
) -> Result<(), ArchiveError> {
    let abs = pathstat::absolute(path);
    // The destination with every symlink followed (the last one too, so a
    // symlink to a directory is extracted into).
    let resolved = std::fs::canonicalize(&abs).map_err(|e| io_error(&e, path, container))?;
    let resolved = resolved.to_string_lossy().into_owned();
    let meta = std::fs::symlink_metadata(&resolved).map_err(|e| io_error(&e, path, container))?;
    if !meta.is_dir() {
        return Err(ArchiveError::Invalid(
            "extraction point is not a directory".into(),
        ));
    }
    if readonly && !in_bind(record, &resolved) {
        return Err(ArchiveError::Invalid(
            "container rootfs is marked read-only".into(),
        ));
    }
    let chown = if opts.copy_uid_gid && !user.is_empty() {
        let u = super::user::resolve(Path::new("/"), user)?;
        Some((u.uid, u.gid))
    } else {
        None
    };
    let (_, reader) = skiff_store::compression::decompress(content)
        .map_err(|e| ArchiveError::Invalid(format!("reading the archive: {e}")))?;
    let options = ExtractOptions {
        no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
        chown,
    };
    extract::extract(reader, &resolved, &options).map_err(|e| match e {
        ExtractError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            io_error(&source, path, container)
        }
        ExtractError::Archive(e) => ArchiveError::Invalid(format!("reading the archive: {e}")),
        other => ArchiveError::Failed(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(binds: &[&str]) -> ContainerRecord {
        serde_json::from_value(serde_json::json!({
            "id": "c1", "name": "web", "created": "", "image": "busybox",
            "image_id": format!("sha256:{}", "a".repeat(64)), "path": "sh", "args": [],
            "config": {}, "host_config": { "Binds": binds }, "state": {
                "status": "exited", "pid": 0, "exit_code": 0, "error": "",
                "started_at": "", "finished_at": "", "oom_killed": false
            }
        }))
        .expect("record")
    }

    #[test]
    fn binds_and_paths_in_them() {
        let r = record(&["/host/data:/data:ro", "named:/vol", "/x:/y"]);
        let b = binds(&r, Path::new("/c"));
        assert_eq!(b.len(), 5);
        assert_eq!(b[0].source, Path::new("/c/hostname"));
        assert_eq!(b[0].dest, "/etc/hostname");
        assert_eq!(
            b[3],
            Bind {
                source: PathBuf::from("/host/data"),
                dest: "/data".into(),
                readonly: true
            }
        );
        assert!(in_bind(&r, "/data"));
        assert!(in_bind(&r, "/data/sub"));
        assert!(!in_bind(&r, "/database"));
        assert!(!in_bind(&r, "/etc"));
    }

    #[test]
    fn errors_are_dockers() {
        let e = io_error(&io::ErrorKind::NotFound.into(), "/nope", "web");
        assert_eq!(
            e.to_string(),
            "Could not find the file /nope in container web"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            ArchiveError::Invalid("extraction point is not a directory".into()).kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[tokio::test]
    async fn copy_out_then_in_through_a_view() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_owned();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::create_dir_all(root.join("dst")).expect("mkdir");
        std::fs::write(root.join("etc/hostname"), "box\n").expect("write");
        std::os::unix::fs::symlink("/dst", root.join("to-dst")).expect("symlink");
        let r = record(&[]);
        let out = view::run(Root::dir(&root), move || {
            let put = |path: &str, readonly: bool, tar: &[u8]| {
                extract_into(&r, path, "web", readonly, "", PutOptions::default(), tar)
                    .map_err(|e| e.to_string())
            };
            let mut tar = Vec::new();
            write_path(&mut tar, "/etc", true).expect("tar of /etc");
            put("/to-dst", false, &tar).expect("extract");
            let mut one = Vec::new();
            write_path(&mut one, "/etc/hostname", false).expect("tar of a file");
            Ok((
                put("/nope", false, &one),
                put("/etc/hostname", false, &one),
                put("/dst", true, &one),
                one,
            ))
        })
        .await
        .expect("view");
        assert_eq!(
            std::fs::read_to_string(root.join("dst/etc/hostname")).expect("copied"),
            "box\n"
        );
        assert_eq!(
            out.0,
            Err("Could not find the file /nope in container web".into())
        );
        assert_eq!(out.1, Err("extraction point is not a directory".into()));
        assert_eq!(out.2, Err("container rootfs is marked read-only".into()));
        let mut a = tar::Archive::new(&out.3[..]);
        let names: Vec<String> = a
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["hostname"]);
    }
}
