//! Which engine to talk to, and connecting to it.
//!
//! In order: `SKIFF_DOCKER_HOST`, `DOCKER_HOST` (an explicit choice: used
//! alone), the running skiff machine's socket, `/run/skiff/docker.sock`
//! (skiffd on this computer), `/var/run/docker.sock`. The first candidate
//! that answers `/_ping` wins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;

use crate::error::{Error, Result};

/// skiffd's socket on a Linux host.
pub const SKIFF_SOCKET: &str = "/run/skiff/docker.sock";
/// Docker's socket.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Request timeout (seconds) for everything but streams' bodies; pulls of
/// large layers only count until their answer starts.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How long a candidate gets to answer `/_ping`.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// The endpoints to try, best first. `explicit` is `SKIFF_DOCKER_HOST`
/// or `DOCKER_HOST`; when set it is the only candidate.
pub fn candidates(explicit: Option<String>, machine_socket: Option<PathBuf>) -> Vec<String> {
    if let Some(host) = explicit.filter(|h| !h.trim().is_empty()) {
        return vec![host.trim().to_string()];
    }
    let mut list = Vec::new();
    if let Some(socket) = machine_socket {
        list.push(unix_endpoint(&socket));
    }
    for socket in [SKIFF_SOCKET, DOCKER_SOCKET] {
        let endpoint = unix_endpoint(Path::new(socket));
        if !list.contains(&endpoint) {
            list.push(endpoint);
        }
    }
    list
}

/// `SKIFF_DOCKER_HOST`, else `DOCKER_HOST`.
pub fn explicit_from_env() -> Option<String> {
    ["SKIFF_DOCKER_HOST", "DOCKER_HOST"]
        .into_iter()
        .filter_map(|key| std::env::var(key).ok())
        .find(|value| !value.trim().is_empty())
}

/// `unix:///path`.
pub fn unix_endpoint(socket: &Path) -> String {
    format!("unix://{}", socket.display())
}

/// The socket path of a `unix://` endpoint.
fn unix_path(endpoint: &str) -> Option<&str> {
    endpoint.strip_prefix("unix://")
}

/// A client for `endpoint` that answered `/_ping`, speaking the engine's
/// API version when it is older than bollard's.
pub async fn connect(endpoint: &str) -> Result<Docker> {
    let unreachable = |reason: String| Error::EngineUnreachable {
        endpoint: endpoint.to_string(),
        reason,
    };
    let docker = if let Some(path) = unix_path(endpoint) {
        if !Path::new(path).exists() {
            return Err(unreachable(format!("there is no socket at {path}")));
        }
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        Docker::connect_with_http(endpoint, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(unreachable(
            "only unix:// and tcp:// endpoints are supported".to_string(),
        ));
    }
    .map_err(|err| Error::from_bollard(err, endpoint))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Err(_) => return Err(unreachable("it did not answer /_ping in time".to_string())),
        Ok(Err(err)) => return Err(Error::from_bollard(err, endpoint)),
        Ok(Ok(_)) => {}
    }
    docker
        .negotiate_version()
        .await
        .map_err(|err| Error::from_bollard(err, endpoint))
}

/// The first candidate that answers; when none does, the error of the most
/// telling one (the first whose socket exists, else the first).
pub async fn connect_first(candidates: &[String]) -> Result<(String, Docker)> {
    let mut first_error: Option<Error> = None;
    let mut existing_error: Option<Error> = None;
    for endpoint in candidates {
        match connect(endpoint).await {
            Ok(docker) => return Ok((endpoint.clone(), docker)),
            Err(err) => {
                let socket_exists = unix_path(endpoint).is_none_or(|p| Path::new(p).exists());
                if socket_exists && existing_error.is_none() {
                    existing_error = Some(err);
                } else if first_error.is_none() {
                    first_error = Some(err);
                }
            }
        }
    }
    Err(existing_error
        .or(first_error)
        .unwrap_or_else(|| Error::EngineUnreachable {
            endpoint: unix_endpoint(Path::new(SKIFF_SOCKET)),
            reason: "no endpoint to try".to_string(),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_host_is_the_only_candidate() {
        assert_eq!(
            candidates(
                Some("tcp://10.0.0.1:2375".into()),
                Some("/m/docker.sock".into())
            ),
            ["tcp://10.0.0.1:2375"]
        );
    }

    #[test]
    fn machine_then_skiffd_then_docker() {
        assert_eq!(
            candidates(
                None,
                Some("/home/u/.skiff/machines/default/docker.sock".into())
            ),
            [
                "unix:///home/u/.skiff/machines/default/docker.sock",
                "unix:///run/skiff/docker.sock",
                "unix:///var/run/docker.sock"
            ]
        );
        assert_eq!(
            candidates(Some("  ".into()), None),
            [
                "unix:///run/skiff/docker.sock",
                "unix:///var/run/docker.sock"
            ]
        );
    }

    #[tokio::test]
    async fn missing_socket_and_bad_scheme_are_unreachable() {
        let err = connect("unix:///nonexistent/skiff.sock")
            .await
            .expect_err("no socket");
        assert_eq!(err.kind(), "engine_unreachable");
        assert!(err.sentence().contains("/nonexistent/skiff.sock"), "{err}");
        let err = connect("ssh://host").await.expect_err("scheme");
        assert_eq!(err.kind(), "engine_unreachable");
    }

    #[tokio::test]
    async fn a_socket_nobody_answers_beats_a_missing_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sock = dir.path().join("dead.sock");
        // A bound socket with no listener left: connect is refused.
        drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
        let list = vec![
            "unix:///nonexistent/a.sock".to_string(),
            unix_endpoint(&sock),
        ];
        let err = connect_first(&list).await.expect_err("nobody answers");
        match err {
            Error::EngineUnreachable { endpoint, .. } => assert_eq!(endpoint, list[1]),
            other => panic!("unexpected {other:?}"),
        }
    }
}
