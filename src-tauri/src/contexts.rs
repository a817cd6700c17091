//! The docker CLI's contexts, as `docker context ls` / `docker context use`
//! see them: the built-in `default` plus every
//! `$DOCKER_CONFIG/contexts/meta/<sha256>/meta.json` (the machine writes
//! `skiff`'s there), the current one from `config.json`'s
//! `currentContext`. Switching rewrites only that key (atomically, every
//! other key kept), so the CLI in every new shell follows.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::registries::docker_config::{self, DockerConfig};

/// The context docker has built in.
pub const DEFAULT_CONTEXT: &str = "default";

/// One context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerContext {
    /// Its name (`default`, `skiff`, `desktop-linux`, …).
    pub name: String,
    /// Its description, as `docker context ls` shows it.
    pub description: String,
    /// Its docker endpoint (`unix:///…/docker.sock`, `tcp://…`).
    pub host: String,
}

/// The contexts and which one the CLI uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contexts {
    /// `default` first, then by name.
    pub contexts: Vec<DockerContext>,
    /// The context `config.json` names (`default` when none).
    pub current: String,
    /// Set when `DOCKER_CONTEXT` or `DOCKER_HOST` in this environment
    /// overrides `config.json` (the CLI started from here ignores it).
    pub overridden_by: Option<String>,
}

/// The docker CLI's config directory (`$DOCKER_CONFIG`, else
/// `~/.docker`).
pub fn config_dir_from_env() -> Result<PathBuf> {
    docker_config::path_from_env()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| {
            Error::Internal("neither DOCKER_CONFIG nor HOME is set: no docker config".into())
        })
}

/// What overrides `currentContext` in this environment, if anything.
pub fn override_from_env() -> Option<String> {
    ["DOCKER_CONTEXT", "DOCKER_HOST"]
        .into_iter()
        .find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{var}={v}"))
        })
}

/// The contexts under `config_dir`. A context whose `meta.json` cannot
/// be read is left out (and logged), as the CLI lists what it can.
pub fn list(config_dir: &Path, overridden_by: Option<String>) -> Result<Contexts> {
    let config = DockerConfig::read(&config_dir.join("config.json"))?;
    let mut contexts = vec![DockerContext {
        name: DEFAULT_CONTEXT.into(),
        description: "Current DOCKER_HOST based configuration".into(),
        host: std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into()),
    }];
    let meta = config_dir.join("contexts/meta");
    let entries = match std::fs::read_dir(&meta) {
        Ok(entries) => entries.flatten().collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => {
            return Err(Error::Internal(format!(
                "reading {}: {err}",
                meta.display()
            )));
        }
    };
    let mut found: Vec<DockerContext> = entries
        .iter()
        .filter_map(|entry| {
            let path = entry.path().join("meta.json");
            match read_meta(&path) {
                Ok(context) => Some(context),
                Err(err) => {
                    tracing::warn!("skipping context {}: {err}", path.display());
                    None
                }
            }
        })
        .filter(|c| c.name != DEFAULT_CONTEXT)
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    contexts.extend(found);
    Ok(Contexts {
        contexts,
        current: config
            .current_context()
            .unwrap_or_else(|| DEFAULT_CONTEXT.into()),
        overridden_by,
    })
}

fn read_meta(path: &Path) -> std::result::Result<DockerContext, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let meta: Value = serde_json::from_slice(&data).map_err(|e| e.to_string())?;
    let name = meta["Name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or("no Name")?;
    Ok(DockerContext {
        name: name.to_string(),
        description: meta["Metadata"]["Description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        host: meta["Endpoints"]["docker"]["Host"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// Makes `name` the CLI's current context; an unknown name is refused in
/// the CLI's words and changes nothing.
pub fn switch(config_dir: &Path, name: &str, overridden_by: Option<String>) -> Result<Contexts> {
    let before = list(config_dir, overridden_by.clone())?;
    if !before.contexts.iter().any(|c| c.name == name) {
        return Err(Error::NotFound(format!("context {name:?} does not exist")));
    }
    let path = config_dir.join("config.json");
    let mut config = DockerConfig::read(&path)?;
    config.set_current_context(name);
    config.write(&path)?;
    list(config_dir, overridden_by)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_switches_and_keeps_the_rest_of_config_json() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_dir = dir.path();
        // No config at all: only docker's default, current.
        let none = list(config_dir, None).expect("list");
        assert_eq!(none.current, "default");
        assert_eq!(none.contexts.len(), 1);
        // The machine's own writer makes `skiff`; another tool made `colima`.
        skiff_machine::docker_context::write_context(
            config_dir,
            "skiff",
            "unix:///m/docker.sock",
            "Skiff machine default",
        )
        .expect("skiff context");
        skiff_machine::docker_context::write_context(
            config_dir,
            "colima",
            "unix:///c/docker.sock",
            "colima",
        )
        .expect("colima context");
        // A broken one is skipped.
        let broken = config_dir.join("contexts/meta/broken");
        std::fs::create_dir_all(&broken).expect("dir");
        std::fs::write(broken.join("meta.json"), "{").expect("write");
        std::fs::write(
            config_dir.join("config.json"),
            r#"{"auths":{"a.io":{}},"currentContext":"colima"}"#,
        )
        .expect("config.json");
        let all = list(config_dir, None).expect("list");
        let names: Vec<&str> = all.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["default", "colima", "skiff"]);
        assert_eq!(all.current, "colima");
        assert_eq!(all.contexts[2].host, "unix:///m/docker.sock");

        let now = switch(config_dir, "skiff", None).expect("switch");
        assert_eq!(now.current, "skiff");
        let text = std::fs::read_to_string(config_dir.join("config.json")).expect("read");
        assert!(text.contains("\"currentContext\": \"skiff\""), "{text}");
        assert!(text.contains("a.io"), "other keys are kept: {text}");

        let err = switch(config_dir, "nope", None).expect_err("unknown");
        assert_eq!(err.kind(), "not_found");
        assert!(err.to_string().contains("\"nope\" does not exist"), "{err}");
        assert_eq!(list(config_dir, None).expect("list").current, "skiff");

        // `default` removes the key, as `docker context use default`.
        switch(config_dir, "default", None).expect("switch");
        let text = std::fs::read_to_string(config_dir.join("config.json")).expect("read");
        assert!(!text.contains("currentContext"), "{text}");
    }
}
