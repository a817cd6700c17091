//! skiffd, Skiff's container engine: a Docker Engine API server.
//!
//! Layers, each depending only on those below it:
//! - [`api`]: HTTP only — parse a request into a typed action, call a
//!   service, stream the answer;
//! - services: [`images`] (pull, list, inspect, tag, remove, load, save,
//!   import), [`events`] (the event bus);
//! - stores (crate `skiff-store`): content blobs, layer snapshots, image
//!   records; and the registry client (crate `skiff-registry`).

pub mod api;
pub mod config;
pub mod containers;
pub mod daemon;
pub mod errdefs;
pub mod events;
pub mod host;
pub mod images;
pub mod memory;
pub mod mounts;
pub mod streams;
pub mod volumes;
