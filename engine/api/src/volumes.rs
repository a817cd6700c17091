//! Volume endpoints: `/volumes/…` (`docker volume ls|inspect|create|rm|prune`),
//! parsed into an [`Action`] and answered by the volume service.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Method, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use skiff_engine::daemon::Daemon;
use skiff_engine::volumes::{
    CreateRequest, LabelFilter, ListFilter, PruneRequest, PruneScope, Volume,
};

use crate::body;
use crate::call::Call;
use crate::containers::attach_ws::version_below;
use crate::error::ApiError;
use crate::query::percent_decode;
use crate::response::{self, Response};

/// A parsed volume request.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// `GET /volumes`.
    List(ListFilter),
    /// `GET /volumes/{name}`.
    Inspect(String),
    /// `POST /volumes/create` (the body is read by the handler).
    Create,
    /// `DELETE /volumes/{name}?force=`.
    Remove {
        /// The volume.
        name: String,
        /// `force`: a missing volume is not an error (in-use still is).
        force: bool,
    },
    /// `POST /volumes/prune`.
    Prune(PruneRequest),
}

/// `POST /volumes/create`'s body.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    cluster_volume_spec: Option<serde_json::Value>,
}

/// `true`/`1` or `false`/`0`, else docker's invalid-filter error.
fn filter_bool(key: &str, values: &[String]) -> Result<Option<bool>, ApiError> {
    match values {
        [] => Ok(None),
        [v] if v == "true" || v == "1" => Ok(Some(true)),
        [v] if v == "false" || v == "0" => Ok(Some(false)),
        v => Err(ApiError::bad_request(format!(
            "invalid filter '{key}={}'",
            v.join(",")
        ))),
    }
}

/// Parse a volume request.
pub fn parse(call: &Call) -> Result<Action, ApiError> {
    let rest = call
        .path
        .trim_start_matches("/volumes")
        .trim_start_matches('/');
    let q = &call.query;
    match (&call.method, rest) {
        (&Method::GET, "") => {
            let filters = q.filters()?;
            filters.only(&["name", "label", "dangling", "driver"])?;
            Ok(Action::List(ListFilter {
                names: filters.get("name").to_vec(),
                labels: filters
                    .get("label")
                    .iter()
                    .map(|l| LabelFilter::parse(l, false))
                    .collect(),
                dangling: filter_bool("dangling", filters.get("dangling"))?,
                drivers: filters.get("driver").to_vec(),
            }))
        }
        (&Method::POST, "create") => Ok(Action::Create),
        (&Method::POST, "prune") => {
            let filters = q.filters()?;
            filters.only(&["label", "label!", "all"])?;
            let all = filter_bool("all", filters.get("all"))?;
            // Before API 1.42 a prune took every unused volume.
            let scope = if version_below(call.version.as_deref(), (1, 42)) || all == Some(true) {
                PruneScope::All
            } else {
                PruneScope::Anonymous
            };
            let labels = filters.labels();
            Ok(Action::Prune(PruneRequest { scope, labels }))
        }
        (&Method::GET, name) if !name.contains('/') => Ok(Action::Inspect(percent_decode(name))),
        (&Method::DELETE, name) if !name.is_empty() && !name.contains('/') => Ok(Action::Remove {
            name: percent_decode(name),
            force: q.bool("force"),
        }),
        (&Method::PUT, name) if !name.is_empty() && !name.contains('/') => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "volume update only valid for cluster volumes, but swarm is not enabled",
        )),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// A volume as docker's API shows it (`docker volume inspect`): no labels
/// or options are `null`, as dockerd prints them.
pub fn render(v: &Volume) -> serde_json::Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": if v.labels.is_empty() { None } else { Some(&v.labels) },
        "Mountpoint": v.mountpoint.display().to_string(),
        "Name": v.name,
        "Options": if v.options.is_empty() { None } else { Some(&v.options) },
        "Scope": v.scope,
    })
}

/// Handle a volume request. The service's calls touch the filesystem, so
/// they run on the blocking pool.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    body: Incoming,
) -> Result<Response, ApiError> {
    let action = parse(call)?;
    let svc = daemon.volumes.clone();
    match action {
        Action::List(filter) => {
            let list = svc.list(&filter);
            let volumes: Vec<_> = list.iter().map(render).collect();
            Ok(response::json(
                StatusCode::OK,
                &json!({ "Volumes": volumes, "Warnings": null }),
            ))
        }
        Action::Inspect(name) => Ok(response::json(
            StatusCode::OK,
            &render(&svc.inspect(&name)?),
        )),
        Action::Create => {
            let req: CreateBody = body::json_or_default(&body::collect(body).await?)?;
            if req.cluster_volume_spec.is_some() {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster volumes (ClusterVolumeSpec) are not supported: swarm is not enabled",
                ));
            }
            let create = CreateRequest {
                name: Some(req.name),
                driver: Some(req.driver),
                labels: req.labels.unwrap_or_default(),
                options: req.driver_opts.unwrap_or_default(),
                reference: None,
            };
            let volume = tokio::task::spawn_blocking(move || svc.create(create))
                .await
                .map_err(ApiError::internal)??;
            Ok(response::json(StatusCode::CREATED, &render(&volume)))
        }
        Action::Remove { name, force } => {
            tokio::task::spawn_blocking(move || svc.remove(&name, force))
                .await
                .map_err(ApiError::internal)??;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Action::Prune(req) => {
            let report = tokio::task::spawn_blocking(move || svc.prune(&req))
                .await
                .map_err(ApiError::internal)??;
            skiff_engine::memory::release();
            Ok(response::json(
                StatusCode::OK,
                &json!({
                    "VolumesDeleted": report.volumes_deleted,
                    "SpaceReclaimed": report.space_reclaimed,
                }),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call as call;

    fn with_version(mut c: Call, v: &str) -> Call {
        c.version = Some(v.to_owned());
        c
    }

    #[test]
    fn parses_every_route() {
        assert_eq!(
            parse(&call(Method::GET, "/volumes/data", "")).expect("inspect"),
            Action::Inspect("data".into())
        );
        assert_eq!(
            parse(&call(Method::DELETE, "/volumes/data", "force=1")).expect("rm"),
            Action::Remove {
                name: "data".into(),
                force: true
            }
        );
        assert_eq!(
            parse(&call(Method::POST, "/volumes/create", "")).expect("create"),
            Action::Create
        );
        assert_eq!(
            parse(&call(Method::POST, "/volumes/a/b", ""))
                .expect_err("unknown")
                .status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn list_filters_are_checked() {
        let f = r#"{"dangling":["true"],"label":["a=1"],"name":["db"],"driver":["local"]}"#;
        let q = filters(f);
        match parse(&call(Method::GET, "/volumes", &q)).expect("list") {
            Action::List(filter) => {
                assert_eq!(filter.dangling, Some(true));
                assert_eq!(filter.names, ["db"]);
                assert_eq!(filter.drivers, ["local"]);
                assert_eq!(filter.labels, [LabelFilter::parse("a=1", false)]);
            }
            other => panic!("{other:?}"),
        }
        let q = filters(r#"{"dangling":["maybe"]}"#);
        assert_eq!(
            parse(&call(Method::GET, "/volumes", &q))
                .expect_err("dangling")
                .message,
            "invalid filter 'dangling=maybe'"
        );
        let q = filters(r#"{"size":["1"]}"#);
        assert_eq!(
            parse(&call(Method::GET, "/volumes", &q))
                .expect_err("unknown filter")
                .message,
            "Invalid filter 'size'"
        );
    }

    #[test]
    fn prune_scope_follows_the_api_version() {
        let scope = |c: Call| match parse(&c).expect("prune") {
            Action::Prune(r) => r.scope,
            other => panic!("{other:?}"),
        };
        let prune = || call(Method::POST, "/volumes/prune", "");
        assert_eq!(scope(prune()), PruneScope::Anonymous);
        assert_eq!(scope(with_version(prune(), "1.44")), PruneScope::Anonymous);
        assert_eq!(scope(with_version(prune(), "1.41")), PruneScope::All);
        let all = filters(r#"{"all":["true"]}"#);
        assert_eq!(
            scope(call(Method::POST, "/volumes/prune", &all)),
            PruneScope::All
        );
        let labels = filters(r#"{"label!":["keep"]}"#);
        match parse(&call(Method::POST, "/volumes/prune", &labels)).expect("prune") {
            Action::Prune(r) => assert_eq!(r.labels, [LabelFilter::parse("keep", true)]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn renders_empty_labels_and_options_as_null_like_dockerd() {
        let mut v = Volume {
            name: "named".into(),
            driver: "local".into(),
            mountpoint: "/d/volumes/named/_data".into(),
            created_at: "2026-12-07T11:22:48Z".into(),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            scope: "local",
        };
        assert_eq!(
            render(&v).to_string(),
            r#"{"CreatedAt":"2026-12-07T11:22:48Z","Driver":"local","Labels":null,"Mountpoint":"/d/volumes/named/_data","Name":"named","Options":null,"Scope":"local"}"#
        );
        v.labels.insert("a".into(), "b".into());
        v.options.insert("type".into(), "tmpfs".into());
        let r = render(&v);
        assert_eq!(
            (&r["Labels"]["a"], &r["Options"]["type"]),
            (&json!("b"), &json!("tmpfs"))
        );
    }

    fn filters(f: &str) -> String {
        serde_urlencoded::to_string([("filters", f)]).expect("encode")
    }
}
