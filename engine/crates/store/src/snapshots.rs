//! Layer snapshots: each layer unpacked once into its own directory,
//! `<root>/<diff id hex>/fs`, ready to be stacked by overlayfs
//! (`lowerdir=top:…:base`). Keyed by the layer's diff id (the digest of its
//! uncompressed tar), so a layer shared by many images exists once.
//!
//! Contract:
//! - a snapshot directory exists under its final name only when complete: it
//!   is unpacked under a temporary name and renamed into place by
//!   [`Pending::commit`], together with its `layer.json` record;
//! - removal renames first, then deletes, so a crash never leaves a
//!   half-deleted snapshot under a live name;
//! - [`Snapshots::open`] sweeps the remains of interrupted unpacks and removals.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skiff_oci::Digest;

use crate::atomic;

/// Errors of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An I/O error on a snapshot path.
    #[error("snapshot {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A `layer.json` that does not parse.
    #[error("snapshot record {path}: {source}")]
    Record {
        /// The record's path.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What skiffd knows about one unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Digest of the uncompressed layer tar.
    pub diff_id: Digest,
    /// A blob in the content store that decompresses to this layer.
    pub blob: Digest,
    /// That blob's media type.
    pub blob_media_type: String,
    /// That blob's size in bytes.
    pub blob_size: u64,
    /// Size of the uncompressed tar in bytes.
    pub tar_size: u64,
    /// Bytes of regular-file content unpacked (docker's layer "Size").
    pub unpacked_size: u64,
}

/// The snapshot store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
}

const RECORD: &str = "layer.json";

impl Snapshots {
    /// Open (creating) the store at `root`, sweeping interrupted work.
    pub fn open(root: &Path) -> Result<Self, SnapshotError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        atomic::sweep_temporaries(root).map_err(io_err(root))?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The unpacked tree of a layer (whether or not it exists).
    pub fn fs_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join(diff_id.hex()).join("fs")
    }

    /// Whether the layer is unpacked.
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.root.join(diff_id.hex()).join(RECORD).is_file()
    }

    /// The layer's record, if it is unpacked.
    pub fn info(&self, diff_id: &Digest) -> Result<Option<LayerInfo>, SnapshotError> {
        let path = self.root.join(diff_id.hex()).join(RECORD);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| SnapshotError::Record { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SnapshotError::Io { path, source: e }),
        }
    }

    /// Every unpacked layer.
    pub fn list(&self) -> Result<Vec<Digest>, SnapshotError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            if let Ok(d) = Digest::from_hex(&entry.file_name().to_string_lossy()) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// A fresh temporary directory to unpack one layer into.
    pub fn prepare(&self) -> Result<Pending, SnapshotError> {
        let dir = atomic::temp_sibling(&self.root.join("snapshot"));
        let fs_dir = dir.join("fs");
        fs::create_dir_all(&fs_dir).map_err(io_err(&fs_dir))?;
        Ok(Pending {
            dir: Some(dir),
            root: self.root.clone(),
        })
    }

    /// Remove a layer's snapshot; absent ones are not an error.
    pub fn remove(&self, diff_id: &Digest) -> Result<(), SnapshotError> {
        let live = self.root.join(diff_id.hex());
        let doomed = atomic::temp_sibling(&live);
        match fs::rename(&live, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).map_err(io_err(&doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                path: live,
                source: e,
            }),
        }
    }
}

/// A snapshot being unpacked. Dropping it without [`Pending::commit`]
/// removes the partial tree.
#[derive(Debug)]
pub struct Pending {
    dir: Option<PathBuf>,
    root: PathBuf,
}

impl Pending {
    /// The directory to unpack the layer into.
    pub fn fs_path(&self) -> PathBuf {
        self.dir.as_ref().map(|d| d.join("fs")).unwrap_or_default()
    }

    /// Publish the snapshot under `info.diff_id`. If another pull committed
    /// the same layer meanwhile, this one is discarded and that one kept.
    pub fn commit(mut self, info: &LayerInfo) -> Result<(), SnapshotError> {
        let Some(dir) = self.dir.take() else {
            return Ok(());
        };
        let record = dir.join(RECORD);
        let result = atomic::write_json(&record, info)
            .map_err(io_err(&record))
            .and_then(|()| {
                skiff_failpoint::point!(skiff_failpoint::SNAPSHOT_BEFORE_RENAME);
                let live = self.root.join(info.diff_id.hex());
                match fs::rename(&dir, &live) {
                    Ok(()) => atomic::sync_parent(&live).map_err(io_err(&live)),
                    // The target exists and is a non-empty directory: someone else won.
                    Err(e) if live.join(RECORD).is_file() => {
                        tracing::debug!("snapshot {} already committed ({e})", info.diff_id);
                        fs::remove_dir_all(&dir).map_err(io_err(&dir))
                    }
                    Err(e) => Err(SnapshotError::Io {
                        path: live,
                        source: e,
                    }),
                }
            });
        if result.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(diff_id: &Digest) -> LayerInfo {
        LayerInfo {
            diff_id: diff_id.clone(),
            blob: diff_id.clone(),
            blob_media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            blob_size: 1,
            tar_size: 1,
            unpacked_size: 1,
        }
    }

    #[test]
    fn commit_publishes_and_drop_discards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let snaps = Snapshots::open(dir.path()).expect("open");
        let id = Digest::of(b"layer");

        let dropped = snaps.prepare().expect("prepare");
        fs::write(dropped.fs_path().join("f"), b"x").expect("write");
        drop(dropped);
        assert!(!snaps.contains(&id));
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);

        let p = snaps.prepare().expect("prepare");
        fs::write(p.fs_path().join("f"), b"x").expect("write");
        p.commit(&info(&id)).expect("commit");
        assert!(snaps.contains(&id));
        assert_eq!(snaps.info(&id).expect("info"), Some(info(&id)));
        assert_eq!(fs::read(snaps.fs_path(&id).join("f")).expect("read"), b"x");

        // A second commit of the same layer keeps the first.
        let p = snaps.prepare().expect("prepare");
        fs::write(p.fs_path().join("g"), b"y").expect("write");
        p.commit(&info(&id)).expect("second commit");
        assert!(snaps.fs_path(&id).join("f").exists());
        assert!(!snaps.fs_path(&id).join("g").exists());
        assert_eq!(snaps.list().expect("list"), vec![id.clone()]);

        snaps.remove(&id).expect("remove");
        assert!(!snaps.contains(&id));
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    #[test]
    fn interrupted_unpack_is_swept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let snaps = Snapshots::open(dir.path()).expect("open");
        let p = snaps.prepare().expect("prepare");
        fs::write(p.fs_path().join("f"), b"x").expect("write");
        std::mem::forget(p); // as if killed mid-unpack
        Snapshots::open(dir.path()).expect("reopen");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
