//! A container's changes as a layer tar (dockerd's `archive.ExportChanges`),
//! for `docker commit` and the builder's `RUN` steps.
//!
//! The changes are [`changes::diff`](super::changes::diff)'s (the one walk
//! of the writable layer over the image's layers): each added or modified
//! path is written from the writable layer as it is (a directory as its
//! header only, a symlink as a link, devices and fifos as headers; sockets
//! are skipped as docker skips them), each deletion as an OCI whiteout
//! (`dir/.wh.name`). The runtime's mount points (`/etc/hosts`, …) are not
//! changes, so they never reach a layer. Paths come from listing the
//! writable layer itself; each is reopened beneath the layer component by
//! component without following a symlink, `lstat`ed in that directory, and
//! a file's content read from a descriptor opened with `O_NOFOLLOW` (its
//! header from that descriptor), so a container swapping a directory or a
//! file for a symlink while it runs (`commit --pause=false`) cannot make
//! anything outside the writable layer read.

use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::ContainerService;
use super::changes::{self, Change, ChangeKind};
use super::error::ContainerError;
use super::record::ContainerRecord;

impl ContainerService {
    /// The writable layer of container `id` and its image's layers (top
    /// first): what [`write_changes`] reads.
    pub fn layer_dirs(
        &self,
        record: &ContainerRecord,
    ) -> Result<(PathBuf, Vec<PathBuf>), ContainerError> {
        let upper = self.store.dir(&record.id).join("rw/upper");
        Ok((upper, self.image_lower_dirs(record)?))
    }

    /// Publish the `commit` event of container `id` (after its image
    /// `image_id` was recorded and named `image_ref`, empty when unnamed).
    pub fn committed(&self, id: &str, image_id: &str, image_ref: &str, comment: &str) {
        if let Ok(record) = self.resolve(id) {
            self.record_event(
                "commit",
                &record,
                &[
                    ("comment", comment),
                    ("imageID", image_id),
                    ("imageRef", image_ref),
                ],
            );
        }
    }
}

/// Blocking: write the tar of the changes of writable layer `upper` over
/// the overlay of `lower` (top first) to `out`; returns `out`.
pub fn write_changes<W: Write>(upper: &Path, lower: &[PathBuf], out: W) -> io::Result<W> {
    let list = changes::diff(upper, lower)?;
    write_tar(upper, &list, out)
}

/// The tar of `list` (paths of writable layer `upper`).
fn write_tar<W: Write>(upper: &Path, list: &[Change], out: W) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    for change in list {
        let rel = change.path.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        match change.kind {
            ChangeKind::Deleted => {
                let (dir, name) = match rel.rsplit_once('/') {
                    Some((d, n)) => (format!("{d}/"), n),
                    None => (String::new(), rel),
                };
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                h.set_mtime(0);
                tar.append_data(&mut h, format!("{dir}.wh.{name}"), io::empty())?;
            }
            ChangeKind::Added | ChangeKind::Modified => {
                let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
                let Some(dir) = changes::open_dir_beneath(upper, parent)? else {
                    continue;
                };
                let abs = changes::fd_path(&dir).join(name);
                let md = match std::fs::symlink_metadata(&abs) {
                    Ok(md) => md,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if md.file_type().is_socket() {
                    continue;
                }
                if !md.is_file() {
                    // Headers only (a symlink as its target): nothing is
                    // read through the name.
                    tar.append_path_with_name(&abs, rel)?;
                    continue;
                }
                let opened = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(&abs);
                let mut file = match opened {
                    Ok(f) => f,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if file.metadata()?.is_file() {
                    tar.append_file(rel, &mut file)?;
                }
            }
        }
    }
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A tar's entries: path and type, in order.
    fn entries(bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
        tar::Archive::new(bytes)
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").display().to_string(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn changes_become_a_layer_tar_with_whiteouts() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (image, upper) = (tmp.path().join("image"), tmp.path().join("upper"));
        fs::create_dir_all(image.join("etc")).expect("mkdir");
        fs::write(image.join("etc/passwd"), "root").expect("write");
        fs::create_dir_all(upper.join("etc")).expect("mkdir");
        fs::create_dir_all(upper.join("new")).expect("mkdir");
        fs::write(upper.join("new/f"), "hello").expect("write");
        fs::write(upper.join("etc/hosts"), "runtime").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", upper.join("link")).expect("symlink");
        let list = [
            Change {
                path: "/new".into(),
                kind: ChangeKind::Added,
            },
            Change {
                path: "/new/f".into(),
                kind: ChangeKind::Added,
            },
            Change {
                path: "/link".into(),
                kind: ChangeKind::Added,
            },
            Change {
                path: "/etc/passwd".into(),
                kind: ChangeKind::Deleted,
            },
        ];
        let bytes = write_tar(&upper, &list, Vec::new()).expect("tar");
        assert_eq!(
            entries(&bytes),
            vec![
                ("new".to_owned(), tar::EntryType::Directory),
                ("new/f".to_owned(), tar::EntryType::Regular),
                ("link".to_owned(), tar::EntryType::Symlink),
                ("etc/.wh.passwd".to_owned(), tar::EntryType::Regular),
            ]
        );
        // The runtime's /etc/hosts is never a change.
        let all = write_changes(&upper, &[image], Vec::new()).expect("diff tar");
        let names: Vec<String> = entries(&all).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"new/f".to_owned()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("hosts")), "{names:?}");
    }

    /// What the walk listed was swapped for symlinks before the tar was
    /// written (a running container racing `commit --pause=false`):
    /// nothing outside the writable layer is read.
    #[test]
    fn swapped_paths_are_never_followed_out_of_the_layer() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (outside, upper) = (tmp.path().join("outside"), tmp.path().join("upper"));
        fs::create_dir_all(outside.join("d")).expect("mkdir");
        fs::write(outside.join("d/f"), "host secret").expect("write");
        fs::write(outside.join("g"), "host secret").expect("write");
        fs::create_dir_all(upper.join("d")).expect("mkdir");
        fs::write(upper.join("d/f"), "mine").expect("write");
        fs::write(upper.join("g"), "mine").expect("write");
        let list = changes::diff(&upper, &[]).expect("diff");
        // The swap: a directory and a file become symlinks out.
        fs::remove_dir_all(upper.join("d")).expect("rm");
        std::os::unix::fs::symlink(outside.join("d"), upper.join("d")).expect("symlink");
        fs::remove_file(upper.join("g")).expect("rm");
        std::os::unix::fs::symlink(outside.join("g"), upper.join("g")).expect("symlink");
        let bytes = write_tar(&upper, &list, Vec::new()).expect("tar");
        assert!(
            !bytes.windows(11).any(|w| w == b"host secret"),
            "read outside the layer"
        );
        // The symlinks as links; nothing below the swapped directory.
        assert_eq!(
            entries(&bytes),
            vec![
                ("d".to_owned(), tar::EntryType::Symlink),
                ("g".to_owned(), tar::EntryType::Symlink),
            ]
        );
    }
}
