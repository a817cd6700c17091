//! Container endpoints: every `/containers/…` route is parsed here, in one
//! place, into one [`Action`], and dispatched: the lifecycle and logs are
//! answered here, the other parts by a file each — [`attach`] (hijacked,
//! `Upgrade: tcp`), [`attach_ws`] (websocket), [`changes`], [`fs`]
//! (archive, export), [`stats`] (top, stats) — and [`render`] writes
//! docker's JSON for list and inspect.

pub mod attach;
pub mod attach_ws;
pub mod changes;
pub mod create_body;
pub mod fs;
mod net;
pub mod render;
pub mod stats;
pub mod update;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use serde_json::json;
use skiff_engine::containers::attach::AttachOptions;
use skiff_engine::containers::create::CreateRequest;
use skiff_engine::containers::exec::ExecOptions;
use skiff_engine::containers::list::ListFilter;
use skiff_engine::containers::logs::LogOptions;
use skiff_engine::containers::prune::PruneFilter;
use skiff_engine::containers::start::Started;
use skiff_engine::containers::stop::parse_signal;
use skiff_engine::containers::wait::WaitCondition;
use skiff_engine::daemon::Daemon;
use skiff_engine::events::now_nanos;
use skiff_engine::streams::receiver_stream;

pub(crate) use render::sized_row;

use crate::call::Call;
use crate::error::ApiError;
use crate::events::parse_timestamp;
use crate::query::Query;
use crate::query::percent_decode;
use crate::response::{self, Response};
use crate::{body, stdcopy};
use render::ListEntry;

/// A parsed container request.
#[derive(Debug)]
pub enum Action {
    /// `POST /containers/create`.
    Create(Option<String>),
    /// `GET /containers/json`.
    List {
        /// `all` and the `status`, `name`, `id`, `label`, `ancestor`,
        /// `exited` filters.
        filter: ListFilter,
        /// `SizeRw` and `SizeRootFs` too (`docker ps -s`).
        size: bool,
    },
    /// `GET /containers/{id}/json`.
    Inspect(String),
    /// `POST /containers/{id}/start`.
    Start(String),
    /// `POST /containers/{id}/stop`.
    Stop(String, Option<i64>, Option<String>),
    /// `POST /containers/{id}/restart`.
    Restart(String, Option<i64>),
    /// `POST /containers/{id}/kill`.
    Kill(String, Option<String>),
    /// `POST /containers/{id}/wait?condition=`.
    Wait(String, WaitCondition),
    /// `POST /containers/{id}/attach`.
    Attach(String, AttachOptions),
    /// `GET /containers/{id}/attach/ws`.
    AttachWs(attach_ws::WsAttach),
    /// `GET /containers/{id}/changes`.
    Changes(String),
    /// `GET /containers/{id}/logs`.
    Logs(String, LogOptions, bool),
    /// `DELETE /containers/{id}?force=&v=`: the container, `force`, and
    /// `v` (its anonymous volumes too).
    Remove(String, bool, bool),
    /// `POST /containers/{id}/resize?h=&w=`.
    Resize(String, u16, u16),
    /// `POST /containers/{id}/exec`: an exec instance, started through
    /// `/exec/{id}/start`.
    ExecCreate(String),
    /// `POST /containers/{id}/pause` (true) and `/unpause` (false).
    Pause(String, bool),
    /// `POST /containers/{id}/rename?name=`.
    Rename(String, String),
    /// `DELETE /containers/{parent}/{alias}?link=1` (`docker rm --link`).
    RemoveLink(String),
    /// `POST /containers/prune?filters=` (`until`, `label`, `label!`).
    Prune(PruneFilter),
    /// `…/archive` and `…/export` ([`fs`]).
    Fs(fs::Action),
    /// `…/top` and `…/stats` ([`stats`]).
    Stats(stats::Action),
    /// `POST /containers/{id}/update` ([`update`]: the body parsed there).
    Update(String),
}

/// The values of a `status` filter dockerd accepts.
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Parse a container request.
pub fn parse(call: &Call) -> Result<Action, ApiError> {
    let rest = call
        .path
        .trim_start_matches("/containers")
        .trim_start_matches('/');
    let q = &call.query;
    let now = now_nanos();
    match (&call.method, rest) {
        (&Method::POST, "create") => Ok(Action::Create(q.non_empty("name").map(str::to_owned))),
        (&Method::POST, "prune") => {
            let filters = q.filters()?;
            filters.only(&["until", "label", "label!"])?;
            let until = match filters.get("until") {
                [] => None,
                [v] => Some(parse_timestamp(v, now)?),
                _ => {
                    return Err(ApiError::bad_request(
                        "more than one until filter specified",
                    ));
                }
            };
            let labels = filters.labels();
            Ok(Action::Prune(PruneFilter { until, labels }))
        }
        (&Method::GET, "json") => {
            let filters = q.filters()?;
            filters.only(&[
                "status", "name", "id", "label", "ancestor", "exited", "health",
            ])?;
            let values = |key: &str| filters.get(key).to_vec();
            if let Some(bad) = values("status")
                .iter()
                .find(|s| !STATUSES.contains(&s.as_str()))
            {
                return Err(ApiError::bad_request(format!(
                    "Invalid filter 'status={bad}'"
                )));
            }
            if let Some(bad) = values("health")
                .iter()
                .find(|v| !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none"))
            {
                return Err(ApiError::bad_request(format!(
                    "Unrecognised filter value for health: {bad}"
                )));
            }
            Ok(Action::List {
                filter: ListFilter {
                    all: q.bool("all"),
                    status: values("status"),
                    name: values("name"),
                    id: values("id"),
                    label: values("label"),
                    ancestor: values("ancestor"),
                    exited: values("exited"),
                    health: values("health"),
                },
                size: q.bool("size"),
            })
        }
        // `docker rm --link [PARENT/]ALIAS`: never a removal of the container.
        (&Method::DELETE, link) if !link.is_empty() && q.bool("link") => {
            Ok(Action::RemoveLink(percent_decode(link)))
        }
        (&Method::DELETE, id) if !id.is_empty() && !id.contains('/') => Ok(Action::Remove(
            percent_decode(id),
            q.bool("force"),
            q.bool("v"),
        )),
        (m, rest) => {
            let (id, op) = rest
                .split_once('/')
                .ok_or_else(|| ApiError::not_found("page not found"))?;
            let id = percent_decode(id);
            match (m, op) {
                (&Method::GET, "json") => Ok(Action::Inspect(id)),
                (&Method::POST, "start") => Ok(Action::Start(id)),
                (&Method::POST, "stop") => Ok(Action::Stop(id, q.int("t")?, signal(q)?)),
                (&Method::POST, "restart") => Ok(Action::Restart(id, q.int("t")?)),
                (&Method::POST, "kill") => Ok(Action::Kill(id, signal(q)?)),
                (&Method::POST, "wait") => {
                    let condition = match q.non_empty("condition") {
                        None | Some("not-running") => WaitCondition::NotRunning,
                        Some("next-exit") => WaitCondition::NextExit,
                        Some("removed") => WaitCondition::Removed,
                        Some(other) => {
                            return Err(ApiError::bad_request(format!(
                                "invalid condition: {other:?}"
                            )));
                        }
                    };
                    Ok(Action::Wait(id, condition))
                }
                (&Method::POST, "attach") => Ok(Action::Attach(
                    id,
                    AttachOptions {
                        stdin: q.bool("stdin"),
                        stdout: q.bool("stdout"),
                        stderr: q.bool("stderr"),
                    },
                )),
                (&Method::POST, "resize") => {
                    // moby: strconv.ParseUint(h, 10, 32); larger sizes are clamped.
                    let dim = |k: &str| {
                        let v = q.get(k).unwrap_or_default();
                        v.parse::<u32>()
                            .map(|n| u16::try_from(n).unwrap_or(u16::MAX))
                            .map_err(|_| {
                                ApiError::bad_request(format!(
                                    "strconv.ParseUint: parsing {v:?}: invalid syntax"
                                ))
                            })
                    };
                    Ok(Action::Resize(id, dim("h")?, dim("w")?))
                }
                (&Method::GET, "attach/ws") => Ok(Action::AttachWs(attach_ws::parse(call, id))),
                (&Method::GET, "changes") => Ok(Action::Changes(id)),
                (_, "archive" | "export") => fs::parse(m, q, id, op).map(Action::Fs),
                (_, "top" | "stats") => stats::parse(call, id, op).map(Action::Stats),
                (&Method::POST, "exec") => Ok(Action::ExecCreate(id)),
                (&Method::POST, "update") => Ok(Action::Update(id)),
                (&Method::POST, "pause") => Ok(Action::Pause(id, true)),
                (&Method::POST, "unpause") => Ok(Action::Pause(id, false)),
                (&Method::POST, "rename") => Ok(Action::Rename(
                    id,
                    q.non_empty("name")
                        .ok_or_else(|| {
                            ApiError::bad_request("Neither old nor new names may be empty")
                        })?
                        .to_owned(),
                )),
                (&Method::GET, "logs") => {
                    let ts = |k: &str| {
                        q.non_empty(k)
                            .filter(|v| *v != "0")
                            .map(|v| parse_timestamp(v, now))
                            .transpose()
                    };
                    // dockerd: a tail that is not a count means all lines.
                    let tail = q.non_empty("tail").and_then(|n| n.parse::<usize>().ok());
                    let opts = LogOptions {
                        stdout: q.bool("stdout"),
                        stderr: q.bool("stderr"),
                        follow: q.bool("follow"),
                        tail,
                        since: ts("since")?,
                        until: ts("until")?,
                    };
                    if !opts.stdout && !opts.stderr {
                        return Err(ApiError::bad_request(
                            "Bad parameters: you must choose at least one stream",
                        ));
                    }
                    Ok(Action::Logs(id, opts, q.bool("timestamps")))
                }
                _ => Err(ApiError::not_found("page not found")),
            }
        }
    }
}

/// The `signal` parameter of stop and kill, checked before the container
/// is looked at (dockerd's order: a bad signal is a 400 whatever its state).
fn signal(q: &Query) -> Result<Option<String>, ApiError> {
    q.non_empty("signal")
        .map(|s| parse_signal(s).map(|_| s.to_owned()))
        .transpose()
        .map_err(ApiError::from)
}

/// The part of a create body checked before it is parsed: the typed
/// `HostConfig` would reject an unknown `CgroupnsMode` with a serde error
/// instead of dockerd's message.
#[derive(serde::Deserialize)]
struct CgroupnsProbe {
    #[serde(rename = "HostConfig")]
    host_config: Option<CgroupnsProbeHost>,
}

#[derive(serde::Deserialize)]
struct CgroupnsProbeHost {
    #[serde(rename = "CgroupnsMode")]
    cgroupns_mode: Option<String>,
}

/// Refuse a `HostConfig.CgroupnsMode` other than `private`, `host` or
/// empty with dockerd's message (bodies that are not JSON are left to the
/// full parse).
fn check_cgroupns_mode(bytes: &[u8]) -> Result<(), ApiError> {
    let Ok(probe) = serde_json::from_slice::<CgroupnsProbe>(bytes) else {
        return Ok(());
    };
    match probe.host_config.and_then(|h| h.cgroupns_mode).as_deref() {
        None | Some("" | "private" | "host") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid cgroup namespace mode: {other}"
        ))),
    }
}

/// The service request of a `POST /containers/create` body (a 400 with
/// dockerd's words for a body that is not a container config).
pub fn create_request(name: Option<String>, bytes: &[u8]) -> Result<CreateRequest, ApiError> {
    check_cgroupns_mode(bytes)?;
    let (config, host_config) = create_body::parse(bytes)?;
    Ok(CreateRequest {
        name,
        config,
        host_config,
        networks: net::endpoints_config(bytes)?,
    })
}

/// Handle a container request.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    body: Incoming,
    upgrade: Option<OnUpgrade>,
) -> Result<Response, ApiError> {
    let svc = &daemon.containers;
    match parse(call)? {
        Action::Create(name) => {
            let req = create_request(name, &body::collect(body).await?)?;
            let s = svc.clone();
            let (id, warnings) = tokio::task::spawn_blocking(move || s.create(req))
                .await
                .map_err(ApiError::internal)??;
            Ok(response::json(
                StatusCode::CREATED,
                &json!({ "Id": id, "Warnings": warnings }),
            ))
        }
        Action::List { mut filter, size } => {
            // `limit=n`: the n newest, stopped ones included (dockerd).
            let limit = call.query.int("limit")?.filter(|n| *n > 0);
            filter.all |= limit.is_some();
            // Shared records (no copy), serialised straight to the body.
            let mut list = svc.list(&filter);
            if let Some(n) = limit {
                list.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            }
            if !size {
                return Ok(response::json(
                    StatusCode::OK,
                    &list
                        .iter()
                        .map(|r| {
                            ListEntry::of(r)
                                .with_network(r, &daemon.networks)
                                .with_mounts(svc.mount_points(r))
                        })
                        .collect::<Vec<_>>(),
                ));
            }
            // Each writable layer walked once, off the runtime.
            let s = svc.clone();
            let sized = tokio::task::spawn_blocking(move || {
                list.into_iter()
                    .map(|r| {
                        let size = s.size(&r);
                        (r, size)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(ApiError::internal)?;
            Ok(response::json(
                StatusCode::OK,
                &sized
                    .iter()
                    .map(|(r, size)| sized_row(r, daemon, size))
                    .collect::<Vec<_>>(),
            ))
        }
        Action::Inspect(id) => {
            let record = svc.resolve(&id)?;
            let paths = svc.paths(&record.id);
            let d = daemon.clone();
            let size = call.query.bool("size");
            let (record, extras) = tokio::task::spawn_blocking(move || {
                let extras = render::InspectExtras {
                    lower_dirs: d
                        .images
                        .record(&record.image_id)
                        .map(|i| d.images.lower_dirs(&i))
                        .unwrap_or_default(),
                    size: size.then(|| d.containers.size(&record)),
                    mounts: d.containers.mount_points(&record),
                };
                (record, extras)
            })
            .await
            .map_err(ApiError::internal)?;
            // dockerd's NetworkSettings keeps fields bollard's model has
            // dropped (IPAddress, Gateway, MacAddress …): set as JSON.
            let mut inspect = render::inspect_json(&record, &paths, &extras);
            inspect["NetworkSettings"] = net::settings(&record, &daemon.networks);
            Ok(response::json(StatusCode::OK, &inspect))
        }
        Action::Start(id) => {
            // API >= 1.24 takes no start options (dockerd refuses a body).
            let bytes = body::collect(body).await?;
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad_request(
                    "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
                ));
            }
            match svc.start(&id).await? {
                Started::Yes => Ok(response::empty(StatusCode::NO_CONTENT)),
                Started::AlreadyRunning => Ok(response::empty(StatusCode::NOT_MODIFIED)),
            }
        }
        Action::Stop(id, t, sig) => {
            let stopped = svc.stop(&id, t, sig.as_deref()).await?;
            Ok(response::empty(if stopped {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::NOT_MODIFIED
            }))
        }
        Action::Restart(id, t) => {
            svc.restart(&id, t).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Kill(id, sig) => {
            svc.kill(&id, sig.as_deref()).await.map_err(|e| {
                // dockerd names the operation before "No such container".
                let mut e = ApiError::from(e);
                if e.status == StatusCode::NOT_FOUND {
                    e.message = format!("Cannot kill container: {id}: {}", e.message);
                }
                e
            })?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Remove(id, force, volumes) => {
            svc.remove_with_volumes(&id, force, volumes).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Resize(id, h, w) => {
            svc.resize(&id, h, w).await?;
            Ok(response::empty(StatusCode::OK))
        }
        Action::Fs(action) => fs::handle(daemon, action, body).await,
        Action::Stats(action) => stats::handle(daemon, action).await,
        Action::Changes(id) => changes::handle(daemon, &id).await,
        Action::AttachWs(attach) => attach_ws::handle(daemon, call, attach, upgrade).await,
        Action::Wait(id, condition) => {
            // Headers at once, the body when the condition is met.
            let exited = svc.wait(&id, condition)?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
            tokio::spawn(async move {
                let code = exited.await;
                let mut body = serde_json::to_vec(&json!({ "StatusCode": code, "Error": null }))
                    .unwrap_or_default();
                body.push(b'\n');
                let _ = tx.send(Ok(Bytes::from(body))).await;
            });
            Ok(response::stream("application/json", receiver_stream(rx)))
        }
        Action::ExecCreate(id) => {
            let opts: ExecOptions = body::json_or_default(&body::collect(body).await?)?;
            let s = svc.clone();
            let exec = tokio::task::spawn_blocking(move || s.create_exec(&id, opts))
                .await
                .map_err(ApiError::internal)??;
            Ok(response::json(StatusCode::CREATED, &json!({ "Id": exec })))
        }
        Action::Pause(id, pause) => {
            svc.set_paused(&id, pause).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::RemoveLink(name) => {
            svc.remove_link(&name)?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Rename(id, name) => {
            svc.rename(&id, &name)?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Prune(filter) => {
            let (removed, reclaimed) = svc.prune(&filter).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({ "ContainersDeleted": removed, "SpaceReclaimed": reclaimed }),
            ))
        }
        Action::Logs(id, opts, timestamps) => {
            let record = svc.resolve(&id)?;
            let tty = record.config.tty.unwrap_or(false);
            let mut rx = svc.logs(&id, opts)?;
            let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
            tokio::spawn(async move {
                while let Some(l) = rx.recv().await {
                    let mut payload = Vec::new();
                    if timestamps {
                        payload.extend_from_slice(l.time.as_bytes());
                        payload.push(b' ');
                    }
                    payload.extend_from_slice(&l.bytes);
                    if tx
                        .send(Ok(stdcopy::frame(tty, l.stream, &payload)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            Ok(response::stream(
                stdcopy::content_type(tty),
                receiver_stream(out),
            ))
        }
        Action::Attach(id, opts) => attach::handle(svc, call, &id, opts, upgrade),
        Action::Update(id) => {
            let req = update::parse(&body::collect(body).await?)?;
            let warnings = svc.update_container(&id, req).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({ "Warnings": warnings }),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call as call;

    #[test]
    fn cgroupns_mode_is_checked_with_dockerds_message() {
        for ok in [
            r#"{"Image":"x"}"#,
            r#"{"HostConfig":{}}"#,
            r#"{"HostConfig":{"CgroupnsMode":""}}"#,
            r#"{"HostConfig":{"CgroupnsMode":"private"}}"#,
            r#"{"HostConfig":{"CgroupnsMode":"host"}}"#,
        ] {
            assert!(check_cgroupns_mode(ok.as_bytes()).is_ok(), "{ok}");
        }
        let err = check_cgroupns_mode(br#"{"HostConfig":{"CgroupnsMode":"bogus"}}"#)
            .expect_err("bogus mode");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.message, "invalid cgroup namespace mode: bogus");
    }

    /// The container of a changes route, if `c` is one.
    fn changes(c: &Call) -> Option<String> {
        match parse(c) {
            Ok(Action::Changes(id)) => Some(id),
            _ => None,
        }
    }

    #[test]
    fn parses_only_the_changes_route() {
        assert_eq!(
            changes(&call(Method::GET, "/containers/web/changes", "")).as_deref(),
            Some("web")
        );
        assert_eq!(
            changes(&call(Method::GET, "/containers/a%20b/changes", "")).as_deref(),
            Some("a b")
        );
        assert_eq!(
            changes(&call(Method::POST, "/containers/web/changes", "")),
            None
        );
        assert_eq!(changes(&call(Method::GET, "/containers/changes", "")), None);
        assert_eq!(
            changes(&call(Method::GET, "/containers/a/b/changes", "")),
            None
        );
        assert_eq!(
            changes(&call(Method::GET, "/containers/web/json", "")),
            None
        );
    }

    #[test]
    fn parses_exec_create_and_the_parts_routes() {
        assert!(matches!(
            parse(&call(Method::POST, "/containers/web/exec", "")).expect("exec"),
            Action::ExecCreate(id) if id == "web"
        ));
        assert!(matches!(
            parse(&call(Method::GET, "/containers/web/export", "")).expect("export"),
            Action::Fs(fs::Action::Export(id)) if id == "web"
        ));
        assert!(matches!(
            parse(&call(Method::GET, "/containers/web/top", "")).expect("top"),
            Action::Stats(stats::Action::Top { .. })
        ));
        assert!(matches!(
            parse(&call(Method::GET, "/containers/web/attach/ws", "")).expect("ws"),
            Action::AttachWs(a) if a.id == "web"
        ));
        assert!(matches!(
            parse(&call(Method::POST, "/containers/web/attach", "stdout=1")).expect("attach"),
            Action::Attach(id, o) if id == "web" && o.stdout && !o.stdin
        ));
        assert_eq!(
            parse(&call(Method::GET, "/containers/web/nope", ""))
                .expect_err("unknown")
                .status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn parses_container_routes() {
        assert!(
            matches!(parse(&call(Method::POST, "/containers/create", "name=web")).expect("create"), Action::Create(Some(n)) if n == "web")
        );
        assert!(matches!(
            parse(&call(Method::GET, "/containers/json", "all=1")).expect("list"),
            Action::List {
                filter: ListFilter { all: true, .. },
                size: false,
            }
        ));
        assert!(matches!(
            parse(&call(Method::GET, "/containers/json", "size=1")).expect("list -s"),
            Action::List {
                filter: ListFilter { all: false, .. },
                size: true,
            }
        ));
        assert!(
            matches!(parse(&call(Method::POST, "/containers/abc/wait", "condition=removed")).expect("wait"), Action::Wait(i, WaitCondition::Removed) if i == "abc")
        );
        assert!(matches!(
            parse(&call(Method::POST, "/containers/abc/wait", "")).expect("wait"),
            Action::Wait(_, WaitCondition::NotRunning)
        ));
        assert_eq!(
            parse(&call(
                Method::POST,
                "/containers/abc/wait",
                "condition=soon"
            ))
            .expect_err("condition")
            .message,
            r#"invalid condition: "soon""#
        );
        match parse(&call(
            Method::GET,
            "/containers/json",
            "all=1&filters=%7B%22label%22%3A%5B%22a%3D1%22%5D%2C%22exited%22%3A%5B%220%22%5D%7D",
        ))
        .expect("ps filters")
        {
            Action::List { filter, .. } => {
                assert!(filter.all);
                assert_eq!(filter.label, ["a=1"]);
                assert_eq!(filter.exited, ["0"]);
                assert!(filter.status.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse(&call(Method::DELETE, "/containers/abc", "force=1")).expect("rm"), Action::Remove(i, true, false) if i == "abc")
        );
        // `docker rm --link`: never a removal of the container.
        assert!(matches!(
            parse(&call(Method::DELETE, "/containers/web/db", "link=1")).expect("link"),
            Action::RemoveLink(l) if l == "web/db"
        ));
        assert!(matches!(
            parse(&call(Method::DELETE, "/containers/web", "link=1")).expect("own name"),
            Action::RemoveLink(l) if l == "web"
        ));
        assert!(matches!(
            parse(&call(Method::POST, "/containers/abc/stop", "t=1")).expect("stop"),
            Action::Stop(_, Some(1), None)
        ));
        assert_eq!(
            parse(&call(Method::GET, "/containers/abc/logs", ""))
                .expect_err("no stream")
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}
