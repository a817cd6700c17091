//! Volumes: list (with the containers that mount each), create, remove,
//! prune.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerSummary, Volume as EngineVolume, VolumeCreateRequest};
use bollard::query_parameters::{
    ListContainersOptions, ListVolumesOptions, PruneVolumesOptions, RemoveVolumeOptions,
};
use serde::{Deserialize, Serialize};

use super::Engine;
use super::containers::non_empty;
use crate::error::Result;

/// A row of the volumes view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// The name (a 64-hex name for an anonymous volume).
    pub name: String,
    /// `local`, ...
    pub driver: String,
    /// Where the engine keeps it.
    pub mountpoint: String,
    /// RFC 3339, as the engine gives it; `null` when it does not.
    pub created: Option<String>,
    /// The names of the containers (running or not) that mount it, sorted.
    pub used_by: Vec<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// `create_volume`'s request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateVolume {
    /// The name; the engine picks one when absent or blank.
    #[serde(default)]
    pub name: Option<String>,
    /// The driver; `local` when absent or blank.
    #[serde(default)]
    pub driver: Option<String>,
    /// `KEY=value` labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// What `prune_volumes` removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    /// The names removed.
    pub removed: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: i64,
}

/// Every volume, sorted by name, each with the containers that mount it.
pub async fn list(engine: &Engine) -> Result<Vec<Volume>> {
    let answer = engine
        .call(|d| async move { d.list_volumes(None::<ListVolumesOptions>).await })
        .await?;
    let options = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let containers = engine
        .call(|d| async move { d.list_containers(Some(options)).await })
        .await?;
    Ok(rows(answer.volumes.unwrap_or_default(), &containers))
}

/// The rows for `volumes`, with their users among `containers`.
pub fn rows(volumes: Vec<EngineVolume>, containers: &[ContainerSummary]) -> Vec<Volume> {
    let users = users(containers);
    let mut rows: Vec<Volume> = volumes
        .into_iter()
        .map(|v| Volume {
            used_by: users.get(&v.name).cloned().unwrap_or_default(),
            created: v.created_at.as_ref().and_then(super::rfc3339),
            labels: v.labels.into_iter().collect(),
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// Volume name → the sorted names of the containers mounting it.
fn users(containers: &[ContainerSummary]) -> HashMap<String, Vec<String>> {
    let mut users: HashMap<String, Vec<String>> = HashMap::new();
    for c in containers {
        let name = super::containers::display_name(c);
        for mount in c.mounts.iter().flatten() {
            if mount.typ.as_deref() != Some("volume") {
                continue;
            }
            if let Some(volume) = mount.name.as_deref().filter(|n| !n.is_empty()) {
                users
                    .entry(volume.to_string())
                    .or_default()
                    .push(name.clone());
            }
        }
    }
    for names in users.values_mut() {
        names.sort();
        names.dedup();
    }
    users
}

/// Creates a volume; returns its name.
pub async fn create(engine: &Engine, request: CreateVolume) -> Result<String> {
    let options = create_options(&request)?;
    let volume = engine
        .call(|d| async move { d.create_volume(options).await })
        .await?;
    Ok(volume.name)
}

/// The engine's create body for `request`.
pub fn create_options(request: &CreateVolume) -> Result<VolumeCreateRequest> {
    let blank_none = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let labels = super::labels(&request.labels)?;
    Ok(VolumeCreateRequest {
        name: blank_none(&request.name),
        driver: Some(blank_none(&request.driver).unwrap_or_else(|| "local".to_string())),
        labels: (!labels.is_empty()).then_some(labels),
        ..Default::default()
    })
}

/// Removes volume `name` (`force`: docker's `volume rm -f`).
pub async fn remove(engine: &Engine, name: &str, force: bool) -> Result<()> {
    let name = non_empty(name, "volume name")?;
    let options = RemoveVolumeOptions { force };
    engine
        .call(|d| async move { d.remove_volume(name, Some(options)).await })
        .await
}

/// Removes the volumes no container uses (`all`: named ones too, as
/// `docker volume prune -a`; otherwise only anonymous ones).
pub async fn prune(engine: &Engine, all: bool) -> Result<Pruned> {
    let mut filters = HashMap::new();
    if all {
        filters.insert("all".to_string(), vec!["true".to_string()]);
    }
    let options = PruneVolumesOptions {
        filters: Some(filters),
    };
    let answer = engine
        .call(|d| async move { d.prune_volumes(Some(options)).await })
        .await?;
    Ok(Pruned {
        removed: answer.volumes_deleted.unwrap_or_default(),
        space_reclaimed: answer.space_reclaimed.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use bollard::models::MountPoint;

    use super::*;

    fn container(name: &str, volumes: &[&str]) -> ContainerSummary {
        ContainerSummary {
            names: Some(vec![format!("/{name}")]),
            mounts: Some(
                volumes
                    .iter()
                    .map(|v| MountPoint {
                        typ: Some("volume".into()),
                        name: Some((*v).to_string()),
                        ..Default::default()
                    })
                    .chain(std::iter::once(MountPoint {
                        typ: Some("bind".into()),
                        name: Some("data".into()),
                        ..Default::default()
                    }))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn volume(name: &str) -> EngineVolume {
        EngineVolume {
            name: name.into(),
            driver: "local".into(),
            ..Default::default()
        }
    }

    #[test]
    fn rows_name_the_containers_mounting_each_volume() {
        let containers = [
            container("web", &["data", "cache"]),
            container("api", &["data"]),
        ];
        let rows = rows(
            vec![volume("data"), volume("cache"), volume("spare")],
            &containers,
        );
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["cache", "data", "spare"]);
        assert_eq!(rows[0].used_by, ["web"]);
        assert_eq!(rows[1].used_by, ["api", "web"]);
        assert!(rows[2].used_by.is_empty());
    }

    #[test]
    fn create_defaults_the_driver_and_checks_labels() {
        let request: CreateVolume = serde_json::from_value(serde_json::json!({
            "name": " data ", "labels": ["team=web", " "]
        }))
        .expect("parse");
        let options = create_options(&request).expect("valid");
        assert_eq!(options.name.as_deref(), Some("data"));
        assert_eq!(options.driver.as_deref(), Some("local"));
        let labels = options.labels.expect("labels");
        assert_eq!(labels.get("team").map(String::as_str), Some("web"));
        let bad = CreateVolume {
            labels: vec!["=x".into()],
            ..request
        };
        assert_eq!(
            create_options(&bad).expect_err("nameless").kind(),
            "invalid_request"
        );
    }
}
