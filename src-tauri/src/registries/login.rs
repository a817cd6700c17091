//! Signing in: the engine checks the credentials (`POST /auth`, what
//! `docker login` asks), then they are stored where the CLI finds them
//! ([`super::Registries::store`]).

use std::time::Duration;

use serde::Deserialize;

use super::helper::HelperCredentials;
use super::{Registries, SignIn, SignedIn, TOKEN_USER, server_key};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// How long the engine gets to check a login (it talks to the registry).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine's `/auth` answer.
#[derive(Debug, Deserialize)]
struct AuthAnswer {
    #[serde(rename = "IdentityToken", default)]
    identity_token: Option<String>,
}

/// Checks `request` with the engine and stores the credentials; what the
/// Registries view then lists.
pub async fn sign_in(
    engine: &Engine,
    registries: &Registries,
    request: SignIn,
) -> Result<SignedIn> {
    let server = server_key(&request.server);
    let username = request.username.trim().to_string();
    if username.is_empty() || request.password.is_empty() {
        return Err(Error::InvalidRequest(
            "a user name and a password are needed".to_string(),
        ));
    }
    let conn = engine.connection().await?;
    let (client, base) = crate::engine::raw::client_for(&conn.endpoint, LOGIN_TIMEOUT)?;
    let body = serde_json::json!({
        "username": username,
        "password": request.password,
        "serveraddress": server,
    });
    let response = client
        .post(format!("{base}/auth"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .timeout(LOGIN_TIMEOUT)
        .send()
        .await
        .map_err(|err| {
            engine.failed(Error::EngineUnreachable {
                endpoint: conn.endpoint.clone(),
                reason: err.to_string(),
            })
        })?;
    if !response.status().is_success() {
        return Err(crate::engine::raw::answer_error(response).await);
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|err| Error::EngineUnreachable {
            endpoint: conn.endpoint.clone(),
            reason: err.to_string(),
        })?;
    let answer: AuthAnswer = serde_json::from_slice(&bytes).map_err(|err| Error::Engine {
        status: 200,
        message: format!("unexpected /auth answer: {err}"),
    })?;
    // As the CLI: a token server's refresh token replaces the password.
    let creds = match answer.identity_token.filter(|t| !t.is_empty()) {
        Some(token) => HelperCredentials {
            server_url: server.clone(),
            username: TOKEN_USER.to_string(),
            secret: token,
        },
        None => HelperCredentials {
            server_url: server.clone(),
            username: username.clone(),
            secret: request.password,
        },
    };
    let registries = registries.clone();
    let store = tokio::task::spawn_blocking(move || registries.store(&creds))
        .await
        .map_err(|err| Error::Internal(format!("storing the credentials: {err}")))??;
    Ok(SignedIn {
        server,
        username: Some(username),
        store,
    })
}
