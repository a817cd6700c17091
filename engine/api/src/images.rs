//! Image endpoints: `/images/…`. Image names may contain `/` and `:`, so the
//! path is matched by its known suffixes (`/json`, `/history`, `/tag`,
//! `/get`, `/push`) as moby's `{name:.*}` routes do.

use skiff_engine::volumes::LabelFilter;
use std::collections::HashMap;
use std::sync::Arc;

use bollard_stubs::models::{
    DriverData, ImageConfig as ApiImageConfig, ImageDeleteResponseItem, ImageHistoryResponseItem,
    ImageInspect, ImageInspectMetadata, ImageInspectRootFs, ImagePruneResponse, ImageSummary,
};
use bytes::Bytes;
use http::{Method, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use skiff_registry::Credentials;

use crate::body;
use crate::call::Call;
use crate::error::ApiError;
use crate::query::percent_decode;
use crate::response::{self, Response};
use skiff_engine::daemon::Daemon;
use skiff_engine::images::import::ImportRequest;
use skiff_engine::images::inspect::{ImageView, ListFilter, unix_seconds};
use skiff_engine::images::progress::{Progress, ProgressSink};
use skiff_engine::images::pull::PullRequest;
use skiff_engine::images::push::PushRequest;
use skiff_engine::images::remove::DeleteItem;
use skiff_engine::images::{ImageError, ImageService};
use skiff_engine::streams::{ChannelWriter, receiver_stream};

/// A parsed image request.
#[derive(Debug)]
pub enum Action {
    /// `GET /images/json`.
    List(ListFilter),
    /// `POST /images/create?fromImage=`.
    Pull(PullRequest),
    /// `POST /images/create?fromSrc=-`.
    Import(ImportRequest),
    /// `POST /images/load`.
    Load,
    /// `GET /images/get`, `GET /images/{name}/get`.
    Save(Vec<String>),
    /// `POST /images/prune`.
    Prune {
        /// `dangling=false`: every unused image.
        all: bool,
        /// `label=` / `label!=`.
        labels: Vec<LabelFilter>,
    },
    /// `GET /images/{name}/json`.
    Inspect(String),
    /// `GET /images/{name}/history`.
    History(String),
    /// `POST /images/{name}/tag`.
    Tag {
        /// Source image.
        name: String,
        /// Target repository.
        repo: String,
        /// Target tag.
        tag: Option<String>,
    },
    /// `POST /images/{name}/push`. Without `X-Registry-Auth` the
    /// credentials come from the body (dockerd's legacy form).
    Push {
        /// The request; credentials from the header, if it was sent.
        request: PushRequest,
        /// No `X-Registry-Auth` header: read the credentials from the body.
        auth_in_body: bool,
    },
    /// `DELETE /images/{name}`.
    Remove {
        /// The image.
        name: String,
        /// `force`.
        force: bool,
    },
}

pub(crate) fn decode_auth(headers: &http::HeaderMap) -> Result<Option<Credentials>, ApiError> {
    match headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => Credentials::from_registry_auth_header(v)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// Refuses, by name, a filter docker knows that skiffd does not apply
/// (answering as if it were not given would list or remove too much).
fn refuse_unhonoured(
    filters: &crate::query::Filters,
    keys: &[&str],
    what: &str,
) -> Result<(), ApiError> {
    match keys.iter().find(|k| !filters.get(k).is_empty()) {
        Some(k) => Err(ApiError::bad_request(format!(
            "the {what} filter '{k}' is not supported by skiffd"
        ))),
        None => Ok(()),
    }
}

/// Parse an image request.
pub fn parse(call: &Call) -> Result<Action, ApiError> {
    let rest = call
        .path
        .trim_start_matches("/images")
        .trim_start_matches('/');
    let q = &call.query;
    let m = &call.method;
    match (m, rest) {
        (&Method::GET, "json") => {
            let filters = q.filters()?;
            filters.only(&["reference", "dangling", "label", "before", "since", "until"])?;
            refuse_unhonoured(&filters, &["before", "since", "until"], "image list")?;
            let dangling = match filters.get("dangling") {
                [] => None,
                [v] if v == "true" || v == "1" => Some(true),
                [v] if v == "false" || v == "0" => Some(false),
                v => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid filter 'dangling={}'",
                        v.join(",")
                    )));
                }
            };
            let mut references = filters.get("reference").to_vec();
            if let Some(f) = q.non_empty("filter") {
                references.push(f.to_owned());
            }
            Ok(Action::List(ListFilter {
                references,
                dangling,
                labels: filters.get("label").to_vec(),
                all: q.bool("all"),
            }))
        }
        (&Method::POST, "create") => {
            if let Some(image) = q.non_empty("fromImage") {
                return Ok(Action::Pull(PullRequest {
                    image: image.to_owned(),
                    tag: q.non_empty("tag").map(str::to_owned),
                    platform: q.non_empty("platform").map(str::to_owned),
                    // dockerd: a pull with an unreadable X-Registry-Auth
                    // goes on without credentials.
                    credentials: decode_auth(&call.headers).unwrap_or(None),
                }));
            }
            match q.non_empty("fromSrc") {
                Some("-") => Ok(Action::Import(ImportRequest {
                    repo: q.non_empty("repo").map(str::to_owned),
                    tag: q.non_empty("tag").map(str::to_owned),
                    message: q.non_empty("message").map(str::to_owned),
                    changes: q.all_non_empty("changes"),
                })),
                Some(src) => Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!("importing from a URL is not supported: {src}"),
                )),
                None => Err(ApiError::bad_request("fromImage or fromSrc must be given")),
            }
        }
        (&Method::POST, "load") => Ok(Action::Load),
        (&Method::GET, "search") => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "image search is not supported by this engine: it has no registry index to search",
        )),
        (&Method::GET, "get") => {
            let names: Vec<String> = q.all("names").into_iter().map(str::to_owned).collect();
            if names.is_empty() {
                return Err(ApiError::bad_request("no images specified"));
            }
            Ok(Action::Save(names))
        }
        (&Method::POST, "prune") => {
            let filters = q.filters()?;
            filters.only(&["dangling", "until", "label", "label!"])?;
            refuse_unhonoured(&filters, &["until"], "image prune")?;
            let all = matches!(filters.get("dangling"), [v] if v == "false" || v == "0");
            let labels = filters.labels();
            Ok(Action::Prune { all, labels })
        }
        (&Method::DELETE, name) if !name.is_empty() => Ok(Action::Remove {
            name: percent_decode(name),
            force: q.bool("force"),
        }),
        (_, rest) => {
            let (name, op) = rest
                .rsplit_once('/')
                .ok_or_else(|| ApiError::not_found("page not found"))?;
            let name = percent_decode(name);
            match (m, op) {
                (&Method::GET, "json") => Ok(Action::Inspect(name)),
                (&Method::GET, "history") => Ok(Action::History(name)),
                (&Method::GET, "get") => Ok(Action::Save(vec![name])),
                (&Method::POST, "tag") => Ok(Action::Tag {
                    name,
                    repo: q
                        .non_empty("repo")
                        .ok_or_else(|| ApiError::bad_request("repo is required"))?
                        .to_owned(),
                    tag: q.non_empty("tag").map(str::to_owned),
                }),
                (&Method::POST, "push") => parse_push(call, name),
                _ => Err(ApiError::not_found("page not found")),
            }
        }
    }
}

/// `POST /images/{name}/push`: `tag` (none: every tag), credentials from
/// `X-Registry-Auth` — an undecodable header counts as none, as dockerd
/// does. `platform` (API 1.46) is refused: skiffd keeps one platform per
/// image and pushes that one.
fn parse_push(call: &Call, name: String) -> Result<Action, ApiError> {
    if let Some(platform) = call.query.non_empty("platform") {
        return Err(ApiError::bad_request(format!(
            "push --platform is not supported by this engine (platform {platform}): it pushes the image's own platform"
        )));
    }
    let header = call.headers.get("x-registry-auth");
    let credentials = header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Credentials::from_registry_auth_header(v).ok())
        .flatten();
    Ok(Action::Push {
        request: PushRequest {
            name,
            tag: call.query.non_empty("tag").map(str::to_owned),
            credentials,
        },
        auth_in_body: header.is_none(),
    })
}

/// Run blocking image work off the async threads.
async fn blocking<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    f: impl FnOnce(&ImageService) -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ApiError> {
    let daemon = daemon.clone();
    let result = tokio::task::spawn_blocking(move || f(&daemon.images)).await;
    skiff_engine::memory::release();
    Ok(result.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??)
}

/// Handle an image request.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    body: Incoming,
) -> Result<Response, ApiError> {
    match parse(call)? {
        Action::List(filter) => {
            let views = blocking(daemon, move |s| s.list(&filter)).await?;
            let rows = views.iter().map(summary).collect::<Vec<_>>();
            if crate::zero::version_below(call.version.as_deref(), 44) {
                return Ok(response::json(StatusCode::OK, &with_virtual_size(&rows)));
            }
            Ok(response::json(StatusCode::OK, &rows))
        }
        Action::Inspect(name) => {
            let (view, lower) = blocking(daemon, move |s| {
                let v = s.inspect(&name)?;
                let lower = s.lower_dirs(&v.record);
                Ok((v, lower))
            })
            .await?;
            Ok(response::json(
                StatusCode::OK,
                &inspect_json(&view, &lower, call.version.as_deref()),
            ))
        }
        Action::History(name) => {
            let rows = blocking(daemon, move |s| s.history(&name)).await?;
            let rows: Vec<_> = rows
                .into_iter()
                .map(|r| ImageHistoryResponseItem {
                    id: r.id,
                    created: r.created,
                    created_by: r.created_by,
                    tags: r.tags,
                    size: r.size as i64,
                    comment: r.comment,
                })
                .collect();
            Ok(response::json(StatusCode::OK, &rows))
        }
        Action::Tag { name, repo, tag } => {
            blocking(daemon, move |s| s.tag(&name, &repo, tag.as_deref())).await?;
            Ok(response::empty(StatusCode::CREATED))
        }
        Action::Remove { name, force } => {
            let items = blocking(daemon, move |s| s.remove(&name, force)).await?;
            Ok(response::json(
                StatusCode::OK,
                &items.into_iter().map(delete_item).collect::<Vec<_>>(),
            ))
        }
        Action::Prune { all, labels } => {
            let report = blocking(daemon, move |s| s.prune(all, &labels)).await?;
            Ok(response::json(
                StatusCode::OK,
                &ImagePruneResponse {
                    images_deleted: Some(report.deleted.into_iter().map(delete_item).collect()),
                    space_reclaimed: Some(report.reclaimed as i64),
                },
            ))
        }
        Action::Pull(req) => {
            let d = daemon.clone();
            progress_stream(move |sink| async move { d.images.pull(req, &sink).await }).await
        }
        Action::Push {
            mut request,
            auth_in_body,
        } => {
            if auth_in_body {
                let bytes = body::collect(body).await?;
                let auth = body::auth_config(&bytes).map_err(|e| {
                    ApiError::bad_request(format!(
                        "Bad parameters and missing X-Registry-Auth: {e}"
                    ))
                })?;
                request.credentials = auth.credentials();
            }
            let d = daemon.clone();
            progress_stream(move |sink| async move { d.images.push(request, &sink).await }).await
        }
        Action::Import(req) => {
            let reader = body::reader(body);
            let id = blocking(daemon, move |s| s.import(reader, &req)).await?;
            Ok(response::json_lines(futures_util::stream::iter([
                json!({ "status": id.to_string() }),
            ])))
        }
        Action::Load => {
            let reader = body::reader(body);
            let lines = blocking(daemon, move |s| s.load(reader)).await?;
            Ok(response::json_lines(futures_util::stream::iter(
                lines
                    .into_iter()
                    .map(|l| json!({ "stream": format!("{l}\n") })),
            )))
        }
        Action::Save(names) => {
            let plan = blocking(daemon, move |s| s.plan_save(&names)).await?;
            let (writer, rx) = ChannelWriter::new();
            let d = daemon.clone();
            tokio::task::spawn_blocking(move || {
                let mut writer = writer;
                if let Err(e) = d.images.save(&plan, &mut writer) {
                    tracing::warn!("image save failed: {e}");
                    writer.fail(std::io::Error::other(e.to_string()));
                }
            });
            Ok(response::stream("application/x-tar", receiver_stream(rx)))
        }
    }
}

/// Render a progress event as docker's JSON message.
pub fn progress_json(p: &Progress) -> serde_json::Value {
    if let Some(aux) = &p.aux {
        return json!({ "progressDetail": {}, "aux": aux });
    }
    let mut v = json!({ "status": p.status });
    if let Some(id) = &p.id {
        v["id"] = json!(id);
    }
    match p.bytes {
        Some((current, total)) => {
            v["progressDetail"] = match total {
                Some(t) => json!({ "current": current, "total": t }),
                None => json!({ "current": current }),
            };
        }
        None if p.id.is_some() => v["progressDetail"] = json!({}),
        None => {}
    }
    v
}

/// Docker's JSON error line inside a message stream.
pub fn error_json(message: &str) -> serde_json::Value {
    json!({ "errorDetail": { "message": message }, "error": message })
}

/// Run a long image operation (pull, push) and stream its progress as
/// docker's JSON messages: errors before the first progress event are HTTP
/// errors (as docker does); afterwards they are a JSON error line in the
/// stream.
async fn progress_stream<T, F, Fut>(operation: F) -> Result<Response, ApiError>
where
    T: Send + 'static,
    F: FnOnce(ProgressSink) -> Fut,
    Fut: std::future::Future<Output = Result<T, ImageError>> + Send + 'static,
{
    let (sink, mut events) = ProgressSink::channel();
    let mut task = tokio::spawn(operation(sink));
    let (first, finished) = response::first_event(&mut events, &mut task, "image").await?;
    let Some(first) = first else {
        // No progress at all: the operation ended before saying anything.
        let outcome = match finished {
            Some(r) => r,
            None => task.await.map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("image task failed: {e}"),
                )
            })?,
        };
        outcome?;
        return Ok(response::json_lines(futures_util::stream::empty::<
            serde_json::Value,
        >()));
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let line = |v: serde_json::Value| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Ok(Bytes::from(b))
        };
        let _ = tx.send(line(progress_json(&first))).await;
        while let Some(ev) = events.recv().await {
            let _ = tx.send(line(progress_json(&ev))).await;
        }
        let outcome = match finished {
            Some(r) => Ok(r),
            None => task.await,
        };
        skiff_engine::memory::release();
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let _ = tx.send(line(error_json(&e.to_string()))).await;
            }
            Err(e) => {
                let _ = tx
                    .send(line(error_json(&format!("image task failed: {e}"))))
                    .await;
            }
        }
    });
    Ok(response::stream("application/json", receiver_stream(rx)))
}

/// The `docker images` row of an image.
pub(crate) fn summary(view: &ImageView) -> ImageSummary {
    ImageSummary {
        id: view.record.id.to_string(),
        parent_id: view
            .record
            .parent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        repo_tags: view.repo_tags.clone(),
        repo_digests: view.repo_digests.clone(),
        created: view
            .config
            .created
            .as_deref()
            .map(unix_seconds)
            .unwrap_or(0),
        size: view.record.size as i64,
        shared_size: -1,
        labels: view.labels(),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

fn parse_time(s: Option<&str>) -> Option<time::OffsetDateTime> {
    s.and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })
}

fn inspect(view: &ImageView, lower: &[std::path::PathBuf]) -> ImageInspect {
    let c = &view.config;
    let lower = lower
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    ImageInspect {
        id: Some(view.record.id.to_string()),
        repo_tags: Some(view.repo_tags.clone()),
        repo_digests: Some(view.repo_digests.clone()),
        comment: Some(
            c.history
                .last()
                .and_then(|h| h.comment.clone())
                .unwrap_or_default(),
        ),
        created: parse_time(c.created.as_deref()),
        author: Some(c.author.clone().unwrap_or_default()),
        config: c
            .config
            .clone()
            .and_then(|v| serde_json::from_value::<ApiImageConfig>(v).ok()),
        architecture: Some(c.architecture.clone()),
        variant: c.variant.clone(),
        os: Some(c.os.clone()),
        size: Some(view.record.size as i64),
        graph_driver: Some(DriverData {
            name: "overlayfs".into(),
            data: HashMap::from([("LowerDir".to_owned(), lower)]),
        }),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(c.rootfs.diff_ids.iter().map(|d| d.to_string()).collect()),
        }),
        metadata: Some(ImageInspectMetadata {
            last_tag_time: parse_time(view.record.last_tag_time.as_deref()),
        }),
        ..Default::default()
    }
}

/// Image summaries as API versions before 1.44 send them: with
/// `VirtualSize` (= `Size`).
pub(crate) fn with_virtual_size(rows: &[ImageSummary]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|row| {
            let mut v = serde_json::to_value(row).unwrap_or_default();
            v["VirtualSize"] = json!(row.size);
            v
        })
        .collect()
}

/// Image inspect as dockerd writes it at API `version`: [`inspect`] with
/// the keys dockerd always sends ([`crate::zero::image`]), the Docker
/// fields of the image's config (`docker_version`, `container`,
/// `container_config`) where it has them, and before API 1.44
/// `VirtualSize`.
fn inspect_json(
    view: &ImageView,
    lower: &[std::path::PathBuf],
    version: Option<&str>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(inspect(view, lower)).unwrap_or_default();
    let extra = &view.config.extra;
    if let Some(d) = extra.get("docker_version").filter(|d| d.is_string()) {
        v["DockerVersion"] = d.clone();
    }
    if crate::zero::version_below(version, 45) {
        if let Some(c) = extra.get("container").filter(|c| c.is_string()) {
            v["Container"] = c.clone();
        }
        if let Some(c) = extra.get("container_config").filter(|c| c.is_object()) {
            v["ContainerConfig"] = c.clone();
        }
    }
    if crate::zero::version_below(version, 44) {
        v["VirtualSize"] = v["Size"].clone();
    }
    crate::zero::fill(&mut v, &crate::zero::image(version));
    v
}

fn delete_item(item: DeleteItem) -> ImageDeleteResponseItem {
    match item {
        DeleteItem::Untagged(n) => ImageDeleteResponseItem {
            untagged: Some(n),
            deleted: None,
        },
        DeleteItem::Deleted(d) => ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(d),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call as call;

    #[test]
    fn names_with_slashes_and_ports_route_by_suffix() {
        match parse(&call(Method::GET, "/images/127.0.0.1:5000/a/b:1/json", "")).expect("inspect") {
            Action::Inspect(n) => assert_eq!(n, "127.0.0.1:5000/a/b:1"),
            other => panic!("{other:?}"),
        }
        match parse(&call(
            Method::DELETE,
            "/images/library/busybox:latest",
            "force=1",
        ))
        .expect("rmi")
        {
            Action::Remove { name, force } => {
                assert_eq!((name.as_str(), force), ("library/busybox:latest", true))
            }
            other => panic!("{other:?}"),
        }
        match parse(&call(Method::POST, "/images/busybox/tag", "repo=x/y&tag=2")).expect("tag") {
            Action::Tag { name, repo, tag } => assert_eq!(
                (name.as_str(), repo.as_str(), tag.as_deref()),
                ("busybox", "x/y", Some("2"))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_is_pull_or_import() {
        match parse(&call(
            Method::POST,
            "/images/create",
            "fromImage=busybox&tag=latest&platform=linux%2Farm64",
        ))
        .expect("pull")
        {
            Action::Pull(p) => {
                assert_eq!(p.image, "busybox");
                assert_eq!(p.platform.as_deref(), Some("linux/arm64"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&call(
            Method::POST,
            "/images/create",
            "fromSrc=-&repo=mine&tag=1&changes=CMD+%5B%22sh%22%5D",
        ))
        .expect("import")
        {
            Action::Import(i) => assert_eq!(i.changes, vec![r#"CMD ["sh"]"#.to_owned()]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(&call(Method::POST, "/images/create", ""))
                .expect_err("neither")
                .status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn list_filters_are_checked() {
        let err = parse(&call(
            Method::GET,
            "/images/json",
            "filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        ))
        .expect_err("bad filter");
        assert_eq!(err.message, "Invalid filter 'bogus'");
        match parse(&call(
            Method::GET,
            "/images/json",
            "filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
        ))
        .expect("dangling")
        {
            Action::List(f) => assert_eq!(f.dangling, Some(true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn progress_renders_like_docker() {
        let p = Progress {
            id: Some("abc".into()),
            status: "Downloading".into(),
            bytes: Some((5, Some(10))),
            aux: None,
        };
        assert_eq!(
            progress_json(&p),
            json!({"status":"Downloading","id":"abc","progressDetail":{"current":5,"total":10}})
        );
        let p = Progress {
            id: None,
            status: "Digest: x".into(),
            bytes: None,
            aux: None,
        };
        assert_eq!(progress_json(&p), json!({"status":"Digest: x"}));
        assert_eq!(
            error_json("boom"),
            json!({"errorDetail":{"message":"boom"},"error":"boom"})
        );
    }

    #[test]
    fn push_takes_tag_and_credentials_as_dockerd() {
        let mut c = call(Method::POST, "/images/127.0.0.1:5000/a/b/push", "tag=v1");
        match parse(&c).expect("push") {
            Action::Push {
                request,
                auth_in_body,
            } => {
                assert_eq!(request.name, "127.0.0.1:5000/a/b");
                assert_eq!(request.tag.as_deref(), Some("v1"));
                assert!(auth_in_body, "no header: the body has the credentials");
            }
            other => panic!("{other:?}"),
        }
        // An undecodable header counts as no credentials, not an error.
        c.headers
            .insert("x-registry-auth", http::HeaderValue::from_static("!!!"));
        match parse(&c).expect("push") {
            Action::Push {
                request,
                auth_in_body,
            } => assert!(request.credentials.is_none() && !auth_in_body),
            other => panic!("{other:?}"),
        }
        // `eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ` = {"username":"u","password":"p"}
        c.headers.insert(
            "x-registry-auth",
            http::HeaderValue::from_static("eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ"),
        );
        match parse(&c).expect("push") {
            Action::Push { request, .. } => {
                let creds = request.credentials.expect("credentials");
                assert_eq!(
                    (creds.username.as_str(), creds.password.as_str()),
                    ("u", "p")
                );
            }
            other => panic!("{other:?}"),
        }
        // No tag: every tag (--all-tags).
        match parse(&call(Method::POST, "/images/busybox/push", "")).expect("push") {
            Action::Push { request, .. } => assert_eq!(request.tag, None),
            other => panic!("{other:?}"),
        }
        let e = parse(&call(
            Method::POST,
            "/images/busybox/push",
            "tag=1&platform=%7B%22os%22%3A%22linux%22%7D",
        ))
        .expect_err("platform");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("--platform"), "{}", e.message);
    }

    #[test]
    fn aux_messages_render_like_docker() {
        let p = Progress {
            id: None,
            status: String::new(),
            bytes: None,
            aux: Some(json!({"Tag":"1","Digest":"sha256:x","Size":5})),
        };
        assert_eq!(
            progress_json(&p),
            json!({"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:x","Size":5}})
        );
    }
}
