//! One layer's way into the stores: network → digest → decompress → untar, in
//! one streaming pass. The compressed bytes are hashed and written to the
//! content store as they arrive while the same bytes are decompressed,
//! hashed again (the diff id) and unpacked into a fresh snapshot. Nothing is
//! published unless both digests verify.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use skiff_oci::documents::Descriptor;
use skiff_oci::{Digest, Hasher};
use skiff_registry::Repository;
use skiff_store::compression::{self, Compression};
use skiff_store::content::Writer;
use skiff_store::snapshots::LayerInfo;
use skiff_store::unpack;

use super::Stores;
use super::error::ImageError;
use super::progress::ProgressSink;
use crate::streams::ChannelReader;

/// What a layer must verify against.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The blob's digest and size, when known (registry pulls).
    pub blob: Option<(Digest, u64)>,
    /// The uncompressed digest, when known (from the image config).
    pub diff_id: Option<Digest>,
}

/// Hashes, counts and optionally stores everything read through it (a
/// content store writer hashes what it stores: then `hasher` is `None`
/// and the writer's digest is the blob's).
struct Tee<R> {
    inner: R,
    sink: Option<Writer>,
    hasher: Option<Hasher>,
    count: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        if let Some(sink) = self.sink.as_mut() {
            io::Write::write_all(sink, &buf[..n])?;
        }
        Ok(n)
    }
}

/// Hashes (when `hasher` is set) and counts what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Option<Hasher>,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

fn media_type_for(kind: Compression) -> &'static str {
    match kind {
        Compression::Gzip => skiff_oci::documents::OCI_LAYER_GZIP,
        Compression::Zstd => skiff_oci::documents::OCI_LAYER_ZSTD,
        Compression::None => skiff_oci::documents::OCI_LAYER_TAR,
    }
}

/// Blocking: unpack a (possibly compressed) layer stream into a new snapshot,
/// storing the raw bytes as a blob through `sink` when given, verifying
/// `expect`. `media_type` names the blob's type (sniffed when `None`).
pub fn unpack_stream(
    stores: &Stores,
    input: impl Read,
    sink: Option<Writer>,
    expect: &Expect,
    media_type: Option<&str>,
) -> Result<LayerInfo, ImageError> {
    let pending = stores.snapshots.prepare()?;
    let mut tee = Tee {
        inner: input,
        hasher: sink.is_none().then(Hasher::new),
        sink,
        count: 0,
    };
    let what = |e: io::Error| ImageError::Layer(format!("reading layer: {e}"));
    // A plain tar's diff id is its blob digest: it is hashed once.
    let (kind, diff_hasher, tar_size, stats) = {
        let (kind, decompressed) = compression::decompress(&mut tee).map_err(what)?;
        let mut hashing = Hashing {
            inner: decompressed,
            hasher: (kind != Compression::None).then(Hasher::new),
            count: 0,
        };
        let stats = unpack::unpack(&mut hashing, &pending.fs_path())?;
        // The tar's end-of-archive padding, and anything after it.
        io::copy(&mut hashing, &mut io::sink()).map_err(what)?;
        (kind, hashing.hasher, hashing.count, stats)
    };
    io::copy(&mut tee, &mut io::sink()).map_err(what)?;
    let Tee {
        sink,
        hasher,
        count,
        ..
    } = tee;
    // Without a sink the tee hashed (its hasher is set exactly then).
    let blob = match &sink {
        Some(w) => w.digest(),
        None => hasher.unwrap_or_default().finish(),
    };
    let diff_id = diff_hasher.map_or_else(|| blob.clone(), Hasher::finish);
    if let Some((want, size)) = &expect.blob {
        if *want != blob {
            return Err(ImageError::Layer(format!(
                "filesystem layer verification failed for digest {want}: got {blob}"
            )));
        }
        if *size != count {
            return Err(ImageError::Layer(format!(
                "layer {want}: expected {size} bytes, got {count}"
            )));
        }
    }
    if let Some(want) = &expect.diff_id {
        if *want != diff_id {
            return Err(ImageError::Layer(format!(
                "layer {blob}: uncompressed digest {diff_id} does not match the image config's {want}"
            )));
        }
    }
    if let Some(sink) = sink {
        sink.commit(Some(&blob), Some(count))?;
    }
    let info = LayerInfo {
        diff_id,
        blob,
        blob_media_type: media_type
            .map(str::to_owned)
            .unwrap_or_else(|| media_type_for(kind).to_owned()),
        blob_size: count,
        tar_size,
        unpacked_size: stats.bytes,
    };
    pending.commit(&info)?;
    Ok(info)
}

/// Blocking: unpack a layer whose blob is already in the content store.
pub fn unpack_local(
    stores: &Stores,
    desc: &Descriptor,
    diff_id: &Digest,
) -> Result<LayerInfo, ImageError> {
    let file = stores.content.open_blob(&desc.digest)?;
    let expect = Expect {
        blob: Some((desc.digest.clone(), desc.size)),
        diff_id: Some(diff_id.clone()),
    };
    unpack_stream(
        stores,
        io::BufReader::with_capacity(1 << 20, file),
        None,
        &expect,
        Some(&desc.media_type),
    )
}

/// How often download progress is reported per layer.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Download attempts per layer (dockerd's `maxDownloadAttempts`).
const DOWNLOAD_ATTEMPTS: u32 = 5;
/// The pause before attempt `n + 1` is `n ×` this.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// How one download attempt failed.
enum Failed {
    /// The registry answered 5xx / 408 / 429 or the connection failed,
    /// timed out or broke: another attempt may succeed.
    Retryable(ImageError),
    /// Anything else (a digest that does not verify, a bad layer, a store
    /// error): final.
    Final(ImageError),
}

impl From<ImageError> for Failed {
    fn from(e: ImageError) -> Self {
        Failed::Final(e)
    }
}

/// Fetch one layer from `repo` and unpack it as it streams in, reporting
/// docker's per-layer progress under the blob's short id. A download that
/// fails in a way another attempt may not (see [`Failed`]) is started over
/// (nothing of the failed attempt is kept), up to [`DOWNLOAD_ATTEMPTS`]
/// in all, reporting docker's `Retrying in N seconds`.
pub async fn fetch(
    repo: &Repository,
    stores: &Arc<Stores>,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: &ProgressSink,
) -> Result<LayerInfo, ImageError> {
    let mut attempt = 1;
    loop {
        match fetch_once(repo, stores, desc, diff_id, progress).await {
            Ok(info) => return Ok(info),
            Err(Failed::Retryable(e)) if attempt < DOWNLOAD_ATTEMPTS => {
                let delay = RETRY_DELAY * attempt;
                tracing::info!(digest = %desc.digest, attempt, "layer download failed, retrying: {e}");
                progress.retrying(desc.digest.short(), delay);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(Failed::Retryable(e) | Failed::Final(e)) => return Err(e),
        }
    }
}

/// One attempt of [`fetch`].
async fn fetch_once(
    repo: &Repository,
    stores: &Arc<Stores>,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: &ProgressSink,
) -> Result<LayerInfo, Failed> {
    let id = desc.digest.short().to_owned();
    if stores.content.contains(&desc.digest) {
        progress.status(Some(&id), "Extracting");
        let (stores, desc2, diff) = (stores.clone(), desc.clone(), diff_id.clone());
        let info = tokio::task::spawn_blocking(move || unpack_local(&stores, &desc2, &diff))
            .await
            .map_err(ImageError::from)??;
        progress.status(Some(&id), "Pull complete");
        return Ok(info);
    }
    let blob = repo.blob(&desc.digest).await.map_err(|e| {
        let retry = skiff_registry::is_retryable(&e);
        let e = ImageError::Registry(e.to_string());
        if retry {
            Failed::Retryable(e)
        } else {
            Failed::Final(e)
        }
    })?;
    let total = blob.size.or(Some(desc.size));
    let (tx, reader) = ChannelReader::new();
    let writer = stores.content.writer().map_err(ImageError::from)?;
    let worker = {
        let stores = stores.clone();
        let expect = Expect {
            blob: Some((desc.digest.clone(), desc.size)),
            diff_id: Some(diff_id.clone()),
        };
        let media_type = desc.media_type.clone();
        tokio::task::spawn_blocking(move || {
            unpack_stream(&stores, reader, Some(writer), &expect, Some(&media_type))
        })
    };
    let mut body = blob.body;
    let mut done = 0u64;
    let mut last = Instant::now();
    let mut broken = false;
    progress.bytes(&id, "Downloading", 0, total);
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                done += bytes.len() as u64;
                if tx.send(Ok(bytes)).await.is_err() {
                    break; // the worker stopped; its result says why
                }
                if last.elapsed() >= PROGRESS_EVERY {
                    progress.bytes(&id, "Downloading", done, total);
                    last = Instant::now();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                broken = skiff_registry::is_retryable(&e);
                break;
            }
        }
    }
    drop(tx);
    if !broken {
        progress.status(Some(&id), "Verifying Checksum");
        progress.status(Some(&id), "Download complete");
    }
    let info = match worker.await.map_err(ImageError::from)? {
        Ok(info) => info,
        // The connection broke: the worker saw the error, another attempt
        // may get the whole blob.
        Err(e) if broken => return Err(Failed::Retryable(e)),
        Err(e) => return Err(Failed::Final(e)),
    };
    progress.status(Some(&id), "Extracting");
    progress.status(Some(&id), "Pull complete");
    Ok(info)
}
