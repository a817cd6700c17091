//! The container engine (skiffd, or any Docker-compatible engine) over
//! bollard.
//!
//! [`Engine`] finds the endpoint ([`endpoint`]), keeps one connected client
//! and drops it when a request finds the engine gone, so the next request
//! looks again. The operations live in [`containers`] (ports: [`publish`]), [`images`] (and their [`history`], [`build`] with [`dockerignore`], [`push`]),
//! [`projects`] (compose), [`volumes`], [`networks`], [`logs`], [`stats`], [`terminal`] (exec -it), [`files`] (the archive API) and [`events`] (the background task
//! following `/events`).

pub use skiff_desktop_core::engine::{containers, endpoint, events, publish};
pub mod build;
pub mod dockerignore;
pub mod files;
pub mod history;
pub mod images;
pub mod logs;
pub mod networks;
pub mod projects;
pub mod push;
pub mod raw;
pub mod stats;
pub mod terminal;
pub mod volumes;

pub use skiff_desktop_core::engine::{Connection, Engine, EngineStatus, labels, rfc3339};
