//! A container's files through the archive API (`GET
//! /containers/{id}/archive`, `docker cp`'s endpoint), for the Files tab.
//!
//! - [`list`]: a directory's entries, read from the headers of the
//!   directory's tar as it streams; a big tree is cut short after
//!   [`MAX_ENTRIES`] entries or [`MAX_BYTES`] of archive (the listing says
//!   `truncated`), and the rest of the stream is dropped unread.
//! - [`download`]: one regular file, written into a folder (the user's
//!   Downloads) under a name not taken yet.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bollard::query_parameters::DownloadFromContainerOptions;
use futures_util::StreamExt;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::Engine;
use super::containers::non_empty;
use crate::error::{Error, Result};

/// Most archive entries read for a listing.
pub const MAX_ENTRIES: usize = 20_000;
/// Most archive bytes (headers and contents) read for a listing.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Its name in the directory.
    pub name: String,
    /// `dir`, `file`, `link` or `other`.
    pub kind: &'static str,
    /// Bytes (files).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Last change, Unix seconds.
    pub modified: u64,
    /// A symlink's target.
    pub target: Option<String>,
}

/// A directory's entries, directories first, then by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The directory (absolute, normalised).
    pub path: String,
    /// Its entries.
    pub entries: Vec<FileEntry>,
    /// The archive was cut short: entries may be missing.
    pub truncated: bool,
}

/// `path` as an absolute path without `.`, `..` or repeated slashes;
/// refuses a relative one.
pub fn normalise(path: &str) -> Result<String> {
    let path = path.trim();
    if !path.starts_with('/') {
        return Err(Error::InvalidRequest(format!(
            "the path {path:?} is not absolute"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The archive of `path` in container `id` as a blocking reader; an error
/// before the first byte (no such container or path) is the engine's.
async fn archive(engine: &Engine, id: &str, path: &str) -> Result<impl Read + Send + 'static> {
    let id = non_empty(id, "container id")?.to_string();
    let conn = engine.connection().await?;
    let options = DownloadFromContainerOptions {
        path: path.to_string(),
    };
    let mut stream = conn
        .docker
        .download_from_container(&id, Some(options))
        .boxed();
    let first = match stream.next().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(err)) => return Err(engine.failed(Error::from_bollard(err, &conn.endpoint))),
        None => bytes::Bytes::new(),
    };
    let rest = futures_util::stream::iter([Ok(first)])
        .chain(stream)
        .map(|item| item.map_err(std::io::Error::other));
    Ok(SyncIoBridge::new(StreamReader::new(rest)))
}

/// The entries of directory `path` in container `id`.
pub async fn list(engine: &Engine, id: &str, path: &str) -> Result<Listing> {
    let path = normalise(path)?;
    let reader = archive(engine, id, &path).await?;
    let dir = path.clone();
    tokio::task::spawn_blocking(move || read_listing(reader, &dir, MAX_ENTRIES, MAX_BYTES))
        .await
        .map_err(|err| Error::Internal(format!("listing {path}: {err}")))?
        .map_err(|err| Error::Internal(format!("reading the archive of {path}: {err}")))
}

/// The name of `path` as the archive's top entry carries it (`None` for
/// `/`).
fn base_name(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|s| !s.is_empty())
}

/// Reads a directory's tar: the entries one level below the top.
fn read_listing(
    reader: impl Read,
    path: &str,
    max_entries: usize,
    max_bytes: u64,
) -> std::io::Result<Listing> {
    let mut archive = tar::Archive::new(reader);
    let top = base_name(path);
    let mut entries = Vec::new();
    let mut truncated = false;
    let mut bytes = 0u64;
    for (n, entry) in archive.entries()?.enumerate() {
        if n >= max_entries || bytes > max_bytes {
            truncated = true;
            break;
        }
        let entry = entry?;
        let header = entry.header();
        bytes = bytes.saturating_add(512 + header.entry_size().unwrap_or(0));
        let name = entry.path()?.into_owned();
        let mut parts: Vec<String> = name
            .components()
            .filter_map(|c| match c {
                Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if top.is_some() && parts.first().map(String::as_str) == top {
            parts.remove(0);
        }
        let [name] = parts.as_slice() else { continue };
        let kind = header.entry_type();
        entries.push(FileEntry {
            name: name.clone(),
            kind: if kind.is_dir() {
                "dir"
            } else if kind.is_file() {
                "file"
            } else if kind.is_symlink() || kind.is_hard_link() {
                "link"
            } else {
                "other"
            },
            size: header.size().unwrap_or(0),
            mode: header.mode().unwrap_or(0) & 0o7777,
            modified: header.mtime().unwrap_or(0),
            target: entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.to_string_lossy().into_owned()),
        });
    }
    entries.sort_by(|a, b| (a.kind != "dir", &a.name).cmp(&(b.kind != "dir", &b.name)));
    Ok(Listing {
        path: path.to_string(),
        entries,
        truncated,
    })
}

/// Saves file `path` of container `id` into `folder` (as its name, or
/// `name (1).ext`, … when taken); returns where. Refuses what is not a
/// regular file.
pub async fn download(engine: &Engine, id: &str, path: &str, folder: PathBuf) -> Result<PathBuf> {
    let path = normalise(path)?;
    let reader = archive(engine, id, &path).await?;
    let shown = path.clone();
    tokio::task::spawn_blocking(move || save_file(reader, &shown, &folder))
        .await
        .map_err(|err| Error::Internal(format!("downloading {path}: {err}")))?
}

/// Writes the archive's single regular file into `folder`.
fn save_file(reader: impl Read, path: &str, folder: &Path) -> Result<PathBuf> {
    let io = |what: &str, err: std::io::Error| Error::Internal(format!("{what}: {err}"));
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive
        .entries()
        .map_err(|e| io("reading the archive", e))?;
    let mut entry = entries
        .next()
        .ok_or_else(|| Error::NotFound(format!("{path}: empty archive")))?
        .map_err(|e| io("reading the archive", e))?;
    if !entry.header().entry_type().is_file() {
        return Err(Error::InvalidRequest(format!(
            "{path} is not a regular file: only files can be downloaded"
        )));
    }
    let name = base_name(path).unwrap_or("download").to_string();
    std::fs::create_dir_all(folder)
        .map_err(|e| io(&format!("creating {}", folder.display()), e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(folder)
        .map_err(|e| io(&format!("writing into {}", folder.display()), e))?;
    std::io::copy(&mut entry, &mut tmp).map_err(|e| io(&format!("downloading {path}"), e))?;
    for n in 0..1000 {
        let target = folder.join(numbered(&name, n));
        // persist_noclobber: never replaces a file of the user's.
        match tmp.persist_noclobber(&target) {
            Ok(_) => return Ok(target),
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => tmp = err.file,
            Err(err) => return Err(io(&format!("saving {}", target.display()), err.error)),
        }
    }
    Err(Error::Conflict(format!(
        "{name} and 999 numbered copies already exist in {}",
        folder.display()
    )))
}

/// `name`, then `stem (n).ext` for n ≥ 1.
fn numbered(name: &str, n: usize) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar as dockerd writes `GET archive?path=/etc`: the directory
    /// itself, then its tree.
    fn etc_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_mtime(1_700_000_000);
            if let Some(link) = link {
                h.set_link_name(link).expect("link");
            }
            b.append_data(&mut h, path, data).expect("append");
        };
        add("etc/", tar::EntryType::Directory, b"", None);
        add("etc/passwd", tar::EntryType::Regular, b"root:x:0:0\n", None);
        add("etc/ssl/", tar::EntryType::Directory, b"", None);
        add("etc/ssl/cert.pem", tar::EntryType::Regular, b"----", None);
        add(
            "etc/mtab",
            tar::EntryType::Symlink,
            b"",
            Some("/proc/mounts"),
        );
        b.into_inner().expect("tar")
    }

    #[test]
    fn a_listing_holds_the_first_level_directories_first() {
        let listing = read_listing(&etc_tar()[..], "/etc", 100, MAX_BYTES).expect("listing");
        let names: Vec<(&str, &str)> = listing
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind))
            .collect();
        assert_eq!(
            names,
            [("ssl", "dir"), ("mtab", "link"), ("passwd", "file")]
        );
        assert_eq!(listing.entries[2].size, 11);
        assert_eq!(listing.entries[1].target.as_deref(), Some("/proc/mounts"));
        assert!(!listing.truncated);
        let cut = read_listing(&etc_tar()[..], "/etc", 2, MAX_BYTES).expect("listing");
        assert!(cut.truncated);
        assert_eq!(cut.entries.len(), 1);
    }

    #[test]
    fn paths_are_normalised_and_must_be_absolute() {
        assert_eq!(normalise("/").expect("root"), "/");
        assert_eq!(normalise("//etc/./ssl/../").expect("etc"), "/etc");
        assert_eq!(normalise("/../..").expect("root"), "/");
        assert!(normalise("etc").is_err());
        assert_eq!(base_name("/etc/ssl"), Some("ssl"));
        assert_eq!(base_name("/"), None);
    }

    #[test]
    fn a_download_never_replaces_a_file_and_refuses_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "app.conf", &b"hello"[..])
            .expect("append");
        let tar = b.into_inner().expect("tar");
        let first = save_file(&tar[..], "/etc/app.conf", dir.path()).expect("saved");
        let second = save_file(&tar[..], "/etc/app.conf", dir.path()).expect("saved");
        assert_eq!(first, dir.path().join("app.conf"));
        assert_eq!(second, dir.path().join("app (1).conf"));
        assert_eq!(std::fs::read(&second).expect("read"), b"hello");
        let err = save_file(&etc_tar()[..], "/etc", dir.path()).expect_err("a directory");
        assert_eq!(err.kind(), "invalid_request");
        assert_eq!(numbered("Makefile", 2), "Makefile (2)");
    }
}
