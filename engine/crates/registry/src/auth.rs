//! Obtaining authorization for a challenge (Docker's token auth spec and
//! basic auth), and the cache of what was obtained.
//!
//! Bearer: `GET <realm>?service=…&scope=…&account=<user>` with basic
//! credentials when there are some, or — with an identity (refresh) token —
//! `POST <realm>` form `grant_type=refresh_token`. The answer's
//! `access_token` (preferred) or `token` is then sent as
//! `Authorization: Bearer`. Basic: the credentials themselves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use serde::Deserialize;
use skiff_oci::Digest;

use crate::body::read_limited;
use crate::challenge::Challenge;
use crate::client::RegistryClient;
use crate::credentials::Credentials;
use crate::error::RegistryError;

/// Token lifetime assumed when the server says nothing or less (the spec's
/// minimum).
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Tokens this close to expiry are not reused.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// Total time allowed for a token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;
/// The OAuth client id docker uses.
const CLIENT_ID: &str = "docker";

/// A value for the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Authorization {
    /// `Bearer <token>`.
    Bearer(String),
    /// `Basic <base64(user:password)>`.
    Basic(String),
}

impl std::fmt::Debug for Authorization {
    /// Shows the scheme and a short prefix of the secret only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, secret) = match self {
            Self::Bearer(t) => ("Bearer", t),
            Self::Basic(b) => ("Basic", b),
        };
        write!(
            f,
            "{scheme} {}…",
            secret.chars().take(4).collect::<String>()
        )
    }
}

impl Authorization {
    pub(crate) fn header_value(&self) -> String {
        match self {
            Self::Bearer(token) => format!("Bearer {token}"),
            Self::Basic(encoded) => format!("Basic {encoded}"),
        }
    }
}

/// The outcome of answering a challenge.
pub(crate) struct Grant {
    pub(crate) authorization: Authorization,
    /// When a bearer token stops being valid; `None` for basic auth and
    /// registry tokens.
    pub(crate) expires: Option<Instant>,
    /// A refresh token (docker's identity token), asked for on login.
    pub(crate) refresh_token: Option<String>,
}

/// What an authorization is cached under: the endpoint, the scope, and a
/// fingerprint of the credentials (so one caller's token is never used for
/// another caller's credentials).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    endpoint: String,
    scope: String,
    identity: String,
}

impl CacheKey {
    pub(crate) fn new(endpoint: &str, scope: Option<&str>, creds: Option<&Credentials>) -> Self {
        let identity = creds.map_or_else(String::new, |c| {
            let material = format!(
                "{}\0{}\0{}\0{}",
                c.username,
                c.password,
                c.identity_token.as_deref().unwrap_or_default(),
                c.registry_token.as_deref().unwrap_or_default()
            );
            Digest::of(material.as_bytes()).hex().to_owned()
        });
        Self {
            endpoint: endpoint.to_owned(),
            scope: scope.unwrap_or_default().to_owned(),
            identity,
        }
    }
}

/// Authorizations by [`CacheKey`], honouring token expiry.
#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<CacheKey, (Authorization, Option<Instant>)>>,
}

impl AuthCache {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CacheKey, (Authorization, Option<Instant>)>> {
        // The map stays consistent even if a holder panicked.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A still valid authorization for `key`.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Authorization> {
        let now = Instant::now();
        let entries = self.lock();
        let (auth, expires) = entries.get(key)?;
        expires
            .is_none_or(|at| now + EXPIRY_MARGIN < at)
            .then(|| auth.clone())
    }

    /// Remember a grant (dropping expired entries on the way).
    pub(crate) fn put(&self, key: CacheKey, grant: &Grant) {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, (_, expires)| expires.is_none_or(|at| now < at));
        entries.insert(key, (grant.authorization.clone(), grant.expires));
    }

    /// Forget `key` (its token was refused).
    pub(crate) fn remove(&self, key: &CacheKey) {
        self.lock().remove(key);
    }
}

/// Answer the challenges of a 401: Bearer is preferred over Basic.
/// `Ok(None)` when none can be answered (no credentials for Basic, unknown
/// schemes); the caller then reports the 401 itself.
pub(crate) async fn authorize(
    client: &RegistryClient,
    challenges: &[Challenge],
    scope: Option<&str>,
    creds: Option<&Credentials>,
    offline: bool,
) -> Result<Option<Grant>, RegistryError> {
    if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
        if let Some(token) = creds.and_then(|c| c.registry_token.clone()) {
            return Ok(Some(Grant {
                authorization: Authorization::Bearer(token),
                expires: None,
                refresh_token: None,
            }));
        }
        let Some(realm) = bearer.param("realm") else {
            return Ok(None);
        };
        // A session may name several scopes, space separated (a push with
        // cross-repository mounts: the target's and each source's).
        let mut scopes: Vec<String> = scope
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for extra in bearer.param("scope").unwrap_or_default().split_whitespace() {
            if !scopes.iter().any(|s| s == extra) {
                scopes.push(extra.to_owned());
            }
        }
        let request = TokenRequest {
            realm,
            service: bearer.param("service"),
            scopes,
            creds,
            offline,
        };
        return fetch_token(client, &request).await.map(Some);
    }
    if challenges.iter().any(|c| c.scheme == "basic") {
        return Ok(creds.filter(|c| c.has_password()).map(|c| Grant {
            authorization: Authorization::Basic(
                STANDARD.encode(format!("{}:{}", c.username, c.password)),
            ),
            expires: None,
            refresh_token: None,
        }));
    }
    Ok(None)
}

struct TokenRequest<'a> {
    realm: &'a str,
    service: Option<&'a str>,
    scopes: Vec<String>,
    creds: Option<&'a Credentials>,
    /// Ask for a refresh token too (login).
    offline: bool,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

async fn fetch_token(
    client: &RegistryClient,
    req: &TokenRequest<'_>,
) -> Result<Grant, RegistryError> {
    let url = Url::parse(req.realm).map_err(|e| RegistryError::InvalidResponse {
        url: req.realm.to_owned(),
        reason: format!("invalid token realm: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RegistryError::invalid_response(
            req.realm,
            "token realm must be an http(s) url",
        ));
    }
    let http = client.http_for_url(&url);
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = req.service {
        params.push(("service", service));
    }
    let joined_scopes = req.scopes.join(" ");
    let refresh = req.creds.and_then(|c| c.identity_token.as_deref());
    let (method, builder) = if let Some(refresh_token) = refresh {
        params.extend([
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ]);
        if !joined_scopes.is_empty() {
            params.push(("scope", &joined_scopes));
        }
        if req.offline {
            params.push(("access_type", "offline"));
        }
        ("Post", http.post(url.clone()).form(&params))
    } else {
        for scope in &req.scopes {
            params.push(("scope", scope));
        }
        if let Some(c) = req.creds.filter(|c| !c.username.is_empty()) {
            params.push(("account", &c.username));
        }
        if req.offline {
            params.extend([("offline_token", "true"), ("client_id", CLIENT_ID)]);
        }
        let mut builder = http.get(url.clone()).query(&params);
        if let Some(c) = req.creds.filter(|c| c.has_password()) {
            builder = builder.basic_auth(&c.username, Some(&c.password));
        }
        ("Get", builder)
    };
    let url_text = url.as_str();
    let response = builder
        .timeout(TOKEN_TIMEOUT)
        .send()
        .await
        .map_err(|e| RegistryError::transport(method, url_text, e))?;
    if !response.status().is_success() {
        return Err(RegistryError::from_response(url_text, response).await);
    }
    let body = read_limited(url_text, response, MAX_TOKEN_RESPONSE).await?;
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
        RegistryError::invalid_response(url_text, format!("unreadable token response: {e}"))
    })?;
    let token = if parsed.access_token.is_empty() {
        parsed.token
    } else {
        parsed.access_token
    };
    if token.is_empty() {
        return Err(RegistryError::invalid_response(
            url_text,
            "authorization server did not include a token in the response",
        ));
    }
    let lifetime = parsed
        .expires_in
        .map_or(MIN_TOKEN_LIFETIME, Duration::from_secs)
        .max(MIN_TOKEN_LIFETIME);
    Ok(Grant {
        authorization: Authorization::Bearer(token),
        expires: Some(Instant::now() + lifetime),
        refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(token: &str, expires: Option<Instant>) -> Grant {
        Grant {
            authorization: Authorization::Bearer(token.to_owned()),
            expires,
            refresh_token: None,
        }
    }

    #[test]
    fn cache_is_per_endpoint_scope_and_identity() {
        let cache = AuthCache::default();
        let alice = Credentials::basic("alice", "a");
        let bob = Credentials::basic("bob", "b");
        let key =
            |ep: &str, scope: &str, c: Option<&Credentials>| CacheKey::new(ep, Some(scope), c);
        cache.put(
            key("https://r", "repository:a:pull", Some(&alice)),
            &grant("t-alice", None),
        );
        assert_eq!(
            cache.get(&key("https://r", "repository:a:pull", Some(&alice))),
            Some(Authorization::Bearer("t-alice".into()))
        );
        assert_eq!(
            cache.get(&key("https://r", "repository:a:pull", Some(&bob))),
            None
        );
        assert_eq!(
            cache.get(&key("https://r", "repository:a:pull", None)),
            None
        );
        assert_eq!(
            cache.get(&key("https://r", "repository:b:pull", Some(&alice))),
            None
        );
        assert_eq!(
            cache.get(&key("http://r", "repository:a:pull", Some(&alice))),
            None
        );
        cache.remove(&key("https://r", "repository:a:pull", Some(&alice)));
        assert_eq!(
            cache.get(&key("https://r", "repository:a:pull", Some(&alice))),
            None
        );
    }

    #[test]
    fn cache_honours_expiry() {
        let cache = AuthCache::default();
        let k = CacheKey::new("e", None, None);
        cache.put(
            k.clone(),
            &grant("soon", Some(Instant::now() + Duration::from_secs(2))),
        );
        assert_eq!(cache.get(&k), None, "tokens about to expire are not reused");
        cache.put(
            k.clone(),
            &grant("later", Some(Instant::now() + Duration::from_secs(300))),
        );
        assert_eq!(cache.get(&k), Some(Authorization::Bearer("later".into())));
    }

    #[test]
    fn header_values() {
        assert_eq!(Authorization::Bearer("t".into()).header_value(), "Bearer t");
        assert_eq!(
            Authorization::Basic("dTpw".into()).header_value(),
            "Basic dTpw"
        );
    }
}
