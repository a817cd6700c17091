//! Images: list (with whether a container uses each), pull with progress,
//! remove.

use std::collections::HashSet;

use bollard::models::CreateImageInfo;
use bollard::query_parameters::{
    CreateImageOptions, ListContainersOptions, ListImagesOptions, RemoveImageOptions,
};
use futures_util::StreamExt;
use serde::Serialize;

use super::Engine;
use super::containers::non_empty;
use crate::error::{Error, Result};

/// A row of the images view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// `sha256:…`.
    pub id: String,
    /// `busybox:latest`, ...; empty for an untagged image.
    pub repo_tags: Vec<String>,
    /// Bytes.
    pub size: i64,
    /// Unix seconds.
    pub created: i64,
    /// A container (running or not) was created from it.
    pub in_use: bool,
}

/// A `pull-progress` event (and, as [`super::push::PushProgress`], a
/// `push-progress` one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// The reference being pulled or pushed, as the UI gave it.
    pub reference: String,
    /// The layer (short id) the line is about, if any.
    pub layer: Option<String>,
    /// `Pulling fs layer`, `Downloading`, `Pull complete`, `Digest: …`, ...
    /// (a push's: see [`super::push::PushProgress`]).
    pub status: String,
    /// Bytes done, for `Downloading` / `Extracting` / `Pushing`.
    pub current: Option<i64>,
    /// Bytes in all.
    pub total: Option<i64>,
}

/// The `pull-done` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullDone {
    /// The reference, as the UI gave it.
    pub reference: String,
    /// Why it failed, as a sentence; `null` on success.
    pub error: Option<String>,
}

/// Every image, newest first.
pub async fn list(engine: &Engine) -> Result<Vec<Image>> {
    let images = engine
        .call(|d| async move { d.list_images(None::<ListImagesOptions>).await })
        .await?;
    let options = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let containers = engine
        .call(|d| async move { d.list_containers(Some(options)).await })
        .await?;
    let used: HashSet<String> = containers.into_iter().filter_map(|c| c.image_id).collect();
    let mut rows: Vec<Image> = images
        .into_iter()
        .map(|i| Image {
            in_use: used.contains(&i.id),
            repo_tags: i
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect(),
            id: i.id,
            size: i.size,
            created: i.created,
        })
        .collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(rows)
}

/// Splits a reference into the name and the tag or digest the API wants
/// (`fromImage`, `tag`); no tag means `latest`, as the docker CLI does.
pub fn split_reference(reference: &str) -> Result<(String, String)> {
    let reference = non_empty(reference, "image reference")?;
    if reference.chars().any(char::is_whitespace) {
        return Err(Error::InvalidRequest(format!(
            "the image reference `{reference}` contains spaces"
        )));
    }
    if let Some((name, digest)) = reference.split_once('@') {
        return Ok((strip_tag(name).to_string(), digest.to_string()));
    }
    let name = strip_tag(reference);
    if name.len() == reference.len() {
        Ok((name.to_string(), "latest".to_string()))
    } else {
        Ok((name.to_string(), reference[name.len() + 1..].to_string()))
    }
}

/// `name` without a `:tag` (a colon in the registry's `host:port` is kept).
fn strip_tag(name: &str) -> &str {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}

/// Pulls `reference`, passing every progress line to `progress`.
pub async fn pull(
    engine: &Engine,
    reference: &str,
    progress: &(dyn Fn(PullProgress) + Send + Sync),
) -> Result<()> {
    let (name, tag) = split_reference(reference)?;
    let conn = engine.connection().await?;
    let options = CreateImageOptions {
        from_image: Some(name),
        tag: Some(tag),
        ..Default::default()
    };
    let mut stream = conn.docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|err| engine.failed(Error::from_bollard(err, &conn.endpoint)))?;
        if let Some(line) = progress_line(reference, info) {
            progress(line);
        }
    }
    Ok(())
}

/// [`pull`], then `done` with the outcome (an error as a sentence); the
/// error is also returned.
pub async fn pull_reporting(
    engine: &Engine,
    reference: &str,
    progress: &(dyn Fn(PullProgress) + Send + Sync),
    done: &(dyn Fn(PullDone) + Send + Sync),
) -> Result<()> {
    let result = pull(engine, reference, progress).await;
    done(PullDone {
        reference: reference.to_string(),
        error: result.as_ref().err().map(Error::sentence),
    });
    result
}

/// One progress line of the engine's stream as the UI's event.
fn progress_line(reference: &str, info: CreateImageInfo) -> Option<PullProgress> {
    let status = info.status?;
    let detail = info.progress_detail.unwrap_or_default();
    // "Pulling from library/busybox" carries the tag as its id, not a layer.
    let layer = info
        .id
        .filter(|id| !id.is_empty() && !status.starts_with("Pulling from"));
    Some(PullProgress {
        reference: reference.to_string(),
        layer,
        status,
        current: detail.current.filter(|_| detail.total.is_some()),
        total: detail.total.filter(|t| *t > 0),
    })
}

/// Removes image `id` (a tag or an id); `force` removes it even when
/// containers use it or it has several tags.
pub async fn remove(engine: &Engine, id: &str, force: bool) -> Result<()> {
    let id = non_empty(id, "image id")?;
    let options = RemoveImageOptions {
        force,
        ..Default::default()
    };
    engine
        .call(|d| async move { d.remove_image(id, Some(options), None).await })
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use bollard::models::ProgressDetail;

    use super::*;

    #[test]
    fn references_split_like_the_docker_cli() {
        let split = |r: &str| split_reference(r).expect("valid");
        assert_eq!(split("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split("alpine:3.10"), ("alpine".into(), "3.10".into()));
        assert_eq!(
            split("127.0.0.1:5000/library/busybox"),
            ("127.0.0.1:5000/library/busybox".into(), "latest".into())
        );
        assert_eq!(
            split("127.0.0.1:5000/x/y:2"),
            ("127.0.0.1:5000/x/y".into(), "2".into())
        );
        assert_eq!(
            split("busybox:1@sha256:abc"),
            ("busybox".into(), "sha256:abc".into())
        );
        assert_eq!(
            split_reference(" ").expect_err("blank").kind(),
            "invalid_request"
        );
        assert!(split_reference("bad name").is_err());
    }

    #[test]
    fn progress_lines_name_layers_not_tags() {
        let line = progress_line(
            "busybox",
            CreateImageInfo {
                id: Some("latest".into()),
                status: Some("Pulling from library/busybox".into()),
                ..Default::default()
            },
        )
        .expect("a line");
        assert_eq!(line.layer, None);
        let line = progress_line(
            "busybox",
            CreateImageInfo {
                id: Some("a3ed95caeb02".into()),
                status: Some("Downloading".into()),
                progress_detail: Some(ProgressDetail {
                    current: Some(100),
                    total: Some(400),
                }),
                ..Default::default()
            },
        )
        .expect("a line");
        assert_eq!(
            (line.layer.as_deref(), line.current, line.total),
            (Some("a3ed95caeb02"), Some(100), Some(400))
        );
        assert!(progress_line("busybox", CreateImageInfo::default()).is_none());
    }
}
