//! Compose projects: the containers that carry the same
//! `com.docker.compose.project` label, acted on together.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptions;

use super::Engine;
use super::containers::{self, Action, PROJECT_LABEL, non_empty};
use crate::error::{Error, Result};

/// The ids and names of project `project`'s containers (running or not),
/// by name.
pub async fn members(engine: &Engine, project: &str) -> Result<Vec<(String, String)>> {
    let project = non_empty(project, "project name")?;
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{PROJECT_LABEL}={project}")],
    )]);
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let list = engine
        .call(|d| async move { d.list_containers(Some(options)).await })
        .await?;
    let mut members: Vec<(String, String)> = list
        .iter()
        .map(|c| {
            (
                c.id.clone().unwrap_or_default(),
                containers::display_name(c),
            )
        })
        .collect();
    members.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(members)
}

/// Runs `action` on every container of project `project`, one after the
/// other (each whatever became of the others); fails when the project has
/// no container, or with the failures, each named, after trying them all.
pub async fn act(engine: &Engine, project: &str, action: Action) -> Result<()> {
    let members = members(engine, project).await?;
    if members.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "no container belongs to the compose project {project}"
        )));
    }
    let mut failures = Vec::new();
    for (id, name) in &members {
        if let Err(err) = containers::act(engine, id, action).await {
            if err.is_unreachable() {
                return Err(err);
            }
            failures.push(format!("{name}: {}", err.sentence()));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Partial(failures.join("; ")))
    }
}
