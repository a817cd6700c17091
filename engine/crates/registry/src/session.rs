//! Authenticated requests against one endpoint, for one scope and one set
//! of credentials: sends the cached authorization if any, and on a 401
//! answers the `WWW-Authenticate` challenge once and retries.

use std::time::Duration;

use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION};

use crate::auth::{self, CacheKey};
use crate::challenge;
use crate::client::RegistryClient;
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::RegistryError;

/// A client bound to an endpoint, a token scope and credentials.
#[derive(Clone)]
pub(crate) struct Session {
    client: RegistryClient,
    endpoint: Endpoint,
    scope: Option<String>,
    creds: Option<Credentials>,
    key: CacheKey,
}

impl Session {
    pub(crate) fn new(
        client: RegistryClient,
        endpoint: Endpoint,
        scope: Option<String>,
        creds: Option<Credentials>,
    ) -> Self {
        let key = CacheKey::new(endpoint.url(), scope.as_deref(), creds.as_ref());
        Self {
            client,
            endpoint,
            scope,
            creds,
            key,
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET url`; a success response, or the error the registry answered.
    /// Redirects are followed (credentials are dropped when the redirect
    /// leaves the host, as blob redirects to object storage require).
    pub(crate) async fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, RegistryError> {
        let response = self
            .send("Get", url, |http| {
                let mut request = http.get(url);
                if let Some(accept) = accept {
                    request = request.header(ACCEPT, accept);
                }
                if let Some(timeout) = timeout {
                    request = request.timeout(timeout);
                }
                request
            })
            .await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(RegistryError::from_response(url, response).await)
    }

    /// Send the request `build` makes (`method` is Go's name of it, for
    /// error messages) with the cached authorization; on a 401 answer the
    /// challenge once and send a request built anew (so a streamed body is
    /// opened again). Returns the response whatever its status; fails only
    /// when nothing was answered or authorization could not be obtained.
    pub(crate) async fn send(
        &self,
        method: &'static str,
        url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let http = self.client.http_for(&self.endpoint);
        let cache = self.client.auth_cache();
        let mut answered_challenge = false;
        loop {
            let cached = cache.get(&self.key);
            let mut request = build(http);
            if let Some(auth) = &cached {
                request = request.header(AUTHORIZATION, auth.header_value());
            }
            let response = request
                .send()
                .await
                .map_err(|e| RegistryError::transport(method, url, e))?;
            if response.status() != StatusCode::UNAUTHORIZED || answered_challenge {
                return Ok(response);
            }
            if cached.is_some() {
                cache.remove(&self.key);
            }
            let challenges = challenge::parse_headers(response.headers());
            let grant = auth::authorize(
                &self.client,
                &challenges,
                self.scope.as_deref(),
                self.creds.as_ref(),
                false,
            )
            .await?;
            match grant {
                Some(grant) => cache.put(self.key.clone(), &grant),
                None => return Ok(response),
            }
            answered_challenge = true;
        }
    }
}
