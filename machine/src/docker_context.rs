//! A docker CLI context for a machine, in docker's own on-disk format:
//! `$DOCKER_CONFIG/contexts/meta/<sha256 of the name>/meta.json` (the
//! config directory defaults to `~/.docker`). `docker context use skiff`
//! and `docker --context skiff …` then reach the machine's socket.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, MachineError, Result};
use crate::fsutil;
use crate::paths::DEFAULT_MACHINE;

/// The context of machine `machine`: `skiff` for the default machine,
/// `skiff-<name>` for others.
pub fn context_name(machine: &str) -> String {
    if machine == DEFAULT_MACHINE {
        "skiff".to_string()
    } else {
        format!("skiff-{machine}")
    }
}

/// The docker CLI's config directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".docker"))
}

/// The directory of context `name` under `config_dir`.
pub fn context_dir(config_dir: &Path, name: &str) -> PathBuf {
    config_dir
        .join("contexts/meta")
        .join(hex::encode(Sha256::digest(name.as_bytes())))
}

/// Writes (or replaces) context `name` pointing at `host` (e.g.
/// `unix:///…/docker.sock`). Returns the meta.json path.
pub fn write_context(
    config_dir: &Path,
    name: &str,
    host: &str,
    description: &str,
) -> Result<PathBuf> {
    let dir = context_dir(config_dir, name);
    std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": { "Description": description },
        "Endpoints": { "docker": { "Host": host, "SkipTLSVerify": false } },
    });
    let path = dir.join("meta.json");
    let data = serde_json::to_vec(&meta).map_err(|source| MachineError::Json {
        path: path.clone(),
        source,
    })?;
    fsutil::write_atomic(&path, &data)?;
    Ok(path)
}

/// Removes context `name` (missing: nothing to do).
pub fn remove_context(config_dir: &Path, name: &str) -> Result<()> {
    let dir = context_dir(config_dir, name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(MachineError::io(format!("removing {}", dir.display()), err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(context_name("default"), "skiff");
        assert_eq!(context_name("dev"), "skiff-dev");
    }

    #[test]
    fn writes_docker_meta_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_context(
            dir.path(),
            "skiff",
            "unix:///s/docker.sock",
            "Skiff machine default",
        )
        .expect("write");
        // sha256("skiff"), as the docker CLI names the directory.
        let want = dir.path().join(
            "contexts/meta/7985a8b8e1885ff73de4ece8dd8e8ed5280d2cd1422deb1f30f0c6aa1f4e70fc/meta.json",
        );
        assert_eq!(path, want);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(meta["Name"], "skiff");
        assert_eq!(meta["Endpoints"]["docker"]["Host"], "unix:///s/docker.sock");
        remove_context(dir.path(), "skiff").expect("remove");
        assert!(!path.exists());
        remove_context(dir.path(), "skiff").expect("idempotent");
    }
}
