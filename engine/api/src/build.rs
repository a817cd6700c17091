//! `POST /build` (the legacy builder), `POST /build/prune` and
//! `POST /commit`: the query is parsed into the build service's typed
//! requests; a build's events become docker's JSON message stream
//! (`{"stream": …}`, `{"aux": {"ID": …}}`, and on failure
//! `{"errorDetail": {"code": N, "message": …}, "error": …}`, which the CLI
//! exits with). A client that disconnects cancels its build.
//!
//! Query parameters the builder does not honour are refused, naming them,
//! when they ask for something (`remote=`, `extrahosts=`, resource limits,
//! `cachefrom=`, `platform=`, `outputs=`, `squash=1` as dockerd refuses it
//! without experimental features); the defaults the CLI always sends pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use skiff_engine::build::commit::CommitRequest;
use skiff_engine::build::{BuildError, BuildEvent, BuildRequest, Progress};
use skiff_engine::daemon::Daemon;

use crate::body;
use crate::call::Call;
use crate::error::{ApiError, status_of};
use crate::response::{self, Response};
use skiff_engine::streams::receiver_stream;

impl From<BuildError> for ApiError {
    fn from(e: BuildError) -> Self {
        Self::new(status_of(e.kind()), e.to_string())
    }
}

/// What a request asks for.
#[derive(Debug)]
pub enum Action {
    /// `POST /build`.
    Build(Box<BuildRequest>),
    /// `POST /build/prune`.
    Prune,
    /// `POST /commit` (the body, a container config, is read later).
    Commit(Box<CommitRequest>),
}

fn json_map<T: serde::de::DeserializeOwned + Default>(
    q: &crate::query::Query,
    key: &str,
) -> Result<T, ApiError> {
    match q.non_empty(key) {
        None | Some("null") => Ok(T::default()),
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} value {raw:?}: {e}"))),
    }
}

/// Parse a call of the group.
pub fn parse(call: &Call) -> Result<Action, ApiError> {
    let q = &call.query;
    match (&call.method, call.path.as_str()) {
        (&Method::POST, "/build") => {
            if let Some(r) = q.non_empty("remote") {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!(
                        "remote build contexts are not supported by this engine (remote={r}): send the context as the request body"
                    ),
                ));
            }
            if q.bool("squash") {
                return Err(ApiError::bad_request(
                    "squash is only supported with experimental mode",
                ));
            }
            if q.non_empty("version") == Some("2") {
                return Err(ApiError::bad_request(
                    "BuildKit (version=2) is not supported by this engine; build with the legacy builder (DOCKER_BUILDKIT=0)",
                ));
            }
            for key in [
                "memory",
                "memswap",
                "cpushares",
                "cpuquota",
                "cpuperiod",
                "shmsize",
            ] {
                if q.int(key)?.unwrap_or(0) != 0 {
                    return Err(ApiError::bad_request(format!(
                        "{key} is not supported by this engine's builder"
                    )));
                }
            }
            for key in [
                "extrahosts",
                "cpusetcpus",
                "cpusetmems",
                "platform",
                "outputs",
            ] {
                if q.non_empty(key).is_some() {
                    return Err(ApiError::bad_request(format!(
                        "{key} is not supported by this engine's builder"
                    )));
                }
            }
            for key in ["cachefrom", "ulimits"] {
                let list: Vec<serde_json::Value> = json_map(q, key)?;
                if !list.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "{key} is not supported by this engine's builder"
                    )));
                }
            }
            if let Some(mode) = q.non_empty("networkmode") {
                if mode != "default" {
                    return Err(ApiError::bad_request(format!(
                        "networkmode={mode} is not supported by this engine's builder"
                    )));
                }
            }
            if let Some(iso) = q.non_empty("isolation") {
                if iso != "default" {
                    return Err(ApiError::bad_request(format!(
                        "isolation={iso} is not supported by this engine's builder"
                    )));
                }
            }
            let build_args: BTreeMap<String, Option<String>> = json_map(q, "buildargs")?;
            let labels: BTreeMap<String, String> = json_map(q, "labels")?;
            Ok(Action::Build(Box::new(BuildRequest {
                dockerfile: q.non_empty("dockerfile").map(str::to_owned),
                tags: q.all_non_empty("t"),
                build_args,
                labels,
                target: q.non_empty("target").map(str::to_owned),
                no_cache: q.bool("nocache"),
                rm: q.get("rm").is_none_or(|v| v != "0" && v != "false"),
                force_rm: q.bool("forcerm"),
                quiet: q.bool("q"),
                pull: q.bool("pull"),
                registry_auth: match call
                    .headers
                    .get("x-registry-config")
                    .and_then(|v| v.to_str().ok())
                {
                    None => Default::default(),
                    Some(h) => skiff_registry::AuthConfig::registry_config(h)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                },
            })))
        }
        (&Method::POST, "/build/prune") => {
            for key in [
                "keep-storage",
                "reserved-space",
                "max-used-space",
                "min-free-space",
            ] {
                if q.int(key)?.unwrap_or(0) != 0 {
                    return Err(ApiError::bad_request(format!(
                        "{key} is not supported by this engine's build cache prune"
                    )));
                }
            }
            let filters: BTreeMap<String, serde_json::Value> = json_map(q, "filters")?;
            if let Some(name) = filters.keys().next() {
                return Err(ApiError::bad_request(format!(
                    "filter {name} is not supported by this engine's build cache prune"
                )));
            }
            Ok(Action::Prune)
        }
        (&Method::POST, "/commit") => {
            let container = q
                .non_empty("container")
                .ok_or_else(|| ApiError::bad_request("No container name or ID supplied"))?;
            Ok(Action::Commit(Box::new(CommitRequest {
                container: container.to_owned(),
                repo: q.non_empty("repo").map(str::to_owned),
                tag: q.non_empty("tag").map(str::to_owned),
                comment: q.non_empty("comment").map(str::to_owned),
                author: q.non_empty("author").map(str::to_owned),
                pause: q.get("pause").is_none_or(|v| v != "0" && v != "false"),
                changes: q
                    .all("changes")
                    .into_iter()
                    .flat_map(|c| c.split('\n'))
                    .filter(|c| !c.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                config: None,
            })))
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Handle a call of the group.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    body: Incoming,
) -> Result<Response, ApiError> {
    match parse(call)? {
        Action::Commit(mut req) => {
            let bytes = body::collect(body).await?;
            req.config = if bytes.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(body::json_or_default(&bytes)?)
            };
            let id = daemon.build.commit(*req).await?;
            Ok(response::json(
                StatusCode::CREATED,
                &json!({ "Id": id.to_string() }),
            ))
        }
        Action::Prune => {
            // Nothing is freed: the steps' images stay (see BuildService::prune).
            let deleted = daemon.build.prune()?;
            Ok(response::json(
                StatusCode::OK,
                &json!({ "CachesDeleted": deleted, "SpaceReclaimed": 0 }),
            ))
        }
        Action::Build(req) => build(daemon, *req, body).await,
    }
}

/// The build cache as `/system/df` lists it (`BuildCache`): each cached
/// step, `Shared` with the image it made (so `docker system df` counts
/// none of it reclaimable, as a prune frees nothing).
pub fn disk_usage(daemon: &Daemon) -> Vec<serde_json::Value> {
    daemon
        .build
        .disk_usage()
        .into_iter()
        .map(|u| {
            json!({
                "ID": u.id,
                "Parents": null,
                "Type": "regular",
                "Description": u.description,
                "InUse": false,
                "Shared": true,
                "Size": u.size,
                "CreatedAt": u.created,
                "LastUsedAt": null,
                "UsageCount": 0,
            })
        })
        .collect()
}

fn line(v: serde_json::Value) -> Result<Bytes, std::io::Error> {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    Ok(Bytes::from(b))
}

/// Run a build, streaming its events; the build stops when the client
/// goes. As dockerd: an error before any output is the HTTP answer — 400
/// for a bad request, context or Dockerfile (as modern dockerd; 20.10
/// answers 500 for all), 404 for what is missing, else 500 — after it a
/// JSON error line.
async fn build(
    daemon: &Arc<Daemon>,
    req: BuildRequest,
    body: Incoming,
) -> Result<Response, ApiError> {
    let quiet = req.quiet;
    let (progress, mut events) = Progress::channel(quiet);
    let reader = body::reader(body);
    let d = daemon.clone();
    let mut task = tokio::spawn(async move { d.build.build(req, reader, &progress).await });
    let (first, finished) = response::first_event(&mut events, &mut task, "build").await?;
    let finished = match (&first, finished) {
        // No event at all: the build ended; its error is the answer.
        (None, None) => Some((&mut task).await.map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("build task failed: {e}"),
            )
        })?),
        (_, f) => f,
    };
    if first.is_none() {
        if let Some(Err(e)) = finished {
            return Err(ApiError::new(
                crate::error::status_of(e.kind()),
                e.to_string(),
            ));
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let send = |ev: BuildEvent| {
            let mut lines = Vec::new();
            match ev {
                BuildEvent::Stream(s) => lines.push(line(json!({ "stream": s }))),
                BuildEvent::Aux(id) => {
                    if quiet {
                        lines.push(line(json!({ "stream": format!("{id}\n") })));
                    }
                    lines.push(line(json!({ "aux": { "ID": id.to_string() } })));
                }
            }
            lines
        };
        let mut gone = false;
        if let Some(ev) = first {
            for l in send(ev) {
                gone |= tx.send(l).await.is_err();
            }
        }
        while !gone {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => {
                        for l in send(ev) {
                            gone |= tx.send(l).await.is_err();
                        }
                    }
                    None => break,
                },
                () = tx.closed() => gone = true,
            }
        }
        // The client is gone: dropping the receiver cancels the build.
        drop(events);
        let outcome = match finished {
            Some(o) => Ok(o),
            None => task.await,
        };
        let err = match outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(BuildError::io(
                "the build task",
                std::io::Error::other(e.to_string()),
            )),
        };
        if let Some(err) = err {
            let message = err.to_string();
            let detail = match err.code() {
                Some(code) => json!({ "code": code, "message": message }),
                None => json!({ "message": message }),
            };
            let _ = tx
                .send(line(json!({ "errorDetail": detail, "error": message })))
                .await;
        }
        // The answer ends here; the context's memory goes back to the
        // system after it, off the client's wait.
        drop(tx);
        let _ = tokio::task::spawn_blocking(skiff_engine::memory::release).await;
    });
    Ok(response::stream("application/json", receiver_stream(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call;

    #[test]
    fn build_query_becomes_a_typed_request() {
        let call = test_call(
            Method::POST,
            "/build",
            "t=a%3A1&t=b&buildargs=%7B%22X%22%3A%221%22%7D&labels=%7B%22l%22%3A%22v%22%7D&target=t1&nocache=1&rm=1&forcerm=0&q=0&memory=0&cachefrom=%5B%5D&networkmode=default&version=1",
        );
        let Action::Build(req) = parse(&call).expect("parse") else {
            panic!("not a build");
        };
        assert_eq!(req.tags, ["a:1", "b"]);
        assert_eq!(req.build_args.get("X"), Some(&Some("1".to_owned())));
        assert_eq!(req.labels.get("l").map(String::as_str), Some("v"));
        assert_eq!(req.target.as_deref(), Some("t1"));
        assert!(req.no_cache && req.rm && !req.force_rm && !req.quiet);
    }

    #[test]
    fn what_the_builder_does_not_honour_is_refused_by_name() {
        for (q, word) in [
            ("remote=https://x/y.git", "remote"),
            ("squash=1", "experimental"),
            ("memory=100", "memory"),
            ("extrahosts=a:1.2.3.4", "extrahosts"),
            ("cachefrom=%5B%22x%22%5D", "cachefrom"),
            ("networkmode=host", "networkmode"),
        ] {
            let err = parse(&test_call(Method::POST, "/build", q)).expect_err(q);
            assert!(err.message.contains(word), "{q}: {}", err.message);
        }
        for (q, word) in [
            ("keep-storage=1000", "keep-storage"),
            (
                "filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D",
                "until",
            ),
        ] {
            let err = parse(&test_call(Method::POST, "/build/prune", q)).expect_err(q);
            assert!(err.message.contains(word), "{q}: {}", err.message);
        }
        assert!(
            parse(&test_call(
                Method::POST,
                "/build/prune",
                "all=1&filters=%7B%7D"
            ))
            .is_ok()
        );
    }

    #[test]
    fn commit_query() {
        let call = test_call(
            Method::POST,
            "/commit",
            "container=c1&repo=img&tag=v1&comment=m&author=a&pause=0&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1",
        );
        let Action::Commit(req) = parse(&call).expect("parse") else {
            panic!("not a commit");
        };
        assert_eq!(req.container, "c1");
        assert_eq!(req.changes, [r#"CMD ["sh"]"#, "ENV A=1"]);
        assert!(!req.pause);
        assert!(parse(&test_call(Method::POST, "/commit", "")).is_err());
    }
}
