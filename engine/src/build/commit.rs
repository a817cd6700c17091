//! `docker commit`: a container's changes become a layer on its image.
//!
//! As dockerd: the container is paused while its changes are read (unless
//! `pause=false`; a stopped or already paused container is left as it is);
//! the new config is the request's config (the body) with the `--change`
//! instructions applied ([`metadata::apply_changes`], dockerd's subset),
//! filled in from the container's config where unset; the history gets
//! one entry (`created_by` the container's command, `comment` the
//! message, `author`); the image's parent is the container's image. The
//! container gets a `commit` event.

use std::io::Seek;

use bollard_stubs::models::ContainerConfig;
use serde_json::{Map, Value};
use skiff_oci::Digest;
use skiff_oci::documents::History;

use super::BuildService;
use super::error::BuildError;
use super::metadata;
use crate::containers::record::Status;
use crate::images::compose::NewImage;
use crate::images::now_rfc3339;

/// A commit request (`POST /commit`).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `container`.
    pub container: String,
    /// `repo` (may carry a tag).
    pub repo: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `comment` (`-m`).
    pub comment: Option<String>,
    /// `author` (`-a`).
    pub author: Option<String>,
    /// `pause` (default true).
    pub pause: bool,
    /// `changes` (`-c`), one instruction each.
    pub changes: Vec<String>,
    /// The body: a container config overriding the container's.
    pub config: Option<ContainerConfig>,
}

/// dockerd's `merge`: fill what `user` leaves unset from the container's
/// config.
fn merge(user: &mut Map<String, Value>, container: &Map<String, Value>) {
    for (k, v) in container {
        let unset = match user.get(k) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty() && k != "Labels",
            _ => false,
        };
        if k == "Env" {
            // Env merges by key: the user's win.
            let mut env: Vec<Value> = v.as_array().cloned().unwrap_or_default();
            for e in user
                .get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let key = e
                    .as_str()
                    .and_then(|s| s.split('=').next())
                    .unwrap_or_default()
                    .to_owned();
                env.retain(|x| x.as_str().and_then(|s| s.split('=').next()) != Some(key.as_str()));
                env.push(e);
            }
            user.insert(k.clone(), Value::Array(env));
        } else if k == "ExposedPorts" || k == "Volumes" || k == "Labels" {
            let mut merged = v.as_object().cloned().unwrap_or_default();
            if let Some(mine) = user.get(k).and_then(Value::as_object) {
                merged.extend(mine.clone());
            }
            user.insert(k.clone(), Value::Object(merged));
        } else if unset {
            user.insert(k.clone(), v.clone());
        }
    }
}

impl BuildService {
    /// Commit a container; returns the new image's id.
    pub async fn commit(&self, req: CommitRequest) -> Result<Digest, BuildError> {
        let record = self.containers.resolve(&req.container)?;
        let mut runtime: Map<String, Value> = match &req.config {
            Some(c) => match serde_json::to_value(c) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            None => Map::new(),
        };
        runtime.retain(|_, v| !v.is_null());
        metadata::apply_changes(&mut runtime, &req.changes)?;
        let container_config = match serde_json::to_value(&record.config) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        merge(&mut runtime, &container_config);
        let mut image_ref = String::new();
        let tags = match req.repo.as_deref().filter(|r| !r.is_empty()) {
            None => vec![],
            Some(repo) => {
                let r = skiff_oci::reference::Reference::parse(repo)
                    .map_err(crate::images::ImageError::from)?;
                let r = match req.tag.as_deref().filter(|t| !t.is_empty()) {
                    Some(t) => r.with_tag(t).map_err(crate::images::ImageError::from)?,
                    None => r.with_default_tag(),
                };
                image_ref = r.familiar();
                vec![r.to_string()]
            }
        };
        let paused = req.pause && record.state.status == Status::Running;
        if paused {
            self.containers.set_paused(&record.id, true).await?;
        }
        let layer = async {
            let (upper, lower) = self.containers.layer_dirs(&record)?;
            let file = tempfile::tempfile_in(&self.scratch)
                .map_err(|e| BuildError::io("creating a layer file", e))?;
            let mut file = tokio::task::spawn_blocking(move || {
                crate::containers::diff_export::write_changes(&upper, &lower, file)
            })
            .await?
            .map_err(|e| BuildError::io("reading the container's changes", e))?;
            file.rewind()
                .map_err(|e| BuildError::io("reading a layer file", e))?;
            Ok::<_, BuildError>(file)
        }
        .await;
        if paused {
            if let Err(e) = self.containers.set_paused(&record.id, false).await {
                tracing::warn!("unpausing {} after commit: {e}", record.id);
            }
        }
        let mut layer = layer?;
        let mut config = self.images.config_of(&record.image_id)?;
        let now = now_rfc3339();
        let created_by = record
            .config
            .cmd
            .as_ref()
            .map(|c| c.join(" "))
            .unwrap_or_default();
        let author = req.author.clone().filter(|a| !a.is_empty());
        config.created = Some(now.clone());
        config.author = author.clone();
        config.config = Some(Value::Object(runtime));
        config.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            author,
            comment: req.comment.clone().filter(|c| !c.is_empty()),
            empty_layer: false,
        });
        let image = NewImage {
            config,
            parent: Some(record.image_id.clone()),
            tags,
        };
        let images = self.images.clone();
        let id = tokio::task::spawn_blocking(move || images.create_image(Some(&mut layer), image))
            .await??;
        self.containers.committed(
            &record.id,
            &id.to_string(),
            &image_ref,
            req.comment.as_deref().unwrap_or_default(),
        );
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_config_fills_what_the_request_leaves_unset() {
        let mut user = json!({"Cmd": ["new"], "Env": ["A=2"], "Labels": {"x": "1"}})
            .as_object()
            .cloned()
            .expect("object");
        let container =
            json!({"Cmd": ["old"], "Env": ["PATH=/bin", "A=1"], "User": "u", "Labels": {"y": "2"}})
                .as_object()
                .cloned()
                .expect("object");
        merge(&mut user, &container);
        assert_eq!(user["Cmd"], json!(["new"]));
        assert_eq!(user["Env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(user["User"], json!("u"));
        assert_eq!(user["Labels"], json!({"x": "1", "y": "2"}));
    }
}
