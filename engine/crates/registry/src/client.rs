//! The registry client: HTTP clients, endpoint selection with mirror
//! fallback, and login.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use http::header::AUTHORIZATION;
use reqwest::Url;
use skiff_oci::Reference;

use crate::auth::{self, AuthCache};
use crate::challenge;
use crate::config::{InsecureList, RegistryConfig, is_loopback};
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::RegistryError;
use crate::fallback::{Failures, should_try_next};
use crate::push::PushRepository;
use crate::repository::{FetchedManifest, Repository};

/// Time allowed to establish a connection (TCP + TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence tolerated while reading a response (no total limit, so
/// big blobs can take as long as they need).
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Total time allowed for a `GET /v2/` during login.
const PING_TIMEOUT: Duration = Duration::from_secs(60);

/// What a successful login yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginOutcome {
    /// A refresh token the registry issued (docker's `IdentityToken`),
    /// usable as [`Credentials::identity_token`] instead of the password.
    pub identity_token: Option<String>,
}

/// A registry (distribution v2) client. Cheap to clone: clones share HTTP
/// connection pools and the bearer token cache. Tokens are cached per
/// (endpoint, scope, credentials) until shortly before they expire.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    mirrors: Vec<Endpoint>,
    insecure: InsecureList,
    /// Verifies certificates, honours proxy environment variables.
    verified: reqwest::Client,
    /// Accepts any certificate (insecure registries).
    unverified: reqwest::Client,
    /// Loopback hosts: no proxy, any certificate.
    loopback: reqwest::Client,
    auth: AuthCache,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("mirrors", &self.inner.mirrors)
            .field("insecure", &self.inner.insecure)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Build a client; fails on malformed mirrors / insecure entries or if
    /// TLS cannot be set up.
    pub fn new(config: RegistryConfig) -> Result<Self, RegistryError> {
        let insecure = InsecureList::parse(&config.insecure)?;
        let mirrors = config
            .mirrors
            .iter()
            .map(|m| Endpoint::mirror(m, &insecure))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("skiffd/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(config.read_timeout.unwrap_or(READ_TIMEOUT))
        };
        let verified = builder().build().map_err(RegistryError::Client)?;
        let unverified = builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(RegistryError::Client)?;
        let loopback = builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .map_err(RegistryError::Client)?;
        Ok(Self {
            inner: Arc::new(Inner {
                mirrors,
                insecure,
                verified,
                unverified,
                loopback,
                auth: AuthCache::default(),
            }),
        })
    }

    /// The endpoints tried for `reference`, in order: the Docker Hub
    /// mirrors then `https://registry-1.docker.io` for `docker.io`;
    /// otherwise `https://<domain>`, and for insecure and loopback
    /// registries `https://<domain>` without certificate verification
    /// followed by `http://<domain>`.
    pub fn endpoints(&self, reference: &Reference) -> Vec<Endpoint> {
        Endpoint::for_reference(reference, &self.inner.mirrors, &self.inner.insecure)
    }

    /// A handle on `reference`'s repository at one endpoint, with pull
    /// scope. No request is made. Usually obtained from
    /// [`Self::pull_manifest`] instead, which picks the endpoint.
    pub fn repository(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
        creds: Option<Credentials>,
    ) -> Repository {
        Repository::new(
            self.clone(),
            endpoint.clone(),
            reference.repository(),
            creds,
        )
    }

    /// Fetch the manifest `reference` names (its digest if it has one, else
    /// its tag, else `latest`), trying [`Self::endpoints`] in order, and
    /// return it with a [`Repository`] bound to the endpoint that answered
    /// — fetch the child manifests, config and layers through it.
    ///
    /// Fallback: after a mirror fails (any error) the next endpoint is
    /// tried; after another endpoint fails only a transport error moves on
    /// (https → http for insecure registries). When all fail, the error is
    /// the last one a registry actually answered (e.g. a mirror's
    /// `MANIFEST_UNKNOWN` when Docker Hub itself is unreachable), or the
    /// last transport error if none answered.
    pub async fn pull_manifest(
        &self,
        reference: &Reference,
        creds: Option<Credentials>,
    ) -> Result<(Repository, FetchedManifest), RegistryError> {
        let wanted = reference.manifest_reference();
        let mut failures = Failures::default();
        for endpoint in self.endpoints(reference) {
            let repository = self.repository(&endpoint, reference, creds.clone());
            match repository.manifest(&wanted).await {
                Ok(manifest) => return Ok((repository, manifest)),
                Err(error) => {
                    let next = should_try_next(&endpoint, &error);
                    tracing::debug!(endpoint = endpoint.url(), %error, next, "manifest fetch failed");
                    failures.record(error);
                    if !next {
                        break;
                    }
                }
            }
        }
        Err(failures
            .into_error()
            .unwrap_or_else(|| no_endpoint(&reference.to_string())))
    }

    /// A handle to push to `reference`'s repository, with `pull,push`
    /// access there and `pull` access on `mount_sources` (repositories of
    /// the same registry blobs may be mounted from). The endpoint is the
    /// first of [`Self::endpoints`] (mirrors excluded: pushes go to the
    /// registry itself) that answers `GET /v2/` at all; https before plain
    /// http for insecure registries, as docker does.
    pub async fn push_repository(
        &self,
        reference: &Reference,
        mount_sources: &[String],
        creds: Option<Credentials>,
    ) -> Result<PushRepository, RegistryError> {
        let mut failures = Failures::default();
        for endpoint in self.endpoints(reference) {
            if endpoint.is_mirror() {
                continue;
            }
            let url = endpoint.v2("");
            let ping = self
                .http_for(&endpoint)
                .get(&url)
                .timeout(PING_TIMEOUT)
                .send()
                .await;
            match ping {
                Ok(_) => {
                    return Ok(PushRepository::new(
                        self.clone(),
                        endpoint,
                        reference.repository(),
                        mount_sources,
                        creds,
                    ));
                }
                Err(e) => {
                    tracing::debug!(endpoint = endpoint.url(), error = %e, "push endpoint unreachable");
                    failures.record(RegistryError::transport("Get", &url, e));
                }
            }
        }
        Err(failures
            .into_error()
            .unwrap_or_else(|| no_endpoint(&reference.to_string())))
    }

    /// `docker login`: check that `creds` are accepted by `server` (a host,
    /// `host:port`, URL, or empty / a Docker Hub name for Docker Hub) with
    /// `GET /v2/` and the challenge flow. Bearer registries are asked for
    /// a refresh token too, returned as the identity token. A registry that
    /// does not ask for authentication is a success. Endpoints are tried
    /// like for pulls (https, then http for insecure registries).
    pub async fn login(
        &self,
        server: &str,
        creds: &Credentials,
    ) -> Result<LoginOutcome, RegistryError> {
        let mut failures = Failures::default();
        for endpoint in Endpoint::for_login(server, &self.inner.insecure)? {
            match self.login_at(&endpoint, creds).await {
                Ok(outcome) => return Ok(outcome),
                Err(error) => {
                    let next = should_try_next(&endpoint, &error);
                    tracing::debug!(endpoint = endpoint.url(), %error, next, "login failed");
                    failures.record(error);
                    if !next {
                        break;
                    }
                }
            }
        }
        Err(failures.into_error().unwrap_or_else(|| no_endpoint(server)))
    }

    /// One login attempt. Failures are worded as dockerd's `loginV2`: a
    /// refused ping is `login attempt to <url> failed with status: <code>
    /// <text>`; a failed token request is `Get "<url>": <error>`.
    async fn login_at(
        &self,
        endpoint: &Endpoint,
        creds: &Credentials,
    ) -> Result<LoginOutcome, RegistryError> {
        let url = endpoint.v2("");
        let http = self.http_for(endpoint);
        let ping = |authorization: Option<String>| {
            let mut request = http.get(&url).timeout(PING_TIMEOUT);
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            request.send()
        };
        let response = ping(None)
            .await
            .map_err(|e| RegistryError::transport("Get", &url, e))?;
        if response.status().is_success() {
            return Ok(LoginOutcome::default());
        }
        let refused = |status: StatusCode| RegistryError::LoginRefused {
            url: url.clone(),
            status,
        };
        if response.status() != StatusCode::UNAUTHORIZED {
            return Err(refused(response.status()));
        }
        let challenges = challenge::parse_headers(response.headers());
        let grant = auth::authorize(self, &challenges, None, Some(creds), true)
            .await
            .map_err(|e| match e {
                RegistryError::Transport { .. } => e,
                other => RegistryError::LoginToken {
                    url: url.clone(),
                    source: Box::new(other),
                },
            })?;
        let Some(grant) = grant else {
            return Err(refused(response.status()));
        };
        let response = ping(Some(grant.authorization.header_value()))
            .await
            .map_err(|e| RegistryError::transport("Get", &url, e))?;
        if !response.status().is_success() {
            return Err(refused(response.status()));
        }
        Ok(LoginOutcome {
            identity_token: grant.refresh_token,
        })
    }

    /// The HTTP client for an endpoint.
    pub(crate) fn http_for(&self, endpoint: &Endpoint) -> &reqwest::Client {
        if endpoint.is_loopback() {
            &self.inner.loopback
        } else if endpoint.tls_verify() {
            &self.inner.verified
        } else {
            &self.inner.unverified
        }
    }

    /// The HTTP client for an arbitrary URL (token realms).
    pub(crate) fn http_for_url(&self, url: &Url) -> &reqwest::Client {
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => String::new(),
        };
        if is_loopback(&host) {
            &self.inner.loopback
        } else if self.inner.insecure.contains(&host) {
            &self.inner.unverified
        } else {
            &self.inner.verified
        }
    }

    pub(crate) fn auth_cache(&self) -> &AuthCache {
        &self.inner.auth
    }
}

fn no_endpoint(what: &str) -> RegistryError {
    RegistryError::InvalidAddress {
        address: what.to_owned(),
        reason: "no registry endpoint to try".to_owned(),
    }
}
