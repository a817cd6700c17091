//! Registries: sign in and out, with the credentials stored where the
//! docker CLI finds them, and the tags a registry lists.
//!
//! Where credentials go (the CLI's own order, `config.json` read by
//! [`docker_config`]):
//! 1. the helper `credHelpers[server]` names, else the `credsStore` one
//!    ([`helper`]: the docker-credential protocol);
//! 2. with no helper, the OS keychain ([`keychain`]), and `config.json`
//!    gets `credHelpers[server] = "skiff"`, so the CLI asks
//!    `docker-credential-skiff` — a binary of this crate that reads the
//!    same keychain, put on the CLI's `PATH` first ([`cli_path`]; a
//!    sign-in it cannot be put there for is refused). The app never
//!    writes a secret in a file; it reads the
//!    CLI's plain `auths` entries (a `docker login` without a helper) and
//!    drops the one of a server it signs out of.

pub mod cli_path;
pub mod docker_config;
pub mod helper;
pub mod keychain;
pub mod login;
pub mod tags;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use skiff_registry::Credentials;

use self::cli_path::CliPath;
use self::docker_config::DockerConfig;
use self::helper::{Helper, HelperCredentials};
use self::keychain::{Backend, Keychain};
use crate::error::{Error, Result};

/// Docker Hub's key in `config.json` and credential helpers.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";
/// The helper name of the app's keychain bridge.
pub const OUR_HELPER: &str = "skiff";
/// The user name credential helpers store with an identity token.
const TOKEN_USER: &str = "<token>";

/// A registry signed in to, as the Registries view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    /// The key (`https://index.docker.io/v1/`, `host:port`).
    pub server: String,
    /// The user, when known.
    pub username: Option<String>,
    /// Where the secret is: `keychain` (the app's, through
    /// `docker-credential-skiff`), `session keyring`, `helper <name>`, or
    /// `config.json` (the CLI's plain base64 entry).
    pub store: String,
}

/// What `registry_sign_in` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`; blank: Docker Hub.
    pub server: String,
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

/// The registries service.
#[derive(Clone)]
pub struct Registries {
    config: Option<PathBuf>,
    keychain: Arc<OnceLock<Keychain>>,
    open_keychain: Arc<dyn Fn() -> Keychain + Send + Sync>,
    /// Where helpers are looked for; `None`: on `PATH` (tests set it).
    helpers_in: Option<PathBuf>,
    /// Where `docker-credential-skiff` goes for the CLI.
    cli_path: CliPath,
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registries")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for Registries {
    fn default() -> Self {
        Registries::new(docker_config::path_from_env(), Arc::new(Keychain::os))
    }
}

/// `server` as `config.json` keys it: Docker Hub's names become
/// [`DOCKER_HUB`]; others lose their scheme, path and trailing `/`.
pub fn server_key(server: &str) -> String {
    let text = server.trim();
    let host = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    match host.as_str() {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

/// The server key of an image reference (`alpine` → Docker Hub).
pub fn server_of(reference: &str) -> Result<String> {
    let parsed = tags::parse(reference)?;
    Ok(server_key(parsed.index_name()))
}

impl Registries {
    /// Over the docker config at `config` and the keychain `open` opens
    /// (on first use: it may talk to D-Bus).
    pub fn new(
        config: Option<PathBuf>,
        open: Arc<dyn Fn() -> Keychain + Send + Sync>,
    ) -> Registries {
        Registries {
            config,
            keychain: Arc::default(),
            open_keychain: open,
            helpers_in: None,
            cli_path: CliPath::from_env(),
        }
    }

    /// Puts the app's helper on the CLI's path as `cli_path` says (tests
    /// set it; the default is this process's `PATH` and `HOME`).
    pub fn with_cli_path(mut self, cli_path: CliPath) -> Registries {
        self.cli_path = cli_path;
        self
    }

    /// Looks for credential helpers in `dir` rather than on `PATH`.
    pub fn with_helpers_in(mut self, dir: PathBuf) -> Registries {
        self.helpers_in = Some(dir);
        self
    }

    fn helper(&self, name: &str) -> Helper {
        match &self.helpers_in {
            Some(dir) => Helper::at(dir, name),
            None => Helper::named(name),
        }
    }

    fn keychain(&self) -> &Keychain {
        self.keychain.get_or_init(|| (self.open_keychain)())
    }

    fn config_path(&self) -> Result<&PathBuf> {
        self.config.as_ref().ok_or_else(|| {
            Error::InvalidRequest(
                "there is no home folder for the docker config (set HOME or DOCKER_CONFIG)"
                    .to_string(),
            )
        })
    }

    fn read_config(&self) -> Result<DockerConfig> {
        match &self.config {
            Some(path) => DockerConfig::read(path),
            None => Ok(DockerConfig::default()),
        }
    }

    /// The helper serving `server`, unless it is the app's own bridge
    /// (whose store the app reads directly).
    fn foreign_helper(&self, config: &DockerConfig, server: &str) -> Option<Helper> {
        config
            .helper_for(server)
            .filter(|name| name != OUR_HELPER)
            .map(|name| self.helper(&name))
    }

    /// The stored credentials of `server` (a key), from its helper, the
    /// keychain, or the CLI's plain `auths` entry.
    pub fn stored(&self, server: &str) -> Result<Option<HelperCredentials>> {
        let config = self.read_config()?;
        if let Some(helper) = self.foreign_helper(&config, server) {
            return helper.get(server);
        }
        if config.helper_for(server).as_deref() == Some(OUR_HELPER) {
            return self.keychain().get(server);
        }
        Ok(self.plain(server))
    }

    /// The CLI's `auths[server].auth` (base64 `user:password`), read only.
    fn plain(&self, server: &str) -> Option<HelperCredentials> {
        let path = self.config.as_ref()?;
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let entry = value.get("auths")?.get(server)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entry.get("auth")?.as_str()?)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, secret) = text.split_once(':')?;
        Some(HelperCredentials {
            server_url: server.to_string(),
            username: username.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The registry client's credentials for an image `reference`.
    pub fn credentials_for(&self, reference: &str) -> Option<Credentials> {
        let server = server_of(reference).ok()?;
        match self.stored(&server) {
            Ok(found) => found.map(to_credentials),
            Err(err) => {
                tracing::warn!("credentials of {server}: {err}");
                None
            }
        }
    }

    /// The `X-Registry-Auth` value for pushing `reference` (base64url of
    /// docker's auth config JSON); `None` when not signed in.
    pub fn auth_header_for(&self, reference: &str) -> Option<String> {
        let server = server_of(reference).ok()?;
        let creds = self.stored(&server).ok()??;
        Some(auth_header(&creds))
    }

    /// Stores `creds` (already accepted by the registry) where the CLI
    /// will find them; returns the store's name.
    pub fn store(&self, creds: &HelperCredentials) -> Result<String> {
        let mut config = self.read_config()?;
        if let Some(helper) = self.foreign_helper(&config, &creds.server_url) {
            helper.store(creds)?;
            return Ok(format!("helper {}", helper.name()));
        }
        let path = self.config_path()?.clone();
        // Never name a helper the CLI cannot find.
        self.cli_path.ensure()?;
        self.keychain().store(creds)?;
        config.set_cred_helper(&creds.server_url, OUR_HELPER);
        // A plain entry of an earlier `docker login` would outlive us.
        config.remove_auth(&creds.server_url);
        config.write(&path)?;
        Ok(self.keychain_name().to_string())
    }

    fn keychain_name(&self) -> &'static str {
        match self.keychain().backend() {
            Backend::SecretService => "keychain",
            Backend::Session => "session keyring",
        }
    }

    /// At start: when `config.json` names the app's helper, makes sure the
    /// CLI still finds it (the app may have moved since the sign-in: a
    /// link of ours is re-pointed); what cannot be fixed is logged (the
    /// next sign-in says it in the Registries view).
    pub fn check_cli_helper(&self) {
        let named = self.read_config().is_ok_and(|config| {
            config
                .cred_helpers()
                .iter()
                .any(|(_, helper)| helper == OUR_HELPER)
        });
        if !named {
            return;
        }
        match self.cli_path.ensure() {
            Ok(path) => tracing::debug!("the docker CLI runs {}", path.display()),
            Err(err) => tracing::warn!("the docker CLI's credential helper: {err}"),
        }
    }

    /// Signs out of `server`: its secret is erased from wherever it is,
    /// the app's `credHelpers` entry and any plain `auths` entry removed.
    pub fn sign_out(&self, server: &str) -> Result<()> {
        let server = server_key(server);
        let mut config = self.read_config()?;
        if let Some(helper) = self.foreign_helper(&config, &server) {
            helper.erase(&server)?;
        } else {
            self.keychain().erase(&server)?;
        }
        let ours = config.remove_cred_helper(&server, OUR_HELPER);
        let plain = config.remove_auth(&server);
        if ours || plain {
            config.write(self.config_path()?)?;
        }
        Ok(())
    }

    /// The registries signed in to.
    pub fn list(&self) -> Result<Vec<SignedIn>> {
        let config = self.read_config()?;
        let mut out: Vec<SignedIn> = Vec::new();
        let mut add = |server: String, username: Option<String>, store: String| {
            if !out.iter().any(|s| s.server == server) {
                out.push(SignedIn {
                    server,
                    username,
                    store,
                });
            }
        };
        for (server, helper) in config.cred_helpers() {
            if helper == OUR_HELPER {
                let user = self.keychain().list()?.get(&server).cloned();
                if user.is_some() {
                    add(server, user, self.keychain_name().to_string());
                }
            } else {
                add(server, None, format!("helper {helper}"));
            }
        }
        if let Some(store) = config.creds_store() {
            match self.helper(&store).list() {
                Ok(servers) => {
                    for (server, user) in servers {
                        add(server, Some(user), format!("helper {store}"));
                    }
                }
                Err(err) => tracing::warn!("listing {store}'s credentials: {err}"),
            }
        }
        for server in config.auths() {
            if config.has_plain_secret(&server) {
                let user = self.plain(&server).map(|c| c.username);
                add(server, user, "config.json".to_string());
            }
        }
        out.sort_by(|a, b| a.server.cmp(&b.server));
        Ok(out)
    }
}

/// Helper credentials as the registry client's.
fn to_credentials(creds: HelperCredentials) -> Credentials {
    if creds.username == TOKEN_USER {
        Credentials {
            identity_token: Some(creds.secret),
            ..Credentials::default()
        }
    } else {
        Credentials::basic(creds.username, creds.secret)
    }
}

/// docker's auth config JSON, base64url: `X-Registry-Auth`.
pub fn auth_header(creds: &HelperCredentials) -> String {
    let json = if creds.username == TOKEN_USER {
        serde_json::json!({ "identitytoken": creds.secret, "serveraddress": creds.server_url })
    } else {
        serde_json::json!({
            "username": creds.username,
            "password": creds.secret,
            "serveraddress": creds.server_url,
        })
    };
    base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
}

#[cfg(test)]
mod tests;
