//! Chunked blob uploads (distribution spec, "Pushing a blob in chunks"):
//! `PATCH <location>` with `Content-Range: <start>-<end>` per chunk, each
//! answer naming the next location and the bytes received (`Range:
//! 0-<last>`), then `PUT <location>&digest=<d>` with no body.
//!
//! A failed chunk (transport error, 5xx, 408, 429) is retried, at most
//! [`UPLOAD_ATTEMPTS`] times in a row, from where the registry says the
//! upload stands (`GET <location>`, its `Range`), so the bytes it kept of a
//! broken chunk are not sent twice.

use std::sync::Arc;

use http::StatusCode;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};

use crate::error::RegistryError;
use crate::push::{
    Blob, BlobOpener, PushRepository, UPLOAD_ATTEMPTS, UploadObserver, file_body, is_retryable,
    location,
};

impl PushRepository {
    /// Upload `blob` in chunks of `chunk` bytes, to
    /// `started` or a new upload session; see the module docs.
    pub(crate) async fn upload_chunked(
        &self,
        blob: Blob<'_>,
        started: Option<String>,
        chunk: u64,
    ) -> Result<(), RegistryError> {
        let Blob {
            digest,
            size,
            open,
            observer,
        } = blob;
        let mut location = self.upload_location(started).await?;
        let mut offset = 0;
        let mut attempt = 1;
        while offset < size {
            let len = chunk.min(size - offset);
            match self.patch(&location, offset, len, open, observer).await {
                Ok((next, received)) => {
                    location = next;
                    offset = received.max(offset + len).min(size);
                    attempt = 1;
                }
                Err(error) if attempt < UPLOAD_ATTEMPTS && is_retryable(&error) => {
                    let delay = self.retry_delay * attempt;
                    tracing::info!(%digest, %error, offset, attempt, "chunk upload failed, retrying");
                    observer.retrying(&error, delay);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    (location, offset) = self.status(&location).await?;
                }
                Err(error) => return Err(error),
            }
        }
        self.finish_upload(&location, digest, 0, None).await
    }

    /// One chunk; the next location and the bytes the registry now holds.
    async fn patch(
        &self,
        url: &str,
        offset: u64,
        len: u64,
        open: BlobOpener<'_>,
        observer: &Arc<dyn UploadObserver>,
    ) -> Result<(String, u64), RegistryError> {
        let range = format!("{offset}-{}", offset + len - 1);
        let response = self
            .session
            .send("Patch", url, |h| {
                h.patch(url)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, len)
                    .header(CONTENT_RANGE, &range)
                    .body(file_body(open, observer, offset, len))
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(RegistryError::from_response(url, response).await);
        }
        Ok((location(url, &response)?, received(&response)))
    }

    /// `GET <location>`: where an upload stands (its location, and the
    /// bytes received).
    async fn status(&self, url: &str) -> Result<(String, u64), RegistryError> {
        let response = self.session.send("Get", url, |h| h.get(url)).await?;
        if response.status() != StatusCode::NO_CONTENT {
            return Err(RegistryError::from_response(url, response).await);
        }
        let next = location(url, &response).unwrap_or_else(|_| url.to_owned());
        Ok((next, received(&response)))
    }
}

/// Bytes received per a `Range: 0-<last>` header (distribution writes
/// `0-0` for an empty upload too; it is read as nothing received).
fn received(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once('-'))
        .and_then(|(_, last)| last.parse::<u64>().ok())
        .map_or(0, |last| if last == 0 { 0 } else { last + 1 })
}
