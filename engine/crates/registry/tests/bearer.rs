//! Docker's token auth flow against a fake registry + token server + "CDN"
//! (hyper on 127.0.0.1): token fetch with basic credentials, caching and
//! renewal, refresh (identity) tokens, registry tokens, Docker Hub style
//! denial, login, blob redirects that must not carry credentials, and
//! digest lies.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use skiff_oci::documents::OCI_MANIFEST;
use skiff_oci::{Digest, Reference};
use skiff_registry::{Credentials, RegistryClient, RegistryConfig, RegistryError};
use tokio::net::TcpListener;

const USER: &str = "alice";
const PASS: &str = "s3cret";
const REFRESH: &str = "refresh-123";
const SERVICE: &str = "fake-registry";
const REPO: &str = "acme/app";

struct Fake {
    registry: String,
    cdn: String,
    /// Bumping it invalidates every issued token.
    generation: AtomicU64,
    token_gets: AtomicUsize,
    token_posts: AtomicUsize,
    last_token_query: Mutex<Vec<(String, String)>>,
    cdn_requests: AtomicUsize,
    manifest: Vec<u8>,
    blob: Vec<u8>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, headers: &[(&str, String)], body: impl Into<Bytes>) -> Reply {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.body(Full::new(body.into())).unwrap()
}

fn json(status: StatusCode, body: String) -> Reply {
    reply(
        status,
        &[("content-type", "application/json".to_owned())],
        body,
    )
}

fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x{}", req.uri())).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Fake {
    fn good_token(&self) -> String {
        format!("good-{}", self.generation.load(Ordering::SeqCst))
    }

    fn bearer(&self, req: &Request<Incoming>) -> Option<String> {
        let value = req.headers().get("authorization")?.to_str().ok()?;
        value.strip_prefix("Bearer ").map(str::to_owned)
    }

    fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> (&'static str, String) {
        let mut value = format!(
            r#"Bearer realm="{}/token",service="{SERVICE}""#,
            self.registry
        );
        if let Some(scope) = scope {
            value.push_str(&format!(r#",scope="{scope}""#));
        }
        if let Some(error) = error {
            value.push_str(&format!(r#",error="{error}""#));
        }
        ("www-authenticate", value)
    }

    fn unauthorized(&self, scope: Option<&str>, error: Option<&str>) -> Reply {
        let (name, value) = self.challenge(scope, error);
        reply(
            StatusCode::UNAUTHORIZED,
            &[
                (name, value),
                ("content-type", "application/json".to_owned()),
            ],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
        )
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_owned();
        if path == "/token" {
            return self.token(req).await;
        }
        if path.starts_with("/cdn/") {
            return self.cdn(&req);
        }
        let token = self.bearer(&req);
        let authorised = token.as_deref() == Some(self.good_token().as_str());
        if path == "/v2/" {
            return if authorised {
                json(StatusCode::OK, "{}".into())
            } else {
                self.unauthorized(None, None)
            };
        }
        let scope = format!("repository:{REPO}:pull");
        let Some(rest) = path.strip_prefix(&format!("/v2/{REPO}/")) else {
            return json(StatusCode::NOT_FOUND, r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.into());
        };
        if token.as_deref() == Some("anon") {
            // Docker Hub's answer to anonymous pulls of private / missing repos.
            return self.unauthorized(Some(&scope), Some("insufficient_scope"));
        }
        if !authorised {
            return self.unauthorized(Some(&scope), token.as_ref().map(|_| "invalid_token"));
        }
        let digest = Digest::of(&self.manifest);
        if let Some(reference) = rest.strip_prefix("manifests/") {
            let accept = req
                .headers()
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(accept.contains(OCI_MANIFEST), "Accept: {accept}");
            let announced = match reference {
                "header-lie" => Digest::of(b"something else"),
                _ => digest.clone(),
            };
            return reply(
                StatusCode::OK,
                &[
                    ("content-type", OCI_MANIFEST.to_owned()),
                    ("docker-content-digest", announced.to_string()),
                ],
                self.manifest.clone(),
            );
        }
        if let Some(blob) = rest.strip_prefix("blobs/") {
            return reply(
                StatusCode::TEMPORARY_REDIRECT,
                &[("location", format!("{}/cdn/{blob}", self.cdn))],
                "",
            );
        }
        json(StatusCode::NOT_FOUND, "{}".into())
    }

    async fn token(&self, req: Request<Incoming>) -> Reply {
        let basic = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b).ok())
            .map(|b| String::from_utf8(b).unwrap());
        if req.method() == Method::POST {
            self.token_posts.fetch_add(1, Ordering::SeqCst);
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form: HashMap<String, String> =
                reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(&body)))
                    .unwrap()
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            assert_eq!(
                form.get("grant_type").map(String::as_str),
                Some("refresh_token")
            );
            assert_eq!(form.get("client_id").map(String::as_str), Some("docker"));
            assert_eq!(form.get("service").map(String::as_str), Some(SERVICE));
            if form.get("refresh_token").map(String::as_str) != Some(REFRESH) {
                return json(
                    StatusCode::UNAUTHORIZED,
                    r#"{"details":"invalid refresh token"}"#.into(),
                );
            }
            return json(
                StatusCode::OK,
                format!(
                    r#"{{"access_token":"{}","expires_in":300}}"#,
                    self.good_token()
                ),
            );
        }
        self.token_gets.fetch_add(1, Ordering::SeqCst);
        let params = query(&req);
        *self.last_token_query.lock().unwrap() = params.clone();
        let param = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(param("service"), Some(SERVICE));
        let token = match basic.as_deref() {
            None => "anon".to_owned(),
            Some(creds) if creds == format!("{USER}:{PASS}") => self.good_token(),
            Some(_) => {
                return json(
                    StatusCode::UNAUTHORIZED,
                    r#"{"details":"incorrect username or password"}"#.into(),
                );
            }
        };
        let refresh = if param("offline_token") == Some("true") && token != "anon" {
            format!(r#","refresh_token":"{REFRESH}""#)
        } else {
            String::new()
        };
        json(
            StatusCode::OK,
            format!(
                r#"{{"token":"{token}","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"{refresh}}}"#
            ),
        )
    }

    fn cdn(&self, req: &Request<Incoming>) -> Reply {
        self.cdn_requests.fetch_add(1, Ordering::SeqCst);
        // Object stores refuse requests that carry a second auth mechanism.
        if req.headers().contains_key("authorization") {
            return reply(
                StatusCode::BAD_REQUEST,
                &[],
                "Only one auth mechanism allowed",
            );
        }
        // Every digest gets the same bytes: for any other digest, a lie.
        reply(StatusCode::OK, &[], self.blob.clone())
    }
}

/// Start the fake; returns it and its registry host (`127.0.0.1:<port>`).
async fn start() -> (Arc<Fake>, String) {
    let registry = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cdn = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = registry.local_addr().unwrap().to_string();
    let fake = Arc::new(Fake {
        registry: format!("http://{host}"),
        cdn: format!("http://{}", cdn.local_addr().unwrap()),
        generation: AtomicU64::new(0),
        token_gets: AtomicUsize::new(0),
        token_posts: AtomicUsize::new(0),
        last_token_query: Mutex::new(Vec::new()),
        cdn_requests: AtomicUsize::new(0),
        manifest: br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#.to_vec(),
        blob: (0..200_000u32).map(|i| (i % 251) as u8).collect(),
    });
    for listener in [registry, cdn] {
        let fake = fake.clone();
        tokio::spawn(support::fake::serve(listener, move |req| {
            fake.clone().handle(req)
        }));
    }
    (fake, host)
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryConfig::default()).unwrap()
}

fn app(host: &str, tag: &str) -> Reference {
    Reference::parse(&format!("{host}/{REPO}:{tag}")).unwrap()
}

fn alice() -> Credentials {
    Credentials::basic(USER, PASS)
}

#[tokio::test]
async fn bearer_tokens_are_fetched_cached_and_renewed() {
    let (fake, host) = start().await;
    let client = client();
    let (repo, manifest) = client
        .pull_manifest(&app(&host, "v1"), Some(alice()))
        .await
        .unwrap();
    assert_eq!(manifest.digest, Digest::of(&fake.manifest));
    assert_eq!(manifest.media_type, OCI_MANIFEST);
    assert_eq!(fake.token_gets.load(Ordering::SeqCst), 1);
    let mut sent = fake.last_token_query.lock().unwrap().clone();
    sent.sort();
    let expected: Vec<(String, String)> = [
        ("account", USER),
        ("scope", "repository:acme/app:pull"),
        ("service", SERVICE),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(sent, expected);

    // Cached: neither a second pull nor blob downloads ask for a token.
    client
        .pull_manifest(&app(&host, "v1"), Some(alice()))
        .await
        .unwrap();
    let blob = Digest::of(&fake.blob);
    let downloads = (0..8).map(|_| {
        let repo = repo.clone();
        let blob = blob.clone();
        async move {
            let mut stream = repo.blob(&blob).await.unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = stream.body.next().await {
                got.extend_from_slice(&chunk.unwrap());
            }
            Digest::of(&got)
        }
    });
    for digest in futures_util::future::join_all(downloads).await {
        assert_eq!(
            digest, blob,
            "redirected download must drop the registry's Authorization"
        );
    }
    assert_eq!(fake.cdn_requests.load(Ordering::SeqCst), 8);
    assert_eq!(
        &repo.blob_bytes(&blob, 1 << 20).await.unwrap()[..],
        &fake.blob[..]
    );
    assert_eq!(fake.token_gets.load(Ordering::SeqCst), 1);

    // The registry stops honouring the token: one renewal, transparently.
    fake.generation.fetch_add(1, Ordering::SeqCst);
    repo.manifest("v1").await.unwrap();
    assert_eq!(fake.token_gets.load(Ordering::SeqCst), 2);

    // Different credentials never reuse alice's token.
    let anonymous = client
        .pull_manifest(&app(&host, "v1"), None)
        .await
        .unwrap_err();
    assert!(anonymous.is_unauthorized(), "{anonymous:?}");
}

#[tokio::test]
async fn anonymous_denial_reads_like_docker_hub() {
    let (_fake, host) = start().await;
    let error = client()
        .pull_manifest(&app(&host, "v1"), None)
        .await
        .unwrap_err();
    assert!(error.is_unauthorized(), "{error:?}");
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        error.errors()[0].to_string(),
        "denied: requested access to the resource is denied"
    );
    assert_eq!(
        error.errors()[1].to_string(),
        "unauthorized: authentication required"
    );
}

#[tokio::test]
async fn wrong_password_reports_the_token_servers_message() {
    let (_fake, host) = start().await;
    let error = client()
        .pull_manifest(&app(&host, "v1"), Some(Credentials::basic(USER, "nope")))
        .await
        .unwrap_err();
    assert!(error.is_unauthorized(), "{error:?}");
    assert_eq!(
        error.to_string(),
        "unauthorized: incorrect username or password"
    );
    assert!(
        error.url().is_some_and(|u| u.contains("/token")),
        "{error:?}"
    );
}

#[tokio::test]
async fn identity_and_registry_tokens() {
    let (fake, host) = start().await;
    let client = client();
    let refresh = Credentials {
        username: USER.into(),
        identity_token: Some(REFRESH.into()),
        ..Credentials::default()
    };
    client
        .pull_manifest(&app(&host, "v1"), Some(refresh))
        .await
        .unwrap();
    assert_eq!(fake.token_posts.load(Ordering::SeqCst), 1);
    assert_eq!(fake.token_gets.load(Ordering::SeqCst), 0);

    let stale = Credentials {
        identity_token: Some("revoked".into()),
        ..Credentials::default()
    };
    let error = client
        .pull_manifest(&app(&host, "v1"), Some(stale))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "unauthorized: invalid refresh token");

    let direct = Credentials {
        registry_token: Some(fake.good_token()),
        ..Credentials::default()
    };
    client
        .pull_manifest(&app(&host, "v1"), Some(direct))
        .await
        .unwrap();
    assert_eq!(fake.token_gets.load(Ordering::SeqCst), 0);
    assert_eq!(fake.token_posts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn login_yields_an_identity_token() {
    let (fake, host) = start().await;
    let client = client();
    let outcome = client.login(&host, &alice()).await.unwrap();
    assert_eq!(outcome.identity_token.as_deref(), Some(REFRESH));
    let sent = fake.last_token_query.lock().unwrap().clone();
    assert!(
        sent.contains(&("offline_token".into(), "true".into())),
        "{sent:?}"
    );
    assert!(
        sent.contains(&("client_id".into(), "docker".into())),
        "{sent:?}"
    );
    assert!(
        !sent.iter().any(|(k, _)| k == "scope"),
        "login asks for no scope: {sent:?}"
    );

    let refused = client
        .login(&format!("http://{host}"), &Credentials::basic(USER, "nope"))
        .await
        .unwrap_err();
    assert!(refused.is_unauthorized(), "{refused:?}");
    // dockerd's words: Go's error for the ping the token request failed.
    assert_eq!(
        refused.to_string(),
        format!("Get \"http://{host}/v2/\": unauthorized: incorrect username or password")
    );
}

#[tokio::test]
async fn manifest_digest_lies_are_caught() {
    let (fake, host) = start().await;
    let client = client();
    let (repo, _) = client
        .pull_manifest(&app(&host, "v1"), Some(alice()))
        .await
        .unwrap();
    let wrong = Digest::of(b"not the manifest");
    match repo.manifest(&wrong.to_string()).await {
        Err(RegistryError::DigestMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, Digest::of(&fake.manifest));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    let header_lie = repo.manifest("header-lie").await.unwrap_err();
    assert!(
        matches!(header_lie, RegistryError::DigestMismatch { .. }),
        "{header_lie:?}"
    );
    // A lying blob through the stream-free API.
    let lie = repo.blob_bytes(&wrong, 1 << 20).await.unwrap_err();
    assert!(
        matches!(lie, RegistryError::DigestMismatch { .. }),
        "{lie:?}"
    );
}
