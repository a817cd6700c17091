//! Registry credentials, and docker's `AuthConfig` as sent by clients in the
//! `X-Registry-Auth` header (base64url JSON) and the `POST /auth` body.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::error::RegistryError;

/// What to authenticate to a registry with. `Debug` redacts secrets.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// User name (for basic auth and token requests).
    pub username: String,
    /// Password or personal access token.
    pub password: String,
    /// An OAuth2 refresh token from a previous `docker login`
    /// (`IdentityToken`); when set it is exchanged for bearer tokens
    /// instead of the password.
    pub identity_token: Option<String>,
    /// A bearer token to send to the registry as is (`registrytoken`).
    pub registry_token: Option<String>,
}

impl Credentials {
    /// Username / password credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            ..Self::default()
        }
    }

    /// Decode an `X-Registry-Auth` header straight to credentials; `None`
    /// when the header carries none (empty header, `{}`, empty fields).
    pub fn from_registry_auth_header(header: &str) -> Result<Option<Self>, RegistryError> {
        Ok(AuthConfig::from_header(header)?.credentials())
    }

    /// True when there is a username and password to send as basic auth.
    pub(crate) fn has_password(&self) -> bool {
        !self.username.is_empty() && !self.password.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &redacted(!self.password.is_empty()))
            .field("identity_token", &redacted(self.identity_token.is_some()))
            .field("registry_token", &redacted(self.registry_token.is_some()))
            .finish()
    }
}

fn redacted(present: bool) -> &'static str {
    if present { "<redacted>" } else { "<none>" }
}

/// The JSON of a base64url header (padding optional, the standard
/// alphabet accepted too); `None` for an empty header.
fn decode_header(header: &str) -> Result<Option<Vec<u8>>, RegistryError> {
    let trimmed = header.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let normalised: String = trimmed
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD
        .decode(normalised.as_bytes())
        .map(Some)
        .map_err(|e| RegistryError::InvalidAuthConfig(e.to_string()))
}

/// docker's `AuthConfig` (`registry.AuthConfig` in the Engine API). Field
/// names are matched case-insensitively, as Go's JSON decoder does.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `username`
    pub username: String,
    /// `password`
    pub password: String,
    /// `auth`: base64 of `username:password` (used when those are empty).
    pub auth: String,
    /// `email` (ignored by registries, kept for completeness).
    pub email: String,
    /// `serveraddress`: the registry the credentials are for.
    pub server_address: String,
    /// `identitytoken`
    pub identity_token: String,
    /// `registrytoken`
    pub registry_token: String,
}

impl AuthConfig {
    /// Decode an `X-Registry-Auth` header: base64url JSON, padding optional;
    /// the standard base64 alphabet is accepted too. An empty header is an
    /// empty config.
    pub fn from_header(header: &str) -> Result<Self, RegistryError> {
        match decode_header(header)? {
            None => Ok(Self::default()),
            Some(json) => Self::from_json(&json),
        }
    }

    /// Decode an `X-Registry-Config` header (`docker build`): base64url
    /// JSON of registry → auth config; the credentials of each registry
    /// that has some. An empty header is an empty map.
    pub fn registry_config(
        header: &str,
    ) -> Result<std::collections::BTreeMap<String, Credentials>, RegistryError> {
        let Some(json) = decode_header(header)? else {
            return Ok(Default::default());
        };
        let map: Map<String, Value> = serde_json::from_slice(&json)
            .map_err(|e| RegistryError::InvalidAuthConfig(e.to_string()))?;
        let mut out = std::collections::BTreeMap::new();
        for (registry, config) in map {
            let bytes = serde_json::to_vec(&config)
                .map_err(|e| RegistryError::InvalidAuthConfig(e.to_string()))?;
            if let Some(c) = Self::from_json(&bytes)?.credentials() {
                out.insert(registry, c);
            }
        }
        Ok(out)
    }

    /// Decode the JSON form (the `POST /auth` body, or a decoded header).
    pub fn from_json(json: &[u8]) -> Result<Self, RegistryError> {
        let map: Map<String, Value> = serde_json::from_slice(json)
            .map_err(|e| RegistryError::InvalidAuthConfig(e.to_string()))?;
        let field = |name: &str| -> String {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Self {
            username: field("username"),
            password: field("password"),
            auth: field("auth"),
            email: field("email"),
            server_address: field("serveraddress"),
            identity_token: field("identitytoken"),
            registry_token: field("registrytoken"),
        })
    }

    /// The credentials this config carries, `None` when it carries nothing
    /// usable. `auth` is decoded when `username`/`password` are empty; a
    /// malformed `auth` is ignored.
    pub fn credentials(&self) -> Option<Credentials> {
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if username.is_empty() && password.is_empty() && !self.auth.is_empty() {
            let decoded = STANDARD
                .decode(self.auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                (username, password) = (u.to_owned(), p.to_owned());
            }
        }
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let creds = Credentials {
            username,
            password,
            identity_token: non_empty(&self.identity_token),
            registry_token: non_empty(&self.registry_token),
        };
        let empty = creds.username.is_empty()
            && creds.password.is_empty()
            && creds.identity_token.is_none()
            && creds.registry_token.is_none();
        (!empty).then_some(creds)
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &redacted(!self.password.is_empty()))
            .field("auth", &redacted(!self.auth.is_empty()))
            .field("server_address", &self.server_address)
            .field("identity_token", &redacted(!self.identity_token.is_empty()))
            .field("registry_token", &redacted(!self.registry_token.is_empty()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn registry_config_maps_registries_to_credentials() {
        let json = r#"{"127.0.0.1:5000":{"username":"u","password":"p"},"https://index.docker.io/v1/":{},"x":{"auth":"YTpi"}}"#;
        let header = URL_SAFE_NO_PAD.encode(json);
        let map = AuthConfig::registry_config(&header).expect("decode");
        assert_eq!(map.len(), 2, "{map:?}");
        assert_eq!(map["127.0.0.1:5000"].username, "u");
        assert_eq!(map["x"].password, "b");
        assert!(AuthConfig::registry_config("").expect("empty").is_empty());
    }
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE};

    use super::*;

    #[test]
    fn decodes_every_base64_flavour() {
        // `?>` and `~` make the std and url alphabets differ.
        let json =
            r#"{"username":"u?>","password":"p~~~","serveraddress":"https://index.docker.io/v1/"}"#;
        for encoded in [
            URL_SAFE.encode(json),
            URL_SAFE_NO_PAD.encode(json),
            STANDARD.encode(json),
            STANDARD_NO_PAD.encode(json),
            format!("  {}\n", URL_SAFE.encode(json)),
        ] {
            let cfg =
                AuthConfig::from_header(&encoded).unwrap_or_else(|e| panic!("{encoded}: {e}"));
            assert_eq!(cfg.server_address, "https://index.docker.io/v1/");
            let creds = cfg.credentials().expect("credentials");
            assert_eq!(
                (creds.username.as_str(), creds.password.as_str()),
                ("u?>", "p~~~")
            );
        }
    }

    #[test]
    fn empty_configs_carry_no_credentials() {
        for header in [
            "",
            "e30",
            "e30=",
            &URL_SAFE.encode(r#"{"username":"","password":"","serveraddress":"x"}"#),
        ] {
            assert_eq!(
                Credentials::from_registry_auth_header(header).expect("decodes"),
                None,
                "{header}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            AuthConfig::from_header("!!!"),
            Err(RegistryError::InvalidAuthConfig(_))
        ));
        assert!(matches!(
            AuthConfig::from_header(&URL_SAFE.encode("[1]")),
            Err(RegistryError::InvalidAuthConfig(_))
        ));
        assert!(
            AuthConfig::from_header(&URL_SAFE.encode("nope"))
                .expect_err("not json")
                .to_string()
                .starts_with("invalid X-Registry-Auth header: ")
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_auth_is_decoded() {
        let cfg = AuthConfig::from_json(
            br#"{"Username":"a","Password":"b","IdentityToken":"","ServerAddress":"r"}"#,
        )
        .expect("json");
        assert_eq!(
            (
                cfg.username.as_str(),
                cfg.password.as_str(),
                cfg.server_address.as_str()
            ),
            ("a", "b", "r")
        );

        let auth = STANDARD.encode("user:pa:ss");
        let cfg =
            AuthConfig::from_json(format!(r#"{{"auth":"{auth}"}}"#).as_bytes()).expect("json");
        let creds = cfg.credentials().expect("credentials from auth");
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("user", "pa:ss")
        );

        let cfg = AuthConfig::from_json(br#"{"identitytoken":"refresh","registrytoken":"bearer"}"#)
            .expect("json");
        let creds = cfg.credentials().expect("tokens are credentials");
        assert_eq!(creds.identity_token.as_deref(), Some("refresh"));
        assert_eq!(creds.registry_token.as_deref(), Some("bearer"));
    }

    #[test]
    fn debug_redacts_secrets() {
        let creds = Credentials::basic("alice", "hunter2");
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
        let cfg = AuthConfig {
            password: "hunter2".into(),
            auth: "c2VjcmV0".into(),
            ..AuthConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
    }
}
