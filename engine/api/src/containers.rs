//! Container endpoints: `/containers/…`. Attach is an HTTP/1.1 upgrade
//! (`Upgrade: tcp`, answered 101) carrying docker's multiplexed stream
//! (8-byte headers) without a TTY, raw bytes with one.

use std::collections::HashMap;
use std::sync::Arc;

use bollard_stubs::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    ContainerSummary,
};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ApiError;
use super::events::parse_timestamp;
use super::query::percent_decode;
use super::response::{self, Response};
use super::router::Call;
use skiff_engine::containers::ContainerError;
use skiff_engine::containers::attach::AttachOptions;
use skiff_engine::containers::create::CreateRequest;
use skiff_engine::containers::list::ListFilter;
use skiff_engine::containers::logs::LogOptions;
use skiff_engine::containers::record::{ContainerRecord, Status};
use skiff_engine::containers::start::Started;
use skiff_engine::containers::wait::WaitCondition;
use skiff_engine::daemon::Daemon;
use skiff_engine::events::now_nanos;
use skiff_engine::streams::receiver_stream;

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> Self {
        Self::new(super::error::status_of(e.kind()), e.to_string())
    }
}

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
    /// `GET /containers/{id}/logs`.
    Logs(String, LogOptions, bool),
    /// `DELETE /containers/{id}`.
    Remove(String, bool),
    /// `POST /containers/{id}/resize?h=&w=`.
    Resize(String, u16, u16),
    /// `POST /containers/{id}/exec`.
    ExecCreate(String),
    /// `POST /containers/{id}/pause` (true) and `/unpause` (false).
    Pause(String, bool),
    /// `POST /containers/{id}/rename?name=`.
    Rename(String, String),
    /// `POST /containers/prune`.
    Prune,
    /// `…/archive` and `…/export` (`api/container_fs.rs`).
    Fs(super::container_fs::Action),
    /// `…/top` and `…/stats` (`api/container_stats.rs`).
    Stats(super::container_stats::Action),
}

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
        (&Method::POST, "prune") => Ok(Action::Prune),
        (&Method::GET, "json") => {
            let filters = q.filters()?;
            filters.only(&["status", "name", "id", "label", "ancestor", "exited"])?;
            let values = |key: &str| filters.get(key).to_vec();
            Ok(Action::List {
                filter: ListFilter {
                    all: q.bool("all"),
                    status: values("status"),
                    name: values("name"),
                    id: values("id"),
                    label: values("label"),
                    ancestor: values("ancestor"),
                    exited: values("exited"),
                },
                size: q.bool("size"),
            })
        }
        (&Method::DELETE, id) if !id.is_empty() && !id.contains('/') => {
            Ok(Action::Remove(percent_decode(id), q.bool("force")))
        }
        (m, rest) => {
            let (id, op) = rest
                .split_once('/')
                .ok_or_else(|| ApiError::not_found("page not found"))?;
            let id = percent_decode(id);
            match (m, op) {
                (&Method::GET, "json") => Ok(Action::Inspect(id)),
                (&Method::POST, "start") => Ok(Action::Start(id)),
                (&Method::POST, "stop") => Ok(Action::Stop(
                    id,
                    q.int("t")?,
                    q.non_empty("signal").map(str::to_owned),
                )),
                (&Method::POST, "restart") => Ok(Action::Restart(id, q.int("t")?)),
                (&Method::POST, "kill") => {
                    Ok(Action::Kill(id, q.non_empty("signal").map(str::to_owned)))
                }
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
                (_, "archive" | "export") => {
                    super::container_fs::parse(m, q, id, op).map(Action::Fs)
                }
                (_, "top" | "stats") => {
                    super::container_stats::parse(call, id, op).map(Action::Stats)
                }
                (&Method::POST, "exec") => Ok(Action::ExecCreate(id)),
                (&Method::POST, "pause") => Ok(Action::Pause(id, true)),
                (&Method::POST, "unpause") => Ok(Action::Pause(id, false)),
                (&Method::POST, "rename") => Ok(Action::Rename(
                    id,
                    q.non_empty("name")
                        .ok_or_else(|| ApiError::bad_request("name is required"))?
                        .to_owned(),
                )),
                (&Method::GET, "logs") => {
                    let ts = |k: &str| {
                        q.non_empty(k)
                            .filter(|v| *v != "0")
                            .map(|v| parse_timestamp(v, now))
                            .transpose()
                    };
                    let tail = match q.non_empty("tail") {
                        None | Some("all") => None,
                        Some(n) => Some(n.parse::<usize>().map_err(|_| {
                            ApiError::bad_request(format!("invalid value for tail: {n:?}"))
                        })?),
                    };
                    let opts = LogOptions {
                        stdout: q.bool("stdout"),
                        stderr: q.bool("stderr"),
                        follow: q.bool("follow"),
                        tail,
                        since: ts("since")?,
                        until: ts("until")?,
                    };
                    if !opts.stdout && !opts.stderr {
                        return Err(ApiError::bad_request("You must choose at least one stream"));
                    }
                    Ok(Action::Logs(id, opts, q.bool("timestamps")))
                }
                _ => Err(ApiError::not_found("page not found")),
            }
        }
    }
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
            let bytes = body
                .collect()
                .await
                .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?
                .to_bytes();
            check_cgroupns_mode(&bytes)?;
            let body: ContainerCreateBody = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            let mut config: bollard_stubs::models::ContainerConfig = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            config.image = body.image.clone();
            let req = CreateRequest {
                name,
                config,
                host_config: body.host_config.unwrap_or_default(),
            };
            let s = svc.clone();
            let (id, warnings) = tokio::task::spawn_blocking(move || s.create(req))
                .await
                .map_err(ApiError::internal)??;
            Ok(response::json(
                StatusCode::CREATED,
                &json!({ "Id": id, "Warnings": warnings }),
            ))
        }
        Action::List { filter, size } => {
            // Shared records (no copy), serialised straight to the body.
            let list = svc.list(&filter);
            if !size {
                return Ok(response::json(
                    StatusCode::OK,
                    &list.iter().map(|r| ListEntry::of(r)).collect::<Vec<_>>(),
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
                    .map(|(r, size)| {
                        let mut e = ListEntry::of(r);
                        e.size_rw = Some(size.rw as i64);
                        e.size_root_fs = Some(size.root_fs as i64);
                        e
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        Action::Inspect(id) => Ok(response::json(
            StatusCode::OK,
            &inspect(daemon, &svc.resolve(&id)?),
        )),
        Action::Start(id) => match svc.start(&id).await? {
            Started::Yes => Ok(response::empty(StatusCode::NO_CONTENT)),
            Started::AlreadyRunning => Ok(response::empty(StatusCode::NOT_MODIFIED)),
        },
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
            svc.kill(&id, sig.as_deref()).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Remove(id, force) => {
            svc.remove(&id, force).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Resize(id, h, w) => {
            svc.resize(&id, h, w).await?;
            Ok(response::empty(StatusCode::OK))
        }
        Action::Fs(action) => super::container_fs::handle(daemon, action, body).await,
        Action::Stats(action) => super::container_stats::handle(daemon, action).await,
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
        Action::ExecCreate(id) => super::exec::create(daemon, &id, body).await,
        Action::Pause(id, pause) => {
            svc.set_paused(&id, pause).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Rename(id, name) => {
            svc.rename(&id, &name)?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Prune => {
            let removed = svc.prune().await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({ "ContainersDeleted": removed, "SpaceReclaimed": 0 }),
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
                    if tx.send(Ok(frame(tty, l.stream, &payload))).await.is_err() {
                        return;
                    }
                }
            });
            let ct = if tty {
                "application/vnd.docker.raw-stream"
            } else {
                "application/vnd.docker.multiplexed-stream"
            };
            Ok(response::stream(ct, receiver_stream(out)))
        }
        Action::Attach(id, opts) => {
            let upgrade = upgrade.ok_or_else(|| {
                ApiError::bad_request("attach needs an HTTP upgrade (Upgrade: tcp)")
            })?;
            let (record, ticket) = svc.prepare_attach(&id, opts)?;
            let tty = record.config.tty.unwrap_or(false);
            tokio::spawn(async move {
                let upgraded = match upgrade.await {
                    Ok(u) => u,
                    Err(e) => return tracing::debug!("attach upgrade failed: {e}"),
                };
                match ticket.connect().await {
                    Ok(stream) => relay(TokioIo::new(upgraded), stream, tty, opts.stdin).await,
                    Err(e) => tracing::warn!("attach to {}: {e}", record.id),
                }
            });
            let mut resp = response::empty(StatusCode::SWITCHING_PROTOCOLS);
            let ct = if tty {
                "application/vnd.docker.raw-stream"
            } else {
                "application/vnd.docker.multiplexed-stream"
            };
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
            Ok(resp)
        }
    }
}

/// One chunk of docker's stream: raw with a TTY, else an 8-byte header
/// (stream id, 3 zero bytes, big-endian length) and the payload.
pub fn frame(tty: bool, stream: u8, payload: &[u8]) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(payload);
    }
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// Relay between the hijacked client connection and the shim's attach
/// stream, half-closing each way correctly.
async fn relay<C>(client: C, stream: skiff_shim::AttachStream, tty: bool, stdin: bool)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sock, buffered) = stream.into_inner();
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(shim) = tokio::net::UnixStream::from_std(sock) else {
        return;
    };
    let (mut shim_rd, mut shim_wr) = shim.into_split();
    let (mut cl_rd, mut cl_wr) = tokio::io::split(client);
    let input = tokio::spawn(async move {
        if stdin {
            let _ = tokio::io::copy(&mut cl_rd, &mut shim_wr).await;
            // Client half-closed: tell the shim (it closes the process's stdin).
            let _ = shim_wr.shutdown().await;
        } else {
            let _ = shim_wr.shutdown().await;
            // Read (and drop) what the client sends until it closes: a socket
            // closed with unread input resets the connection.
            let _ = tokio::io::copy(&mut cl_rd, &mut tokio::io::sink()).await;
        }
    });
    let mut pending = buffered;
    let mut buf = vec![0u8; 64 * 1024];
    'out: loop {
        // Parse whole frames from `pending`.
        while pending.len() >= skiff_shim::protocol::FRAME_HEADER {
            let id = pending[0];
            let len = u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]]) as usize;
            if pending.len() < skiff_shim::protocol::FRAME_HEADER + len {
                break;
            }
            let payload: Vec<u8> = pending
                .drain(..skiff_shim::protocol::FRAME_HEADER + len)
                .skip(skiff_shim::protocol::FRAME_HEADER)
                .collect();
            if id == skiff_shim::protocol::STREAM_EXIT {
                break 'out;
            }
            if cl_wr.write_all(&frame(tty, id, &payload)).await.is_err() {
                break 'out;
            }
        }
        match shim_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
    let _ = cl_wr.flush().await;
    let _ = cl_wr.shutdown().await;
    input.abort();
}

fn status_text(r: &ContainerRecord) -> String {
    match r.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", since(&r.state.started_at)),
        Status::Paused => format!("Up {} (Paused)", since(&r.state.started_at)),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            since(&r.state.finished_at)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            since(&r.state.finished_at)
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// Docker's human duration ("Less than a second", "3 seconds", "2 minutes").
fn since(rfc3339: &str) -> String {
    let then = skiff_engine::images::inspect::unix_seconds(rfc3339);
    let secs = (time::OffsetDateTime::now_utc().unix_timestamp() - then).max(0);
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

pub(crate) fn summary(r: &ContainerRecord) -> ContainerSummary {
    let command = std::iter::once(r.path.as_str())
        .chain(r.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    serde_json::from_value(json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image,
        "ImageID": r.image_id.to_string(),
        "Command": command,
        "Created": skiff_engine::images::inspect::unix_seconds(&r.created),
        "Ports": [],
        "Labels": r.config.labels.clone().unwrap_or_default(),
        "State": r.state.status.as_str(),
        "Status": status_text(r),
        "HostConfig": { "NetworkMode": "none" },
        "NetworkSettings": { "Networks": {} },
        "Mounts": [],
    }))
    .unwrap_or_default()
}

/// One row of `GET /containers/json`: what [`summary`] gives, borrowed
/// from the record and serialised directly (same keys, same order).
#[derive(serde::Serialize)]
struct ListEntry<'a> {
    #[serde(rename = "Id")]
    id: &'a str,
    #[serde(rename = "Names")]
    names: [String; 1],
    #[serde(rename = "Image")]
    image: &'a str,
    #[serde(rename = "ImageID")]
    image_id: String,
    #[serde(rename = "Command")]
    command: String,
    #[serde(rename = "Created")]
    created: i64,
    #[serde(rename = "Ports")]
    ports: [(); 0],
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    size_root_fs: Option<i64>,
    #[serde(rename = "Labels")]
    labels: Labels<'a>,
    #[serde(rename = "State")]
    state: &'static str,
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "HostConfig")]
    host_config: ListHostConfig,
    #[serde(rename = "NetworkSettings")]
    network_settings: ListNetworks,
    #[serde(rename = "Mounts")]
    mounts: [(); 0],
}

/// A record's labels, or `{}`.
struct Labels<'a>(Option<&'a HashMap<String, String>>);

impl serde::Serialize for Labels<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(self.0.map(HashMap::len))?;
        for (k, v) in self.0.into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(serde::Serialize)]
struct ListHostConfig {
    #[serde(rename = "NetworkMode")]
    network_mode: &'static str,
}

#[derive(serde::Serialize)]
struct ListNetworks {
    #[serde(rename = "Networks")]
    networks: Labels<'static>,
}

impl<'a> ListEntry<'a> {
    fn of(r: &'a ContainerRecord) -> Self {
        let mut command = r.path.clone();
        for a in &r.args {
            command.push(' ');
            command.push_str(a);
        }
        Self {
            id: &r.id,
            names: [format!("/{}", r.name)],
            image: &r.image,
            image_id: r.image_id.to_string(),
            command,
            created: skiff_engine::images::inspect::unix_seconds(&r.created),
            ports: [],
            size_rw: None,
            size_root_fs: None,
            labels: Labels(r.config.labels.as_ref()),
            state: r.state.status.as_str(),
            status: status_text(r),
            host_config: ListHostConfig {
                network_mode: "none",
            },
            network_settings: ListNetworks {
                networks: Labels(None),
            },
            mounts: [],
        }
    }
}

fn state_enum(s: Status) -> ContainerStateStatusEnum {
    match s {
        Status::Created => ContainerStateStatusEnum::CREATED,
        Status::Running => ContainerStateStatusEnum::RUNNING,
        Status::Paused => ContainerStateStatusEnum::PAUSED,
        Status::Restarting => ContainerStateStatusEnum::RESTARTING,
        Status::Removing => ContainerStateStatusEnum::REMOVING,
        Status::Exited => ContainerStateStatusEnum::EXITED,
        Status::Dead => ContainerStateStatusEnum::DEAD,
    }
}

fn inspect(daemon: &Daemon, r: &ContainerRecord) -> ContainerInspectResponse {
    let paths = daemon.containers.paths(&r.id);
    let path = |p: &std::path::Path| Some(p.display().to_string());
    let s = &r.state;
    ContainerInspectResponse {
        id: Some(r.id.clone()),
        created: time::OffsetDateTime::parse(
            &r.created,
            &time::format_description::well_known::Rfc3339,
        )
        .ok(),
        path: Some(r.path.clone()),
        args: Some(r.args.clone()),
        state: Some(ContainerState {
            status: Some(state_enum(s.status)),
            running: Some(s.status == Status::Running),
            paused: Some(s.status == Status::Paused),
            restarting: Some(s.status == Status::Restarting),
            oom_killed: Some(s.oom_killed),
            dead: Some(s.status == Status::Dead),
            pid: Some(s.pid),
            exit_code: Some(s.exit_code),
            error: Some(s.error.clone()),
            started_at: Some(s.started_at.clone()),
            finished_at: Some(s.finished_at.clone()),
            health: None,
        }),
        image: Some(r.image_id.to_string()),
        resolv_conf_path: path(&paths.resolv_conf),
        hostname_path: path(&paths.hostname),
        hosts_path: path(&paths.hosts),
        log_path: path(&paths.log),
        name: Some(format!("/{}", r.name)),
        restart_count: Some(r.restart_count),
        driver: Some("overlayfs".into()),
        platform: Some("linux".into()),
        host_config: Some(r.host_config.clone()),
        config: Some(r.config.clone()),
        graph_driver: Some(bollard_stubs::models::DriverData {
            name: "overlayfs".into(),
            data: HashMap::from([
                ("MergedDir".to_owned(), paths.merged.display().to_string()),
                ("UpperDir".to_owned(), paths.upper.display().to_string()),
                ("WorkDir".to_owned(), paths.work.display().to_string()),
            ]),
        }),
        mounts: Some(vec![]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::test_call as call;

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
            matches!(parse(&call(Method::DELETE, "/containers/abc", "force=1")).expect("rm"), Action::Remove(i, true) if i == "abc")
        );
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

    #[test]
    fn list_entries_are_the_summary() {
        use skiff_engine::containers::record::State;
        let mut labels = HashMap::new();
        labels.insert("a".to_owned(), "1".to_owned());
        labels.insert("b".to_owned(), "2".to_owned());
        let mut r = ContainerRecord {
            id: "c".repeat(64),
            name: "web".into(),
            created: "2024-05-06T07:08:09.123Z".into(),
            image: "busybox".into(),
            image_id: format!("sha256:{}", "a".repeat(64))
                .parse()
                .expect("digest"),
            path: "sh".into(),
            args: vec!["-c".into(), "sleep 1".into()],
            config: bollard_stubs::models::ContainerConfig {
                labels: Some(labels),
                ..Default::default()
            },
            host_config: bollard_stubs::models::HostConfig::default(),
            state: State {
                status: Status::Exited,
                exit_code: 3,
                finished_at: "2024-05-06T07:08:10Z".into(),
                ..Default::default()
            },
            restart_count: 0,
        };
        let same = |r: &ContainerRecord| {
            let fast = serde_json::to_value(ListEntry::of(r)).expect("entry");
            let slow = serde_json::to_value(summary(r)).expect("summary");
            assert_eq!(fast, slow);
            assert_eq!(
                serde_json::to_string(&ListEntry::of(r))
                    .expect("entry")
                    .split("\"Labels\"")
                    .next(),
                serde_json::to_string(&summary(r))
                    .expect("summary")
                    .split("\"Labels\"")
                    .next(),
                "key order"
            );
        };
        same(&r);
        r.config.labels = None;
        r.args.clear();
        r.state.status = Status::Running;
        same(&r);
    }

    #[test]
    fn frames_follow_dockers_stream_format() {
        assert_eq!(
            &frame(false, 1, b"hi")[..],
            &[1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(&frame(false, 2, b"")[..], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&frame(true, 1, b"hi")[..], b"hi");
    }
}
