//! `GET /containers/{id}/top?ps_args=` and `GET /containers/{id}/stats
//! ?stream=&one-shot=`: HTTP only; the work is in the container service
//! (`containers::top`, `containers::stats`).

use std::sync::Arc;

use bollard_stubs::models::ContainerTopResponse;
use http::{Method, StatusCode};

use skiff_engine::containers::stats::StatsOptions;
use skiff_engine::daemon::Daemon;
use skiff_engine::streams::receiver_stream;

use crate::call::Call;
use crate::error::ApiError;
use crate::response::{self, Response};
use crate::version::API_VERSION;

/// A parsed top or stats request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET /containers/{id}/top`.
    Top {
        /// Container name or id.
        id: String,
        /// Arguments for `ps` (empty: docker's `-ef`).
        ps_args: String,
    },
    /// `GET /containers/{id}/stats`.
    Stats {
        /// Container name or id.
        id: String,
        /// `stream` (default true) and `one-shot` (API ≥ 1.41).
        opts: StatsOptions,
    },
}

/// Whether the call's API version (the latest when not given) is at least
/// `min` (`1.41`).
fn version_at_least(call: &Call, min: &str) -> bool {
    let parse = |v: &str| {
        let (a, b) = v.split_once('.').unwrap_or((v, "0"));
        (a.parse::<u32>().unwrap_or(0), b.parse::<u32>().unwrap_or(0))
    };
    parse(call.version.as_deref().unwrap_or(API_VERSION)) >= parse(min)
}

/// Parse `op` (`top` or `stats`) of container `id`.
pub fn parse(call: &Call, id: String, op: &str) -> Result<Action, ApiError> {
    let q = &call.query;
    match (&call.method, op) {
        (&Method::GET, "top") => Ok(Action::Top {
            id,
            ps_args: q.get("ps_args").unwrap_or_default().to_owned(),
        }),
        (&Method::GET, "stats") => {
            // moby's BoolValueOrDefault: absent means the default.
            let stream = q.get("stream").is_none() || q.bool("stream");
            let one_shot = version_at_least(call, "1.41") && q.bool("one-shot");
            Ok(Action::Stats {
                id,
                opts: StatsOptions { stream, one_shot },
            })
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Handle a top or stats request.
pub async fn handle(daemon: &Arc<Daemon>, action: Action) -> Result<Response, ApiError> {
    let svc = daemon.containers.clone();
    match action {
        Action::Top { id, ps_args } => {
            let top = tokio::task::spawn_blocking(move || svc.top(&id, &ps_args))
                .await
                .map_err(ApiError::internal)??;
            Ok(response::json(
                StatusCode::OK,
                &ContainerTopResponse {
                    titles: Some(top.titles),
                    processes: Some(top.processes),
                },
            ))
        }
        Action::Stats { id, opts } => {
            let samples = svc.stats(&id, opts)?;
            Ok(response::json_lines(receiver_stream(samples)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::test_call as call;

    #[test]
    fn parses_top_and_stats() {
        let c = call(Method::GET, "/containers/web/top", "ps_args=aux");
        assert_eq!(
            parse(&c, "web".into(), "top").expect("top"),
            Action::Top {
                id: "web".into(),
                ps_args: "aux".into()
            }
        );
        let stats = |q: &str, version: Option<&str>| {
            let mut c = call(Method::GET, "/containers/web/stats", q);
            c.version = version.map(str::to_owned);
            match parse(&c, "web".into(), "stats").expect("stats") {
                Action::Stats { opts, .. } => (opts.stream, opts.one_shot),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(stats("", None), (true, false));
        assert_eq!(stats("stream=0", None), (false, false));
        assert_eq!(stats("stream=false&one-shot=1", None), (false, true));
        assert_eq!(
            stats("stream=false&one-shot=1", Some("1.40")),
            (false, false)
        );
        let post = call(Method::POST, "/containers/web/stats", "");
        assert_eq!(
            parse(&post, "web".into(), "stats")
                .expect_err("method")
                .status,
            StatusCode::NOT_FOUND
        );
    }
}
