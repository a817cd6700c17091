//! skiff-engine, the services of Skiff's container engine. It knows
//! nothing of HTTP: the Docker Engine API is crate `skiffd` (`engine/api`),
//! which parses requests into typed actions and calls the public methods of
//! these services.
//!
//! Layers, each depending only on those below it:
//! - [`daemon`]: the services of one engine, built from its [`config`];
//! - services: [`containers`] (the container lifecycle over per-container
//!   shims, crate `skiff-shim`), [`images`] (pull, list, inspect, tag,
//!   remove, load, save, import), [`events`] (the event bus);
//! - stores, reachable only inside this crate: the container records
//!   (`containers::store`, the container service's) and, in crate
//!   `skiff-store`, content blobs, layer snapshots and image records (the
//!   image service's, which the container service reads for image layers);
//!   the registry client (crate `skiff-registry`).

#![warn(missing_docs)]

pub mod build;
pub mod check;
pub mod config;
pub mod containers;
pub mod daemon;
pub mod errdefs;
pub mod events;
pub mod host;
pub mod images;
pub mod memory;
pub mod mounts;
pub mod networks;
pub mod streams;
pub mod volumes;
