//! skiffd's on-disk stores, below the services and knowing nothing of HTTP:
//!
//! - [`content`]: content-addressed blobs with digest verification and atomic commit;
//! - [`unpack`]: the safe layer-tar unpacker (whiteouts → overlay form, no escapes);
//! - [`snapshots`]: one unpacked directory per layer, keyed by diff id;
//! - [`images`]: image records and the tag table.
//!
//! Every write is atomic: a kill -9 at any moment leaves stores that reopen cleanly.

#![warn(missing_docs)]

pub mod atomic;
pub mod compression;
pub mod content;
pub mod images;
pub mod snapshots;
pub mod unpack;
