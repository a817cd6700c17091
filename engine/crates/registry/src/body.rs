//! Bounded reading of response bodies.

use bytes::{Bytes, BytesMut};

use crate::error::RegistryError;

/// Read a whole body, failing with [`RegistryError::TooLarge`] beyond
/// `limit` bytes (checked against `Content-Length` first, then while
/// reading).
pub(crate) async fn read_limited(
    url: &str,
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Bytes, RegistryError> {
    let too_large = || RegistryError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let capacity = usize::try_from(announced.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(capacity);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| RegistryError::body(url, e))?
    {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
