//! The content store: blobs (layers, manifests, configs) named by their
//! SHA-256 digest under `blobs/sha256/<hex>`.
//!
//! Contract:
//! - a blob is visible under its digest only once it is complete and its
//!   digest verified ([`Writer::commit`]): writes go to `ingest/`, are
//!   fsynced, then renamed into place;
//! - interrupted writes leave only `ingest/` files, swept by [`ContentStore::open`];
//! - committing a blob that already exists is a no-op (content addressing);
//! - blobs are immutable once committed.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use skiff_oci::{Digest, Hasher};

use crate::atomic;

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// An I/O error on a store path.
    #[error("content store {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The bytes written do not hash to the expected digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the writer was told to expect.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The bytes written are not of the expected size.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Expected size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// No such blob.
    #[error("blob {0} not found")]
    NotFound(Digest),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A content-addressed blob store rooted at one directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Open (creating) the store at `root`, discarding interrupted ingests.
    pub fn open(root: &Path) -> Result<Self, ContentError> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        for dir in [&blobs, &ingest] {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        atomic::sweep_temporaries(&ingest).map_err(io_err(&ingest))?;
        Ok(Self { blobs, ingest })
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Size of the blob, or `None` if it is absent.
    pub fn size(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.path(digest)).ok().map(|m| m.len())
    }

    /// Whether the blob exists.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Open the blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => ContentError::Io { path, source: e },
        })
    }

    /// Read a whole (small) blob.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut out = Vec::new();
        let path = self.path(digest);
        self.open_blob(digest)?
            .read_to_end(&mut out)
            .map_err(io_err(&path))?;
        Ok(out)
    }

    /// Store `bytes`, verifying them against `expected` when given.
    pub fn write_blob(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
    ) -> Result<Digest, ContentError> {
        let actual = Digest::of(bytes);
        if let Some(expected) = expected {
            if *expected != actual {
                return Err(ContentError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        if !self.contains(&actual) {
            let mut w = self.writer()?;
            w.write_all(bytes).map_err(io_err(&self.ingest))?;
            w.commit(Some(&actual), None)?;
        }
        Ok(actual)
    }

    /// Start writing a new blob.
    pub fn writer(&self) -> Result<Writer, ContentError> {
        let path = atomic::temp_sibling(&self.ingest.join("blob"));
        let file = File::create(&path).map_err(io_err(&path))?;
        Ok(Writer {
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            path,
            blobs: self.blobs.clone(),
            hasher: Hasher::new(),
            size: 0,
            started: 0,
        })
    }

    /// Remove a blob; absent blobs are not an error.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ContentError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Every blob digest in the store.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.blobs).map_err(io_err(&self.blobs))? {
            let entry = entry.map_err(io_err(&self.blobs))?;
            if let Ok(d) = Digest::from_hex(&entry.file_name().to_string_lossy()) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// An in-progress blob write. Dropping it without [`Writer::commit`] discards
/// the partial data.
#[derive(Debug)]
pub struct Writer {
    file: Option<BufWriter<File>>,
    path: PathBuf,
    blobs: PathBuf,
    hasher: Hasher,
    size: u64,
    /// Bytes whose writeback to disk was started ([`start_writeback`]).
    started: u64,
}

/// Bytes of a blob written between two starts of their writeback.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Start writing `len` bytes of `file` from `offset` back to disk without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that the fsync
/// of [`Writer::commit`] finds a large blob written or under way rather
/// than starting all of it then. A hint: a failure is ignored (the fsync
/// still writes everything).
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range takes no pointer, only the descriptor, which
    // `file` keeps open for the duration of the call.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

impl Writer {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of the bytes written so far (what [`Writer::commit`]
    /// publishes the blob under, if nothing more is written).
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Verify, fsync and publish the blob under its digest. With `expected`
    /// the content must hash to it; with `expected_size` it must be that long.
    pub fn commit(
        mut self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Digest, ContentError> {
        let file = self.file.take();
        let hasher = std::mem::take(&mut self.hasher);
        let actual = hasher.finish();
        if let Some(expected) = expected {
            if *expected != actual {
                return Err(ContentError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        if let Some(expected) = expected_size {
            if expected != self.size {
                return Err(ContentError::SizeMismatch {
                    digest: actual,
                    expected,
                    actual: self.size,
                });
            }
        }
        if let Some(file) = file {
            let file = file.into_inner().map_err(|e| ContentError::Io {
                path: self.path.clone(),
                source: e.into_error(),
            })?;
            file.sync_all().map_err(io_err(&self.path))?;
        }
        let target = self.blobs.join(actual.hex());
        skiff_failpoint::point!(skiff_failpoint::CONTENT_BEFORE_RENAME);
        fs::rename(&self.path, &target).map_err(io_err(&target))?;
        atomic::sync_parent(&target).map_err(io_err(&target))?;
        skiff_failpoint::point!(skiff_failpoint::CONTENT_AFTER_RENAME);
        Ok(actual)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        // What the buffer handed to the kernel so far.
        let handed = self.size - file.buffer().len() as u64;
        if handed - self.started >= WRITEBACK_STEP {
            start_writeback(file.get_ref(), self.started, handed - self.started);
            self.started = handed;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.file.is_some() || self.path.exists() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_verify_read_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(dir.path()).expect("open");
        let d = store.write_blob(b"hello", None).expect("write");
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(store.read(&d).expect("read"), b"hello");
        assert_eq!(store.size(&d), Some(5));
        assert_eq!(store.list().expect("list"), vec![d.clone()]);
        store.delete(&d).expect("delete");
        assert!(!store.contains(&d));
        assert!(matches!(store.read(&d), Err(ContentError::NotFound(_))));
    }

    #[test]
    fn a_lying_blob_is_never_published() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(dir.path()).expect("open");
        let claimed = Digest::of(b"the real thing");
        let mut w = store.writer().expect("writer");
        w.write_all(b"an impostor").expect("write");
        assert!(matches!(
            w.commit(Some(&claimed), None),
            Err(ContentError::DigestMismatch { .. })
        ));
        assert!(store.list().expect("list").is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("ingest"))
                .expect("ingest")
                .count(),
            0,
            "partial ingest removed"
        );
    }

    #[test]
    fn interrupted_ingest_is_swept_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(dir.path()).expect("open");
        let mut w = store.writer().expect("writer");
        w.write_all(b"half").expect("write");
        w.flush().expect("flush");
        std::mem::forget(w); // as if the process died here
        assert_eq!(
            fs::read_dir(dir.path().join("ingest"))
                .expect("ingest")
                .count(),
            1
        );
        let store = ContentStore::open(dir.path()).expect("reopen");
        assert_eq!(
            fs::read_dir(dir.path().join("ingest"))
                .expect("ingest")
                .count(),
            0
        );
        assert!(store.list().expect("list").is_empty());
    }
}
