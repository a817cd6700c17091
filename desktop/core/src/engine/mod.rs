//! The container engine (skiffd, or any Docker-compatible engine) over
//! bollard: the part both desktop binaries (the app and the tray) use.
//!
//! [`Engine`] finds the endpoint ([`endpoint`]), keeps one connected client
//! and drops it when a request finds the engine gone, so the next request
//! looks again. [`containers`] lists and acts on containers, [`events`] is
//! the background task following `/events`; the app's other operations
//! (images, volumes, logs, …) live in the app's own `engine` module.

pub mod containers;
pub mod endpoint;
pub mod events;
pub mod publish;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::machine::Machine;

/// Where the endpoint comes from.
#[derive(Debug, Clone)]
enum Source {
    /// Always this endpoint (tests, or a caller that knows).
    Fixed(String),
    /// `SKIFF_DOCKER_HOST`/`DOCKER_HOST` when set, else the machine's
    /// socket and the well-known sockets.
    Auto {
        explicit: Option<String>,
        machine: Machine,
    },
}

/// A connected client and the endpoint it talks to.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The endpoint, e.g. `unix:///run/skiff/docker.sock`.
    pub endpoint: String,
    /// The client.
    pub docker: Docker,
}

/// What `engine_status` returns and `engine-state` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineStatus {
    /// The engine answered.
    pub reachable: bool,
    /// The endpoint used (or the most telling one tried).
    pub endpoint: String,
    /// The engine's version, when reachable.
    pub version: Option<String>,
    /// Why it is not reachable, as a sentence.
    pub error: Option<String>,
}

/// The engine service, cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    source: Source,
    current: Arc<Mutex<Option<Connection>>>,
}

impl Engine {
    /// An engine always reached at `endpoint` (`unix://…` or `tcp://…`).
    pub fn fixed(endpoint: impl Into<String>) -> Engine {
        Engine {
            source: Source::Fixed(endpoint.into()),
            current: Arc::default(),
        }
    }

    /// The engine the environment and `machine` point at.
    pub fn auto(machine: Machine) -> Engine {
        Engine {
            source: Source::Auto {
                explicit: endpoint::explicit_from_env(),
                machine,
            },
            current: Arc::default(),
        }
    }

    /// The endpoints to try, best first.
    pub fn candidates(&self) -> Vec<String> {
        match &self.source {
            Source::Fixed(endpoint) => vec![endpoint.clone()],
            Source::Auto { explicit, machine } => {
                endpoint::candidates(explicit.clone(), machine.running_socket())
            }
        }
    }

    /// The connected client, connecting first when there is none.
    pub async fn connection(&self) -> Result<Connection> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let (endpoint, docker) = endpoint::connect_first(&self.candidates()).await?;
        let conn = Connection { endpoint, docker };
        *self.lock() = Some(conn.clone());
        Ok(conn)
    }

    fn cached(&self) -> Option<Connection> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        // A panic while holding the lock leaves a valid Option behind.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops the cached client: the next request looks for the engine
    /// again.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    /// Runs `request` with the client, mapping bollard's errors; a request
    /// that finds the engine gone drops the cached client.
    pub async fn call<T, F, Fut>(&self, request: F) -> Result<T>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = std::result::Result<T, bollard::errors::Error>>,
    {
        let conn = self.connection().await?;
        request(conn.docker)
            .await
            .map_err(|err| self.failed(Error::from_bollard(err, &conn.endpoint)))
    }

    /// Checks that container `id` exists (the streams report nothing
    /// before their first item, so a missing container is found here);
    /// the id, owned.
    pub async fn existing_container(&self, id: &str) -> Result<String> {
        let id = containers::non_empty(id, "container id")?.to_string();
        let target = id.clone();
        self.call(|d| async move {
            d.inspect_container(
                &target,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        })
        .await?;
        Ok(id)
    }

    /// Drops the cached client when `err` says the engine is gone; returns
    /// `err`.
    pub fn failed(&self, err: Error) -> Error {
        if err.is_unreachable() {
            self.forget();
        }
        err
    }

    /// Whether the engine answers, where, and its version.
    pub async fn status(&self) -> EngineStatus {
        let unreachable = |err: Error| {
            let endpoint = match &err {
                Error::EngineUnreachable { endpoint, .. } => endpoint.clone(),
                _ => self.candidates().into_iter().next().unwrap_or_default(),
            };
            EngineStatus {
                reachable: false,
                endpoint,
                version: None,
                error: Some(err.sentence()),
            }
        };
        let conn = match self.connection().await {
            Ok(conn) => conn,
            Err(err) => return unreachable(err),
        };
        match conn.docker.version().await {
            Ok(version) => EngineStatus {
                reachable: true,
                endpoint: conn.endpoint,
                version: version.version,
                error: None,
            },
            Err(err) => unreachable(self.failed(Error::from_bollard(err, &conn.endpoint))),
        }
    }
}

/// An engine timestamp (`CreatedAt`, `Created`) in RFC 3339, the form the
/// UI reads; `None` when it cannot be written so.
pub fn rfc3339(date: &bollard::models::BollardDate) -> Option<String> {
    date.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// `KEY=value` entries as a label map (blank entries skipped; a value may
/// be empty, a key may not).
pub fn labels(entries: &[String]) -> Result<HashMap<String, String>> {
    let mut labels = HashMap::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        if key.trim().is_empty() {
            return Err(Error::InvalidRequest(format!(
                "the label `{entry}` has no name"
            )));
        }
        labels.insert(key.trim().to_string(), value.to_string());
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_of_a_missing_engine_names_the_endpoint() {
        let engine = Engine::fixed("unix:///nonexistent/docker.sock");
        let status = engine.status().await;
        assert!(!status.reachable);
        assert_eq!(status.endpoint, "unix:///nonexistent/docker.sock");
        assert_eq!(status.version, None);
        let error = status.error.expect("an error");
        assert!(
            error.starts_with(
                "The container engine at unix:///nonexistent/docker.sock is not reachable"
            ),
            "{error}"
        );
        let err = engine
            .call(|docker| async move { docker.ping().await })
            .await
            .expect_err("unreachable");
        assert_eq!(err.kind(), "engine_unreachable");
    }

    #[test]
    fn auto_prefers_the_running_machine() {
        use crate::machine::MachineState;
        use crate::machine::fake::FakeMachine;
        let fake = Arc::new(FakeMachine::stopped());
        let machine = Machine::new(fake.clone());
        machine.refresh().expect("info");
        let engine = Engine {
            source: Source::Auto {
                explicit: None,
                machine: machine.clone(),
            },
            current: Arc::default(),
        };
        assert_eq!(engine.candidates()[0], "unix:///run/skiff/docker.sock");
        fake.set(MachineState::Running);
        machine.refresh().expect("info");
        assert_eq!(engine.candidates()[0], "unix:///tmp/fake/docker.sock");
    }
}
