//! An OCI distribution (registry v2) client for pulling and pushing images: Docker's
//! token auth and basic auth, manifests and indexes, streaming blobs,
//! Docker Hub mirrors and insecure registries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), skiff_registry::RegistryError> {
//! use skiff_oci::Reference;
//! use skiff_registry::{RegistryClient, RegistryConfig};
//!
//! let client = RegistryClient::new(RegistryConfig::default())?;
//! let reference = Reference::parse("busybox").expect("valid").with_default_tag();
//! let (repository, manifest) = client.pull_manifest(&reference, None).await?;
//! // An index? pick a child with skiff_oci::platform::select, then
//! // repository.manifest(&child.digest.to_string()); then the config with
//! // repository.blob_bytes(..) and each layer with repository.blob(..).
//! # let _ = (repository, manifest);
//! # Ok(()) }
//! ```
//!
//! Errors are one [`RegistryError`]; see [`RegistryError::kind`] to tell
//! not-found, unauthorized and transport failures apart.

#![warn(missing_docs)]

mod auth;
mod body;
mod challenge;
mod chunked;
mod client;
mod config;
mod credentials;
mod endpoint;
mod error;
mod fallback;
mod push;
mod repository;
mod session;

pub use client::{LoginOutcome, RegistryClient};
pub use config::RegistryConfig;
pub use credentials::{AuthConfig, Credentials};
pub use endpoint::Endpoint;
pub use error::{ErrorEntry, ErrorKind, RegistryError};
pub use push::{
    BlobOpener, DEFAULT_CHUNK_SIZE, Mount, PushRepository, UPLOAD_ATTEMPTS, UploadObserver,
    is_retryable,
};
pub use repository::{BlobStream, FetchedManifest, MAX_MANIFEST_SIZE, Repository};
