//! One repository at one endpoint: manifests and blobs.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde::de::IgnoredAny;
use skiff_oci::Digest;
use skiff_oci::documents::{MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST};

use crate::body::read_limited;
use crate::client::RegistryClient;
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::RegistryError;
use crate::session::Session;

/// Largest manifest accepted (containerd's limit).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
/// Most pages of `tags/list` followed.
pub const MAX_TAG_PAGES: usize = 20;
/// The header registries announce content digests in.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// Total time allowed for a manifest request.
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A manifest (or index) as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedManifest {
    /// sha256 of `bytes` (verified against the request when fetched by
    /// digest).
    pub digest: Digest,
    /// The media type: the response's `Content-Type` when it names a
    /// specific (`application/vnd.…`) type, else the document's
    /// `mediaType`, else guessed from its shape (`manifests` → OCI index,
    /// `config` → OCI manifest).
    pub media_type: String,
    /// The raw document, byte for byte (its digest is `digest`).
    pub bytes: Bytes,
}

/// A blob being downloaded. The body is *not* verified: the caller hashes
/// it while consuming it and compares with the digest it asked for.
pub struct BlobStream {
    /// `Content-Length`, when announced.
    pub size: Option<u64>,
    /// The body in chunks; a broken connection yields
    /// [`RegistryError::Body`].
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>,
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A repository at one endpoint, with pull access, for one set of
/// credentials. Cheap to clone; clones may download concurrently.
#[derive(Clone)]
pub struct Repository {
    session: Session,
    name: String,
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("endpoint", &self.session.endpoint().url())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Repository {
    pub(crate) fn new(
        client: RegistryClient,
        endpoint: Endpoint,
        name: &str,
        creds: Option<Credentials>,
    ) -> Self {
        let scope = format!("repository:{name}:pull");
        Self {
            session: Session::new(client, endpoint, Some(scope), creds),
            name: name.to_owned(),
        }
    }

    /// The repository name on the registry (`library/busybox`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint this repository is reached at.
    pub fn endpoint(&self) -> &Endpoint {
        self.session.endpoint()
    }

    /// Fetch a manifest or index by tag or digest (`sha256:…`), accepting
    /// Docker schema2 and OCI manifests and indexes. When `reference` is a
    /// digest the content must hash to it; when it is a tag, to the
    /// `Docker-Content-Digest` the registry announces, if any
    /// ([`RegistryError::DigestMismatch`] otherwise). At most
    /// [`MAX_MANIFEST_SIZE`] bytes.
    pub async fn manifest(&self, reference: &str) -> Result<FetchedManifest, RegistryError> {
        let url = self
            .endpoint()
            .v2(&format!("{}/manifests/{reference}", self.name));
        let accept = MANIFEST_ACCEPT.join(", ");
        let response = self
            .session
            .get(&url, Some(&accept), Some(MANIFEST_TIMEOUT))
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let announced = header(DOCKER_CONTENT_DIGEST).and_then(|d| d.trim().parse::<Digest>().ok());
        let bytes = read_limited(&url, response, MAX_MANIFEST_SIZE).await?;
        let digest = Digest::of(&bytes);
        // By digest: the content must match the request. By tag: it must
        // match what the registry says it is, when it says so.
        let expected = reference.parse::<Digest>().ok().or(announced);
        if let Some(expected) = expected.filter(|e| e != &digest) {
            return Err(RegistryError::DigestMismatch {
                url,
                expected,
                actual: digest,
            });
        }
        let media_type = manifest_media_type(content_type.as_deref(), &bytes);
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// Start downloading a blob (redirects followed). Not verified: see
    /// [`BlobStream`].
    pub async fn blob(&self, digest: &Digest) -> Result<BlobStream, RegistryError> {
        let url = self.blob_url(digest);
        let response = self.session.get(&url, None, None).await?;
        let size = response.content_length();
        let body = response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| RegistryError::body(&url, e)));
        Ok(BlobStream {
            size,
            body: Box::pin(body),
        })
    }

    /// Download a small blob (an image config) whole, verifying its digest;
    /// fails with [`RegistryError::TooLarge`] beyond `max` bytes.
    pub async fn blob_bytes(&self, digest: &Digest, max: u64) -> Result<Bytes, RegistryError> {
        let url = self.blob_url(digest);
        let response = self.session.get(&url, None, None).await?;
        let bytes = read_limited(&url, response, max).await?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                url,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`), in the
    /// registry's order, following `Link: <…>; rel="next"` pages up to
    /// [`MAX_TAG_PAGES`]; each page at most [`MAX_MANIFEST_SIZE`] bytes.
    /// A registry that does not list tags answers with its error (e.g.
    /// `UNSUPPORTED`, 404).
    pub async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut url = self.endpoint().v2(&format!("{}/tags/list", self.name));
        for _ in 0..MAX_TAG_PAGES {
            let response = self
                .session
                .get(&url, Some("application/json"), Some(MANIFEST_TIMEOUT))
                .await?;
            let next = response
                .headers()
                .get(http::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let bytes = read_limited(&url, response, MAX_MANIFEST_SIZE).await?;
            let page: Page =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::InvalidResponse {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                // The link is relative to the registry (`/v2/…?last=…`).
                Some(path) if path.starts_with("/v2/") => {
                    url = self.endpoint().v2(&path["/v2/".len()..]);
                }
                _ => break,
            }
        }
        Ok(tags)
    }

    fn blob_url(&self, digest: &Digest) -> String {
        self.endpoint().v2(&format!("{}/blobs/{digest}", self.name))
    }
}

/// See [`FetchedManifest::media_type`].
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    let header = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
        .filter(|ct| !ct.is_empty());
    if let Some(specific) = header
        .as_ref()
        .filter(|ct| ct.starts_with("application/vnd."))
    {
        return specific.clone();
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<IgnoredAny>,
        #[serde(default)]
        config: Option<IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(mt),
            ..
        }) if !mt.is_empty() => mt,
        Ok(Probe {
            manifests: Some(_), ..
        }) => OCI_INDEX.to_owned(),
        Ok(Probe {
            config: Some(_), ..
        }) => OCI_MANIFEST.to_owned(),
        _ => header.unwrap_or_else(|| "application/octet-stream".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use skiff_oci::documents::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};

    use super::*;

    #[test]
    fn media_type_comes_from_header_then_document_then_shape() {
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}"#;
        let bare_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let bare_manifest = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let cases: &[(Option<&str>, &[u8], &str)] = &[
            (Some(OCI_MANIFEST), bare_manifest, OCI_MANIFEST),
            (
                Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
                b"{}",
                DOCKER_MANIFEST_LIST,
            ),
            (Some("application/json"), docker, DOCKER_MANIFEST),
            (Some("text/plain"), bare_index, OCI_INDEX),
            (None, bare_manifest, OCI_MANIFEST),
            (None, docker, DOCKER_MANIFEST),
            (Some("application/json"), b"not json", "application/json"),
            (None, b"{}", "application/octet-stream"),
        ];
        for (header, body, want) in cases {
            assert_eq!(manifest_media_type(*header, body), *want, "{header:?}");
        }
    }
}

/// The target of a `Link: <…>; rel="next"` header value.
fn next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

#[cfg(test)]
mod tag_tests {
    use super::next_link;

    #[test]
    fn next_links_are_read_from_the_link_header() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
    }
}
