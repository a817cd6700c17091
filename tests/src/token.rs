//! An in-process token server for the token-auth test registry.
//!
//! docker-registry (distribution 2.8) with `auth: token` answers 401 with
//! `WWW-Authenticate: Bearer realm="<realm>",service="<service>",scope=…`;
//! clients then fetch a token from the realm with their basic credentials
//! and retry with `Authorization: Bearer <token>`. The registry verifies the
//! token: an ES256 JWT whose `x5c` header holds a certificate chained to the
//! registry's `rootcertbundle`, `iss` = the configured issuer, `aud` = the
//! service, `nbf`/`exp` in range, and an `access` claim listing the granted
//! `{type, name, actions}`.
//!
//! This server generates a self-signed ECDSA P-256 certificate (rcgen),
//! signs tokens with ring, and serves (tokio + hyper on 127.0.0.1):
//! - `GET /token?service=…&scope=…[&scope=…]` with optional basic auth:
//!   right credentials get the requested actions, no credentials get a
//!   token with no access (like Docker Hub for anonymous pulls), wrong
//!   credentials get 401. `offline_token=true` adds a `refresh_token`.
//! - `POST /token` (OAuth2 form): `grant_type=password` or
//!   `grant_type=refresh_token`.
//!
//! Responses are `{"token", "access_token", "expires_in": 300,
//! "issued_at"}`.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::error::{HarnessError, IoContext, Result};

/// The `service` of the token-auth test registry (the JWT audience).
pub const SERVICE: &str = "skiff-registry";
/// The `issuer` of the tokens.
pub const ISSUER: &str = "skiff-token-issuer";
/// Lifetime of issued tokens, seconds.
pub const EXPIRES_IN: u64 = 300;

/// Actions the server grants to the right credentials.
const GRANTABLE: [&str; 4] = ["pull", "push", "delete", "*"];

/// One granted (or requested) resource access, as in the JWT `access`
/// claim and in scopes (`repository:library/busybox:pull,push`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// Resource type: `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name, e.g. `private/busybox`.
    pub name: String,
    /// Actions, e.g. `["pull"]`.
    pub actions: Vec<String>,
}

impl Access {
    /// `repository:<name>:<actions>`.
    pub fn repository(name: &str, actions: &[&str]) -> Access {
        Access {
            kind: "repository".to_string(),
            name: name.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Parses a scope `type:name:action[,action]` (the name may contain
    /// `:`, e.g. a `repository(plugin)` type is not handled specially).
    pub fn parse_scope(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Access {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

struct State {
    user: String,
    password: String,
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    rng: SystemRandom,
    requests: AtomicUsize,
    issued: AtomicUsize,
}

/// A running token server; stopped on drop.
pub struct TokenServer {
    addr: SocketAddr,
    cert_pem: String,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("addr", &self.addr)
            .field("user", &self.state.user)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// Generates a key and certificate and starts serving on a free port of
    /// 127.0.0.1 (own thread and tokio runtime, so sync tests can use it).
    pub fn start(user: &str, password: &str) -> Result<TokenServer> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|err| HarnessError::token("generating the token signing key", err))?;
        let mut params =
            rcgen::CertificateParams::new(vec![ISSUER.to_string()]).map_err(|err| {
                HarnessError::token(format!("certificate parameters for {ISSUER}"), err)
            })?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key_pair).map_err(|err| {
            HarnessError::token(
                format!("self-signing the token certificate of {ISSUER}"),
                err,
            )
        })?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .map_err(|err| HarnessError::token("loading the signing key into ring", err))?;
        let state = Arc::new(State {
            user: user.to_string(),
            password: password.to_string(),
            key,
            cert_der: cert.der().to_vec(),
            rng,
            requests: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
        });

        let listener = TcpListener::bind("127.0.0.1:0")
            .io_context(|| "binding the token server to 127.0.0.1:0".to_string())?;
        let addr = listener
            .set_nonblocking(true)
            .and_then(|()| listener.local_addr())
            .io_context(|| "setting up the token server listener".to_string())?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .io_context(|| format!("building the runtime of the token server on {addr}"))?;
        let serve_state = state.clone();
        let thread = thread::Builder::new()
            .name("skiff-token-server".to_string())
            .spawn(move || runtime.block_on(serve(listener, serve_state, shutdown_rx)))
            .io_context(|| format!("spawning the thread of the token server on {addr}"))?;
        Ok(TokenServer {
            addr,
            cert_pem: cert.pem(),
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The realm URL for the registry config: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The PEM certificate to use as the registry's `rootcertbundle`.
    pub fn root_cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Number of HTTP requests served so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Number of tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Signs a token for `subject` granting `access` directly (no HTTP).
    pub fn issue(&self, subject: &str, access: &[Access]) -> Result<String> {
        self.state.issue(subject, access)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl State {
    fn issue(&self, subject: &str, access: &[Access]) -> Result<String> {
        let what = || format!("issuing a token for {subject:?}");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|err| HarnessError::token(what(), format!("reading the clock: {err}")))?
            .as_secs();
        let mut jti = [0u8; 16];
        self.rng.fill(&mut jti).map_err(|err| {
            HarnessError::token(what(), format!("generating a random jti: {err}"))
        })?;
        let header = json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + EXPIRES_IN,
            "nbf": now.saturating_sub(10),
            "iat": now,
            "jti": hex::encode(jti),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|err| HarnessError::token(what(), format!("signing: {err}")))?;
        self.issued.fetch_add(1, Ordering::SeqCst);
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    fn refresh_token(&self) -> String {
        let digest = Sha256::digest(format!("{}:{}", self.user, self.password));
        format!("skiff-refresh-{}", hex::encode(&digest[..16]))
    }

    /// Grants the requested scopes to the right user, nothing to anonymous.
    fn grant(&self, scopes: &[String], authenticated: bool) -> Vec<Access> {
        if !authenticated {
            return Vec::new();
        }
        scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter_map(Access::parse_scope)
            .map(|mut access| {
                access.actions.retain(|a| GRANTABLE.contains(&a.as_str()));
                access
            })
            .collect()
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, mut shutdown: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("skiff token server: {err}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn respond(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let code = if status == StatusCode::UNAUTHORIZED {
        "UNAUTHORIZED"
    } else {
        "DENIED"
    };
    let mut response = respond(
        status,
        json!({"errors": [{"code": code, "message": message}], "details": message}),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"skiff-token-server\""),
        );
    }
    response
}

/// `Some(true)` right credentials, `Some(false)` wrong ones, `None` none.
fn basic_auth(state: &State, req: &Request<Incoming>) -> Option<bool> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Some(false);
    };
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    Some(decoded.split_once(':') == Some((state.user.as_str(), state.password.as_str())))
}

fn token_response(
    state: &State,
    subject: &str,
    access: &[Access],
    refresh: bool,
) -> Response<Full<Bytes>> {
    match state.issue(subject, access) {
        Ok(token) => {
            let mut body = json!({
                "token": token,
                "access_token": token,
                "expires_in": EXPIRES_IN,
                "issued_at": issued_at(),
            });
            if refresh {
                body["refresh_token"] = json!(state.refresh_token());
            }
            respond(StatusCode::OK, body)
        }
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if req.uri().path() != "/token" {
        return error(StatusCode::NOT_FOUND, "not found");
    }
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or_default();
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let scopes: Vec<String> = values(&params, "scope");
        let offline = values(&params, "offline_token").iter().any(|v| v == "true");
        return match basic_auth(state, &req) {
            Some(true) => {
                let access = state.grant(&scopes, true);
                token_response(state, &state.user, &access, offline)
            }
            Some(false) => error(StatusCode::UNAUTHORIZED, "invalid username or password"),
            None => token_response(state, "", &[], false),
        };
    }
    if req.method() == Method::POST {
        let body = match req.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => return error(StatusCode::BAD_REQUEST, &format!("reading body: {err}")),
        };
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        let field = |name: &str| values(&params, name).into_iter().next().unwrap_or_default();
        let scopes = values(&params, "scope");
        let authenticated = match field("grant_type").as_str() {
            "password" => field("username") == state.user && field("password") == state.password,
            "refresh_token" => field("refresh_token") == state.refresh_token(),
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("unsupported grant_type {other:?}"),
                );
            }
        };
        if !authenticated {
            return error(StatusCode::UNAUTHORIZED, "invalid credentials");
        }
        let access = state.grant(&scopes, true);
        let offline = field("access_type") == "offline";
        return token_response(state, &state.user, &access, offline);
    }
    error(StatusCode::METHOD_NOT_ALLOWED, "GET or POST only")
}

fn values(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Now as RFC 3339 (UTC).
fn issued_at() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scopes() {
        assert_eq!(
            Access::parse_scope("repository:private/busybox:pull,push"),
            Some(Access::repository("private/busybox", &["pull", "push"]))
        );
        assert_eq!(
            Access::parse_scope("registry:catalog:*").map(|a| a.actions),
            Some(vec!["*".to_string()])
        );
        assert_eq!(Access::parse_scope("nonsense"), None);
    }
}
