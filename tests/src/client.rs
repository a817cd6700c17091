//! A bollard client for API-level tests.

use std::path::Path;

/// Request timeout (seconds) of [`bollard_client`]; long enough for pulls
/// of the 100 MiB `library/big` image.
pub const TIMEOUT_SECS: u64 = 120;

/// A bollard client on a Unix socket, speaking bollard's default API
/// version. Panics if the socket does not exist. Use inside a tokio
/// runtime.
pub fn bollard_client(socket: &Path) -> bollard::Docker {
    let path = socket.to_string_lossy();
    match bollard::Docker::connect_with_unix(&path, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION) {
        Ok(client) => client,
        Err(err) => panic!("connecting bollard to {path}: {err}"),
    }
}
