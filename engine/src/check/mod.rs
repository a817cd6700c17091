//! `skiffd check`: a consistency checker of a data root, like `fsck` — what
//! the crash tests run after every kill -9, and what a user runs when in
//! doubt.
//!
//! Contract:
//! - read-only: nothing under the data root is created, changed or removed
//!   (unlike opening the stores, which sweeps interrupted work);
//! - meant for a data root no daemon is writing to; run beside a busy
//!   daemon it may report work in progress;
//! - a [`Report`] lists every [`Problem`] (the data root is inconsistent:
//!   a blob whose content does not hash to its name, a record naming
//!   something missing, an unreadable record, something no record owns) and
//!   [`Report::notes`] (interrupted work the next start removes, which is
//!   expected after a kill -9 or a full disk, and harmless);
//! - [`CheckError`] only when the data root itself cannot be read.
//!
//! What is checked: every blob of the content store hashes to its name; the
//! image index parses, every image's config (and kept manifest) is a blob,
//! every layer of an image is an unpacked snapshot, every name points at an
//! image; every snapshot has its record and tree and is used by an image;
//! every container directory has a parsable record of the same id whose
//! image exists, and every volume it mounts exists; every volume has its
//! data directory; the network state parses and names only existing
//! networks (an entry of a removed container is a note: the next start
//! drops it).

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use skiff_oci::Digest;
use skiff_oci::Hasher;
use skiff_store::atomic::TMP_PREFIX;
use skiff_store::images::ImageIndex;

use crate::containers::record::ContainerRecord;
use crate::mounts::MountKind;
use crate::networks::record::NetState;

#[cfg(test)]
mod tests;

/// The data root could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("checking {path}: {source}")]
pub struct CheckError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The store it was found in: `content`, `images`, `snapshots`,
    /// `containers`, `volumes` or `network`.
    pub store: &'static str,
    /// What is wrong, naming the object.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.store, self.what)
    }
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inconsistencies; empty when the data root is consistent.
    pub problems: Vec<Problem>,
    /// Interrupted work (temporaries) the next daemon start removes.
    pub notes: Vec<String>,
    /// Objects looked at, per store (for the summary line).
    pub counts: Vec<(&'static str, usize)>,
}

impl Report {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, store: &'static str, what: String) {
        self.problems.push(Problem { store, what });
    }
}

/// Checks the data root at `root` (see the module docs).
pub fn check(root: &Path) -> Result<Report, CheckError> {
    fs::metadata(root).map_err(|source| CheckError {
        path: root.to_owned(),
        source,
    })?;
    let mut report = Report::default();
    let blobs = check_content(root, &mut report);
    let index = check_images(root, &blobs, &mut report);
    let containers = check_containers(root, &index, &mut report);
    check_snapshots(root, &index, &mut report);
    check_network(root, &containers, &mut report);
    Ok(report)
}

/// The entries of `dir` (none if it does not exist); temporaries go to the
/// notes.
fn entries(dir: &Path, report: &mut Report) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TMP_PREFIX) {
            report
                .notes
                .push(format!("interrupted work: {}", entry.path().display()));
            continue;
        }
        out.push((name, entry.path()));
    }
    out.sort();
    out
}

/// The digest of a file's content.
fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// Every blob hashes to its name; returns the blobs present.
fn check_content(root: &Path, report: &mut Report) -> BTreeSet<Digest> {
    let content = root.join("content");
    for (name, path) in entries(&content.join("ingest"), report) {
        report
            .notes
            .push(format!("interrupted download: {} ({name})", path.display()));
    }
    let mut present = BTreeSet::new();
    for (name, path) in entries(&content.join("blobs").join("sha256"), report) {
        let Ok(named) = Digest::from_hex(&name) else {
            report.problem("content", format!("{}: not a digest", path.display()));
            continue;
        };
        match hash_file(&path) {
            Ok(actual) if actual == named => {
                present.insert(named);
            }
            Ok(actual) => report.problem(
                "content",
                format!("blob {named}: its content hashes to {actual}"),
            ),
            Err(e) => report.problem("content", format!("blob {named}: {e}")),
        }
    }
    report.counts.push(("blobs", present.len()));
    present
}

/// The image index: parses, and what it names exists.
fn check_images(root: &Path, blobs: &BTreeSet<Digest>, report: &mut Report) -> ImageIndex {
    let dir = root.join("images");
    entries(&dir, report);
    let path = dir.join("images.json");
    let index: ImageIndex = match fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(index) => index,
            Err(e) => {
                report.problem("images", format!("{}: {e}", path.display()));
                return ImageIndex::default();
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ImageIndex::default(),
        Err(e) => {
            report.problem("images", format!("{}: {e}", path.display()));
            return ImageIndex::default();
        }
    };
    let snapshots = root.join("snapshots");
    for (id, image) in &index.images {
        if !blobs.contains(id) {
            report.problem("images", format!("image {id}: its config blob is missing"));
        }
        if let Some(manifest) = &image.manifest
            && !blobs.contains(manifest)
        {
            report.problem(
                "images",
                format!("image {id}: its manifest blob {manifest} is missing"),
            );
        }
        for layer in &image.layers {
            if !snapshots.join(layer.hex()).join("layer.json").is_file() {
                report.problem(
                    "images",
                    format!("image {id}: layer {layer} is not unpacked"),
                );
            }
        }
    }
    for (name, id) in index.tags.iter().chain(&index.digests) {
        if !index.images.contains_key(id) {
            report.problem(
                "images",
                format!("{name} names image {id}, which is missing"),
            );
        }
    }
    report.counts.push(("images", index.images.len()));
    index
}

/// Every snapshot has its record and tree, and an image uses it.
fn check_snapshots(root: &Path, index: &ImageIndex, report: &mut Report) {
    let used: BTreeSet<&Digest> = index.images.values().flat_map(|i| &i.layers).collect();
    let mut count = 0;
    for (name, path) in entries(&root.join("snapshots"), report) {
        count += 1;
        let Ok(diff_id) = Digest::from_hex(&name) else {
            report.problem("snapshots", format!("{}: not a layer", path.display()));
            continue;
        };
        let record = path.join("layer.json");
        match fs::read(&record) {
            Ok(bytes) => {
                if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    report.problem("snapshots", format!("{}: {e}", record.display()));
                }
            }
            Err(e) => report.problem("snapshots", format!("layer {diff_id}: its record: {e}")),
        }
        if !path.join("fs").is_dir() {
            report.problem("snapshots", format!("layer {diff_id}: its tree is missing"));
        }
        if !used.contains(&diff_id) {
            report.problem(
                "snapshots",
                format!("layer {diff_id}: no image uses it (orphaned)"),
            );
        }
    }
    report.counts.push(("snapshots", count));
}

/// Container directories and records; returns the ids of the containers.
fn check_containers(root: &Path, index: &ImageIndex, report: &mut Report) -> BTreeSet<String> {
    let volumes = root.join("volumes");
    let mut volume_names = BTreeSet::new();
    for (name, path) in entries(&volumes, report) {
        if !path.is_dir() {
            continue;
        }
        if !path.join("_data").is_dir() {
            report.problem("volumes", format!("volume {name}: its _data is missing"));
        }
        volume_names.insert(name);
    }
    report.counts.push(("volumes", volume_names.len()));

    let mut ids = BTreeSet::new();
    for (name, path) in entries(&root.join("containers"), report) {
        if !path.is_dir() {
            continue;
        }
        let file = path.join(crate::containers::store::RECORD);
        let record: ContainerRecord = match fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                report.problem("containers", format!("{}: {e}", file.display()));
                continue;
            }
        };
        if record.id != name {
            report.problem(
                "containers",
                format!(
                    "{}: the record is of container {}",
                    path.display(),
                    record.id
                ),
            );
        }
        if !index.images.contains_key(&record.image_id) {
            report.problem(
                "containers",
                format!(
                    "container {} ({}): its image {} is missing",
                    record.name, name, record.image_id
                ),
            );
        }
        for mount in &record.mounts {
            if mount.kind == MountKind::Volume && !volume_names.contains(&mount.source) {
                report.problem(
                    "containers",
                    format!(
                        "container {}: volume {} (at {}) is missing",
                        record.name, mount.source, mount.target
                    ),
                );
            }
        }
        ids.insert(name);
    }
    report.counts.push(("containers", ids.len()));
    ids
}

/// The network state parses and names only what exists.
fn check_network(root: &Path, containers: &BTreeSet<String>, report: &mut Report) {
    let dir = root.join("network");
    entries(&dir, report);
    let path = dir.join("state.json");
    let state: NetState = match fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(state) => state,
            Err(e) => {
                report.problem("network", format!("{}: {e}", path.display()));
                return;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            report.problem("network", format!("{}: {e}", path.display()));
            return;
        }
    };
    for (id, c) in &state.containers {
        if !containers.contains(id) {
            // A removal whose network write failed; the next start drops it.
            report.notes.push(format!(
                "stale network entry of removed container {id} ({})",
                c.name
            ));
        }
        for net in c.attachments.keys().chain(c.endpoints.keys()) {
            if !state.networks.contains_key(net) {
                report.problem(
                    "network",
                    format!("container {id}: network {net} is missing"),
                );
            }
        }
    }
    report.counts.push(("networks", state.networks.len()));
}
