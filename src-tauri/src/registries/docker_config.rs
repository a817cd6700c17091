//! The docker CLI's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): which credential helper serves a registry
//! (`credHelpers`, else `credsStore`), and the `credHelpers` entry the app
//! adds so the CLI finds what it stored. Every other key is kept as it is;
//! the file is replaced atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The config file the docker CLI reads.
pub fn path_from_env() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// A read `config.json` (empty when the file does not exist).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerConfig {
    root: Map<String, Value>,
}

impl DockerConfig {
    /// Reads `path`; a missing file is an empty config, a malformed one an
    /// error naming it.
    pub fn read(path: &Path) -> Result<DockerConfig> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::default());
            }
            Err(err) => {
                return Err(Error::Internal(format!(
                    "reading {}: {err}",
                    path.display()
                )));
            }
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(DockerConfig::default());
        }
        match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(root)) => Ok(DockerConfig { root }),
            Ok(_) | Err(_) => Err(Error::InvalidRequest(format!(
                "{} is not a JSON object; fix or remove it first",
                path.display()
            ))),
        }
    }

    /// The helper (`desktop`, `pass`, `skiff`, …: the part after
    /// `docker-credential-`) serving `server`: its `credHelpers` entry,
    /// else `credsStore`; `None` means the CLI would use `auths` (plain
    /// base64 in this file).
    pub fn helper_for(&self, server: &str) -> Option<String> {
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        self.root
            .get("credHelpers")
            .and_then(|h| h.get(server))
            .and_then(text)
            .or_else(|| self.root.get("credsStore").and_then(text))
    }

    /// The `credsStore` helper, if any.
    pub fn creds_store(&self) -> Option<String> {
        self.root
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Servers named in `credHelpers` with their helper.
    pub fn cred_helpers(&self) -> Vec<(String, String)> {
        let Some(Value::Object(map)) = self.root.get("credHelpers") else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
    }

    /// Servers with an `auths` entry (credentials the CLI keeps in the
    /// file itself, or an empty entry a helper-backed login leaves).
    pub fn auths(&self) -> Vec<String> {
        match self.root.get("auths") {
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `auths` holds a secret for `server` (plain base64).
    pub fn has_plain_secret(&self, server: &str) -> bool {
        self.root
            .get("auths")
            .and_then(|a| a.get(server))
            .is_some_and(|entry| {
                ["auth", "password", "identitytoken"].iter().any(|k| {
                    entry
                        .get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                })
            })
    }

    /// Sets `credHelpers[server] = helper`.
    pub fn set_cred_helper(&mut self, server: &str, helper: &str) {
        let helpers = self
            .root
            .entry("credHelpers")
            .or_insert_with(|| Value::Object(Map::new()));
        if !helpers.is_object() {
            *helpers = Value::Object(Map::new());
        }
        if let Value::Object(map) = helpers {
            map.insert(server.to_string(), Value::String(helper.to_string()));
        }
    }

    /// Removes `credHelpers[server]` when it is `helper`; whether it did.
    pub fn remove_cred_helper(&mut self, server: &str, helper: &str) -> bool {
        let Some(Value::Object(map)) = self.root.get_mut("credHelpers") else {
            return false;
        };
        if map.get(server).and_then(Value::as_str) == Some(helper) {
            map.remove(server);
            return true;
        }
        false
    }

    /// Removes `auths[server]` (as `docker logout` does); whether it did.
    pub fn remove_auth(&mut self, server: &str) -> bool {
        match self.root.get_mut("auths") {
            Some(Value::Object(map)) => map.remove(server).is_some(),
            _ => false,
        }
    }

    /// `currentContext`: the context `docker` uses (`None`: `default`).
    pub fn current_context(&self) -> Option<String> {
        self.root
            .get("currentContext")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Sets `currentContext` to `name`; `default` removes the key, as
    /// `docker context use default` does.
    pub fn set_current_context(&mut self, name: &str) {
        if name == "default" {
            self.root.remove("currentContext");
        } else {
            self.root
                .insert("currentContext".into(), Value::String(name.to_string()));
        }
    }

    /// Writes the config to `path` atomically (mode 0600, as the CLI).
    pub fn write(&self, path: &Path) -> Result<()> {
        let failed = |what: &str, err: std::io::Error| {
            Error::Internal(format!("{what} {}: {err}", path.display()))
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| failed("creating the folder of", e))?;
        let mut text = serde_json::to_vec_pretty(&Value::Object(self.root.clone()))
            .map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))?;
        text.push(b'\n');
        let mut file = tempfile::Builder::new()
            .prefix(".config.json.")
            .tempfile_in(dir)
            .map_err(|e| failed("writing", e))?;
        file.write_all(&text).map_err(|e| failed("writing", e))?;
        file.as_file()
            .sync_all()
            .map_err(|e| failed("writing", e))?;
        file.persist(path)
            .map_err(|e| failed("replacing", e.error))?;
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_follow_the_clis_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        assert_eq!(
            DockerConfig::read(&path).expect("missing"),
            DockerConfig::default()
        );
        std::fs::write(
            &path,
            r#"{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"},"auths":{"a.io":{"auth":"eDp5"}},"proxies":{"x":1}}"#,
        )
        .expect("write");
        let mut config = DockerConfig::read(&path).expect("read");
        assert_eq!(config.helper_for("gcr.io").as_deref(), Some("gcloud"));
        assert_eq!(
            config.helper_for("127.0.0.1:5000").as_deref(),
            Some("desktop")
        );
        assert!(config.has_plain_secret("a.io"));
        config.set_cred_helper("127.0.0.1:5000", "skiff");
        config.write(&path).expect("write");
        let mut again = DockerConfig::read(&path).expect("read");
        assert_eq!(again.helper_for("127.0.0.1:5000").as_deref(), Some("skiff"));
        assert!(again.root.contains_key("proxies"), "other keys are kept");
        assert!(!again.remove_cred_helper("gcr.io", "skiff"), "not ours");
        assert!(again.remove_cred_helper("127.0.0.1:5000", "skiff"));
        assert!(again.remove_auth("a.io"));
        assert!(!again.has_plain_secret("a.io"));
        std::fs::write(&path, "[1]").expect("write");
        assert!(DockerConfig::read(&path).is_err());
    }
}
