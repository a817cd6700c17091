//! Pushing to one repository at one endpoint: blob existence checks,
//! cross-repository mounts, streamed blob uploads with retries, and
//! manifest puts (distribution spec, "Pushing blobs" and "Pushing
//! manifests").
//!
//! An upload is `POST /v2/<name>/blobs/uploads/` (or the session a refused
//! mount opened) then one monolithic `PUT <location>&digest=<d>` whose body
//! streams the blob from a file. A failed attempt (transport error, 5xx,
//! 408, 429) is started over from a new upload session, at most
//! [`UPLOAD_ATTEMPTS`] times. A registry that refuses the whole blob in one
//! request (413), or a repository made [`PushRepository::with_chunk_size`],
//! gets it in `PATCH` chunks instead (see `chunked.rs`).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use http::StatusCode;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::Url;
use skiff_oci::Digest;

use crate::client::RegistryClient;
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::RegistryError;
use crate::session::Session;

/// Attempts at uploading one blob before giving up.
pub const UPLOAD_ATTEMPTS: u32 = 3;
/// Chunk size of chunked uploads when the registry refuses a whole blob
/// in one request.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;
/// The header registries announce content digests in.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// What a mount attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob from the source repository (201).
    Mounted,
    /// The registry opened an upload session instead (202); its location,
    /// to pass to [`PushRepository::upload`].
    Started(String),
}

/// Where an upload's progress and retries are reported.
pub trait UploadObserver: Send + Sync + 'static {
    /// `sent` bytes of the blob have been handed to the connection.
    fn sent(&self, sent: u64);
    /// The attempt failed with `error`; the next starts in `delay`.
    fn retrying(&self, error: &RegistryError, delay: Duration);
}

/// The blob content to upload: opened anew for every attempt.
pub type BlobOpener<'a> = &'a (dyn Fn() -> io::Result<std::fs::File> + Send + Sync);

/// One blob being uploaded: its digest and size, where its bytes come
/// from, and where progress goes.
#[derive(Clone, Copy)]
pub(crate) struct Blob<'a> {
    pub(crate) digest: &'a Digest,
    pub(crate) size: u64,
    pub(crate) open: BlobOpener<'a>,
    pub(crate) observer: &'a Arc<dyn UploadObserver>,
}

/// A repository at one endpoint with `pull,push` access (and `pull` on the
/// repositories blobs may be mounted from). Cheap to clone; clones may
/// upload concurrently.
#[derive(Clone)]
pub struct PushRepository {
    pub(crate) session: Session,
    name: String,
    /// Pause before retry `n` is `n × retry_delay`.
    pub(crate) retry_delay: Duration,
    /// Upload in `PATCH` chunks of this size from the start (else only
    /// after a monolithic `PUT` is refused as too large).
    chunk_size: Option<u64>,
}

impl fmt::Debug for PushRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushRepository")
            .field("endpoint", &self.session.endpoint().url())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PushRepository {
    pub(crate) fn new(
        client: RegistryClient,
        endpoint: Endpoint,
        name: &str,
        mount_sources: &[String],
        creds: Option<Credentials>,
    ) -> Self {
        let mut scope = format!("repository:{name}:pull,push");
        for source in mount_sources.iter().filter(|s| *s != name) {
            scope.push_str(&format!(" repository:{source}:pull"));
        }
        Self {
            session: Session::new(client, endpoint, Some(scope), creds),
            name: name.to_owned(),
            retry_delay: Duration::from_secs(1),
            chunk_size: None,
        }
    }

    /// The same repository uploading in `PATCH` chunks of `size` bytes.
    #[must_use]
    pub fn with_chunk_size(mut self, size: u64) -> Self {
        self.chunk_size = Some(size.max(1));
        self
    }

    /// The same repository with another pause between upload attempts.
    #[must_use]
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// The repository name on the registry (`library/busybox`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint pushed to.
    pub fn endpoint(&self) -> &Endpoint {
        self.session.endpoint()
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: whether the repository has the
    /// blob.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.endpoint().v2(&format!("{}/blobs/{digest}", self.name));
        let response = self.session.send("Head", &url, |h| h.head(&url)).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            // A refused HEAD has no body to carry the registry's words:
            // say "unknown" and let the upload request that follows fail
            // with them (`denied: requested access to the resource is
            // denied`), as docker reports it.
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(false),
            _ => Err(RegistryError::from_response(&url, response).await),
        }
    }

    /// Ask the registry to link `digest` from repository `from` (same
    /// registry) instead of uploading it.
    pub async fn mount(&self, digest: &Digest, from: &str) -> Result<Mount, RegistryError> {
        let url = self.uploads_url();
        let query = [("mount", digest.to_string()), ("from", from.to_owned())];
        let response = self
            .session
            .send("Post", &url, |h| {
                h.post(&url).query(&query).header(CONTENT_LENGTH, 0)
            })
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Started(location(&url, &response)?)),
            _ => Err(RegistryError::from_response(&url, response).await),
        }
    }

    /// Upload a blob of `size` bytes that hashes to `digest`, streamed from
    /// the file `open` returns (opened again for each attempt). `started`
    /// is an upload session already opened (by a refused mount), used by
    /// the first attempt. Retries as the module docs say.
    pub async fn upload(
        &self,
        digest: &Digest,
        size: u64,
        open: BlobOpener<'_>,
        started: Option<String>,
        observer: &Arc<dyn UploadObserver>,
    ) -> Result<(), RegistryError> {
        let blob = Blob {
            digest,
            size,
            open,
            observer,
        };
        let mut started = started;
        let mut attempt = 1;
        let mut chunk_size = self.chunk_size;
        loop {
            let result = match chunk_size {
                None => self.upload_once(blob, started.take()).await,
                Some(chunk) => self.upload_chunked(blob, started.take(), chunk).await,
            };
            match result {
                Ok(()) => return Ok(()),
                // Too large for one request: in chunks, without counting
                // an attempt.
                Err(error)
                    if chunk_size.is_none()
                        && error.status() == Some(StatusCode::PAYLOAD_TOO_LARGE) =>
                {
                    tracing::info!(%digest, "monolithic upload refused as too large, uploading in chunks");
                    chunk_size = Some(DEFAULT_CHUNK_SIZE);
                }
                Err(error) if attempt < UPLOAD_ATTEMPTS && is_retryable(&error) => {
                    let delay = self.retry_delay * attempt;
                    tracing::info!(%digest, %error, attempt, "blob upload failed, retrying");
                    observer.retrying(&error, delay);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One monolithic attempt: the whole blob in the body of the closing
    /// `PUT`.
    async fn upload_once(
        &self,
        blob: Blob<'_>,
        started: Option<String>,
    ) -> Result<(), RegistryError> {
        let location = self.upload_location(started).await?;
        let body = || file_body(blob.open, blob.observer, 0, blob.size);
        self.finish_upload(&location, blob.digest, blob.size, Some(&body))
            .await
    }

    /// `started` when a session is already open, else a new session's
    /// location.
    pub(crate) async fn upload_location(
        &self,
        started: Option<String>,
    ) -> Result<String, RegistryError> {
        match started {
            Some(location) => Ok(location),
            None => self.start_upload().await,
        }
    }

    /// `PUT <location>&digest=<digest>`: closes the upload, with `len`
    /// bytes of the body `body` builds (`None` and 0 when chunks carried
    /// them already). Anything but 201 is the registry's error.
    pub(crate) async fn finish_upload(
        &self,
        location: &str,
        digest: &Digest,
        len: u64,
        body: Option<&(dyn Fn() -> reqwest::Body + Sync)>,
    ) -> Result<(), RegistryError> {
        let put_url = with_digest(location, digest)?;
        let response = self
            .session
            .send("Put", &put_url, |h| {
                let request = h
                    .put(&put_url)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, len);
                match body {
                    Some(body) => request.body(body()),
                    None => request,
                }
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(RegistryError::from_response(&put_url, response).await);
        }
        Ok(())
    }

    /// `POST /v2/<name>/blobs/uploads/`: a new upload session's location.
    pub(crate) async fn start_upload(&self) -> Result<String, RegistryError> {
        let url = self.uploads_url();
        let response = self
            .session
            .send("Post", &url, |h| h.post(&url).header(CONTENT_LENGTH, 0))
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(RegistryError::from_response(&url, response).await);
        }
        location(&url, &response)
    }

    /// `PUT /v2/<name>/manifests/<reference>` with `bytes` as they are,
    /// typed `media_type`. Returns the digest of `bytes` (the registry's
    /// `Docker-Content-Digest` must agree when it sends one).
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<Digest, RegistryError> {
        let url = self
            .endpoint()
            .v2(&format!("{}/manifests/{reference}", self.name));
        let response = self
            .session
            .send("Put", &url, |h| {
                h.put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        if !response.status().is_success() {
            return Err(RegistryError::from_response(&url, response).await);
        }
        let digest = Digest::of(&bytes);
        let announced = response
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<Digest>().ok());
        if let Some(announced) = announced.filter(|a| a != &digest) {
            return Err(RegistryError::DigestMismatch {
                url,
                expected: digest,
                actual: announced,
            });
        }
        Ok(digest)
    }

    fn uploads_url(&self) -> String {
        self.endpoint().v2(&format!("{}/blobs/uploads/", self.name))
    }
}

/// `location` with `digest=<digest>` added to its query.
pub(crate) fn with_digest(location: &str, digest: &Digest) -> Result<String, RegistryError> {
    let mut url = Url::parse(location)
        .map_err(|e| RegistryError::invalid_response(location, e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    Ok(url.to_string())
}

/// Whether another attempt may succeed where `error` failed.
pub fn is_retryable(error: &RegistryError) -> bool {
    if error.is_transport() {
        return true;
    }
    error.status().is_some_and(|s| {
        s.is_server_error()
            || s == StatusCode::REQUEST_TIMEOUT
            || s == StatusCode::TOO_MANY_REQUESTS
    })
}

/// The absolute upload location a 202 names (it may be relative).
pub(crate) fn location(url: &str, response: &reqwest::Response) -> Result<String, RegistryError> {
    let value = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::invalid_response(url, "upload answer without Location"))?;
    let base = Url::parse(url).map_err(|e| RegistryError::invalid_response(url, e.to_string()))?;
    base.join(value)
        .map(|u| u.to_string())
        .map_err(|e| RegistryError::invalid_response(url, format!("invalid Location: {e}")))
}

/// A request body streaming `len` bytes from `offset` of the file `open`
/// returns, reporting the bytes handed over (counted from the file's start).
/// An open or seek failure becomes a failed body (the attempt fails).
pub(crate) fn file_body(
    open: BlobOpener<'_>,
    observer: &Arc<dyn UploadObserver>,
    offset: u64,
    len: u64,
) -> reqwest::Body {
    let opened = open().and_then(|mut file| {
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        Ok(file)
    });
    let file = match opened {
        Ok(file) => file,
        Err(e) => {
            return reqwest::Body::wrap_stream(futures_util::stream::once(async move {
                Err::<bytes::Bytes, io::Error>(e)
            }));
        }
    };
    let observer = observer.clone();
    let mut sent = offset;
    let reader = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), len);
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            sent += bytes.len() as u64;
            observer.sent(sent);
        }
        chunk
    });
    reqwest::Body::wrap_stream(stream)
}
