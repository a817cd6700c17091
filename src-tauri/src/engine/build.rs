//! Building an image from a folder of this computer (`docker build
//! <folder>`): the folder is sent as the build context — a tar streamed to
//! `POST /build` while it is written, `.dockerignore` applied as the docker
//! CLI does — and every line of the engine's build output goes to the UI as
//! it arrives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::Engine;
use super::dockerignore::DockerIgnore;
use crate::error::{Error, Result};

/// The pipe between the tar writer and the request body.
const PIPE_BYTES: usize = 256 * 1024;

/// What `build_image` builds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRequest {
    /// The UI's name for this build; every event of it carries it.
    pub build: String,
    /// The folder sent as the context (absolute).
    pub context: String,
    /// The Dockerfile, relative to the folder; `Dockerfile` when blank.
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// `name:tag` given to the image; untagged when blank.
    #[serde(default)]
    pub tag: Option<String>,
    /// `KEY=value` build arguments (`--build-arg`).
    #[serde(default)]
    pub build_args: Vec<String>,
}

/// A `build-log` event: one line of the build's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildLine {
    /// The request's `build`.
    pub build: String,
    /// The line, without its newline.
    pub line: String,
}

/// The `build-done` event that ends a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildDone {
    /// The request's `build`.
    pub build: String,
    /// The image built (`sha256:…`); `null` when it failed.
    pub image: Option<String>,
    /// Why it failed, as a sentence; `null` on success.
    pub error: Option<String>,
}

/// A checked request: the folder, the Dockerfile inside it, the options.
#[derive(Debug)]
struct Plan {
    context: PathBuf,
    ignore: DockerIgnore,
    options: BuildImageOptions,
}

/// Checks `request` against the folder; the build's query.
fn plan(request: &BuildRequest) -> Result<Plan> {
    let context = PathBuf::from(request.context.trim());
    if !context.is_absolute() {
        return Err(Error::InvalidRequest(format!(
            "the build folder `{}` is not an absolute path",
            context.display()
        )));
    }
    if !context.is_dir() {
        return Err(Error::InvalidRequest(format!(
            "the build folder {} does not exist",
            context.display()
        )));
    }
    let dockerfile = request
        .dockerfile
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or("Dockerfile");
    if Path::new(dockerfile).is_absolute()
        || Path::new(dockerfile)
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::InvalidRequest(format!(
            "the Dockerfile `{dockerfile}` must be inside the build folder"
        )));
    }
    if !context.join(dockerfile).is_file() {
        return Err(Error::InvalidRequest(format!(
            "there is no {dockerfile} in {}",
            context.display()
        )));
    }
    let ignore = match std::fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(err) => {
            return Err(Error::InvalidRequest(format!(
                "cannot read {}/.dockerignore: {err}",
                context.display()
            )));
        }
    };
    let mut build_args = HashMap::new();
    for entry in request
        .build_args
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
    {
        let (key, value) = entry.split_once('=').ok_or_else(|| {
            Error::InvalidRequest(format!(
                "the build argument `{entry}` has no value (write KEY=value)"
            ))
        })?;
        if key.trim().is_empty() {
            return Err(Error::InvalidRequest(format!(
                "the build argument `{entry}` has no name"
            )));
        }
        build_args.insert(key.trim().to_string(), value.to_string());
    }
    let tag = request
        .tag
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(tag) = tag {
        super::images::split_reference(tag)?;
    }
    let options = BuildImageOptions {
        dockerfile: dockerfile.to_string(),
        t: tag.map(str::to_string),
        rm: true,
        forcerm: true,
        buildargs: (!build_args.is_empty()).then_some(build_args),
        ..Default::default()
    };
    Ok(Plan {
        context,
        ignore,
        options,
    })
}

/// Writes the context tar of `folder` into `out`: every entry the ignore
/// rules keep, the Dockerfile and `.dockerignore` always (as the CLI does).
fn write_context(
    folder: &Path,
    ignore: &DockerIgnore,
    dockerfile: &str,
    out: impl std::io::Write,
) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let mut entries =
            std::fs::read_dir(folder.join(&dir))?.collect::<std::io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let relative = dir.join(entry.file_name());
            let name = relative.to_string_lossy().replace('\\', "/");
            let always = name == dockerfile || name == ".dockerignore";
            if !always && ignore.excludes(&name) {
                continue;
            }
            tar.append_path_with_name(entry.path(), &relative)?;
            if entry.file_type()?.is_dir() {
                stack.push(relative);
            }
        }
    }
    tar.finish()
}

/// Builds the image `request` describes, passing every output line to
/// `line`; returns the image id. The engine's refusal (a failed `RUN`, an
/// unknown instruction) is the error, with the engine's words.
pub async fn build(
    engine: &Engine,
    request: &BuildRequest,
    line: &(dyn Fn(BuildLine) + Send + Sync),
) -> Result<String> {
    let plan = plan(request)?;
    let conn = engine.connection().await?;
    let (reader, writer) = tokio::io::duplex(PIPE_BYTES);
    let folder = plan.context.clone();
    let ignore = plan.ignore.clone();
    let dockerfile = plan.options.dockerfile.clone();
    let writing = tokio::task::spawn_blocking(move || {
        write_context(&folder, &ignore, &dockerfile, SyncIoBridge::new(writer))
    });
    let body = bollard::body_try_stream(ReaderStream::new(reader));
    let mut stream = conn.docker.build_image(plan.options, None, Some(body));
    let mut lines = String::new();
    let mut image = None;
    let emit = |text: &str| {
        line(BuildLine {
            build: request.build.clone(),
            line: text.to_string(),
        })
    };
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(err) => {
                // A context that could not be read is the real cause.
                if let Ok(Ok(Err(io))) =
                    tokio::time::timeout(std::time::Duration::from_secs(1), writing).await
                {
                    return Err(Error::InvalidRequest(format!(
                        "reading the build folder {}: {io}",
                        plan.context.display()
                    )));
                }
                return Err(engine.failed(Error::from_bollard(err, &conn.endpoint)));
            }
        };
        if let Some(text) = info.stream {
            lines.push_str(&text);
            while let Some(at) = lines.find('\n') {
                let rest = lines.split_off(at + 1);
                let done = std::mem::replace(&mut lines, rest);
                emit(done.trim_end_matches(['\n', '\r']));
            }
        }
        if let Some(status) = info.status.filter(|s| !s.is_empty()) {
            emit(&status);
        }
        if let Some(id) = info.aux.and_then(|aux| aux.id) {
            image = Some(id);
        }
    }
    if !lines.is_empty() {
        emit(lines.trim_end_matches(['\n', '\r']));
    }
    image.ok_or_else(|| Error::Engine {
        status: 200,
        message: "the build ended without naming an image".to_string(),
    })
}

/// [`build`], then `done` with the outcome; the error is also returned.
pub async fn build_reporting(
    engine: &Engine,
    request: &BuildRequest,
    line: &(dyn Fn(BuildLine) + Send + Sync),
    done: &(dyn Fn(BuildDone) + Send + Sync),
) -> Result<String> {
    let result = build(engine, request, line).await;
    done(BuildDone {
        build: request.build.clone(),
        image: result.as_ref().ok().cloned(),
        error: result.as_ref().err().map(Error::sentence),
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(context: &Path) -> BuildRequest {
        BuildRequest {
            build: "b1".into(),
            context: context.display().to_string(),
            dockerfile: None,
            tag: Some("web:dev".into()),
            build_args: vec!["VERSION=1.2".into(), " ".into()],
        }
    }

    #[test]
    fn plans_check_the_folder_and_the_dockerfile() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = plan(&request(dir.path())).expect_err("no Dockerfile");
        assert!(
            err.sentence().starts_with("There is no Dockerfile in"),
            "{err}"
        );
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
        let plan_ok = plan(&request(dir.path())).expect("a plan");
        assert_eq!(plan_ok.options.t.as_deref(), Some("web:dev"));
        assert_eq!(plan_ok.options.dockerfile, "Dockerfile");
        assert_eq!(
            plan_ok.options.buildargs,
            Some(HashMap::from([("VERSION".to_string(), "1.2".to_string())]))
        );
        let mut bad = request(dir.path());
        bad.dockerfile = Some("../Dockerfile".into());
        assert_eq!(plan(&bad).expect_err("outside").kind(), "invalid_request");
        let mut bad = request(dir.path());
        bad.build_args = vec!["NOVALUE".into()];
        assert!(plan(&bad).expect_err("no =").sentence().contains("NOVALUE"));
        let mut bad = request(dir.path());
        bad.context = "relative/dir".into();
        assert_eq!(plan(&bad).expect_err("relative").kind(), "invalid_request");
        let mut bad = request(dir.path());
        bad.tag = Some("bad tag".into());
        assert_eq!(plan(&bad).expect_err("tag").kind(), "invalid_request");
    }

    #[test]
    fn the_context_leaves_out_what_dockerignore_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::create_dir_all(root.join("node_modules/x")).expect("mkdir");
        for file in [
            "Dockerfile",
            "src/app.js",
            "node_modules/x/i.js",
            "debug.log",
        ] {
            std::fs::write(root.join(file), file).expect("write");
        }
        std::fs::write(
            root.join(".dockerignore"),
            "node_modules\n*.log\nDockerfile\n",
        )
        .expect("write");
        let ignore =
            DockerIgnore::parse(&std::fs::read_to_string(root.join(".dockerignore")).expect("r"))
                .expect("parse");
        let mut tar = Vec::new();
        write_context(root, &ignore, "Dockerfile", &mut tar).expect("tar");
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "src", "src/app.js"]);
    }
}
