//! The OCI / Docker image vocabulary every layer of skiffd shares: content
//! digests, image references (docker's normalisation), platforms, and the
//! manifest / index / config documents.

#![warn(missing_docs)]

pub mod digest;
pub mod documents;
pub mod platform;
pub mod reference;

pub use digest::{Digest, DigestError, Hasher};
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
