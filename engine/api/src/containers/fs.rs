//! `docker cp` and `docker export` endpoints: `HEAD|GET|PUT
//! /containers/{id}/archive?path=` and `GET /containers/{id}/export`.
//! HTTP only; the work is in the container service
//! (`containers::archive`, `containers::export`).
//!
//! The stat of the path travels base64-encoded in the
//! `X-Docker-Container-Path-Stat` header (HEAD and GET); archives are
//! `application/x-tar`, an export `application/octet-stream`.

use std::sync::Arc;

use base64::Engine;
use http::{HeaderValue, Method, StatusCode};
use hyper::body::Incoming;

use skiff_engine::containers::archive::PutOptions;
use skiff_engine::containers::archive::pathstat::PathStat;
use skiff_engine::daemon::Daemon;
use skiff_engine::streams::receiver_stream;

use crate::error::ApiError;
use crate::query::Query;
use crate::response::{self, Response};

/// The header carrying a path's stat.
pub const PATH_STAT_HEADER: &str = "x-docker-container-path-stat";

/// A parsed archive or export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `HEAD /containers/{id}/archive?path=`.
    Stat {
        /// Container name or id.
        id: String,
        /// Path in the container.
        path: String,
    },
    /// `GET /containers/{id}/archive?path=`.
    Get {
        /// Container name or id.
        id: String,
        /// Path in the container.
        path: String,
    },
    /// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`.
    Put {
        /// Container name or id.
        id: String,
        /// Directory in the container.
        path: String,
        /// The flags.
        opts: PutOptions,
    },
    /// `GET /containers/{id}/export`.
    Export(String),
}

/// Parse `op` (`archive` or `export`) of container `id`.
pub fn parse(method: &Method, query: &Query, id: String, op: &str) -> Result<Action, ApiError> {
    // moby's words, typo included.
    let path = || {
        query
            .non_empty("path")
            .map(str::to_owned)
            .ok_or_else(|| ApiError::bad_request("bad parameter: pathcannot be empty"))
    };
    match (method, op) {
        (&Method::HEAD, "archive") => Ok(Action::Stat { id, path: path()? }),
        (&Method::GET, "archive") => Ok(Action::Get { id, path: path()? }),
        (&Method::PUT, "archive") => Ok(Action::Put {
            id,
            path: path()?,
            opts: PutOptions {
                no_overwrite_dir_non_dir: query.bool("noOverwriteDirNonDir"),
                copy_uid_gid: query.bool("copyUIDGID"),
            },
        }),
        (&Method::GET, "export") => Ok(Action::Export(id)),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// The `X-Docker-Container-Path-Stat` value: base64 of the stat's JSON.
pub fn encode_stat(stat: &PathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn with_stat(mut resp: Response, stat: &PathStat) -> Result<Response, ApiError> {
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, encode_stat(stat)?);
    Ok(resp)
}

/// Handle an archive or export request.
pub async fn handle(
    daemon: &Arc<Daemon>,
    action: Action,
    body: Incoming,
) -> Result<Response, ApiError> {
    let svc = &daemon.containers;
    match action {
        Action::Stat { id, path } => {
            let stat = svc.archive_stat(&id, &path).await?;
            with_stat(response::empty(StatusCode::OK), &stat)
        }
        Action::Get { id, path } => {
            let (stat, chunks) = svc.archive_get(&id, &path).await?;
            with_stat(
                response::stream("application/x-tar", receiver_stream(chunks)),
                &stat,
            )
        }
        Action::Put { id, path, opts } => {
            svc.archive_put(&id, &path, opts, crate::body::reader(body))
                .await?;
            Ok(response::empty(StatusCode::OK))
        }
        Action::Export(id) => {
            let chunks = svc.export(&id).await?;
            // The swagger's (and dockerd's) type for an export.
            Ok(response::stream(
                "application/octet-stream",
                receiver_stream(chunks),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_archive_and_export() {
        let q = Query::parse(Some("path=%2Fetc%2Fhostname&copyUIDGID=1"));
        assert_eq!(
            parse(&Method::HEAD, &q, "c".into(), "archive").expect("head"),
            Action::Stat {
                id: "c".into(),
                path: "/etc/hostname".into()
            }
        );
        assert_eq!(
            parse(&Method::PUT, &q, "c".into(), "archive").expect("put"),
            Action::Put {
                id: "c".into(),
                path: "/etc/hostname".into(),
                opts: PutOptions {
                    no_overwrite_dir_non_dir: false,
                    copy_uid_gid: true
                }
            }
        );
        let none = Query::parse(Some(""));
        let e = parse(&Method::GET, &none, "c".into(), "archive").expect_err("no path");
        assert_eq!(
            (e.status, e.message.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "bad parameter: pathcannot be empty"
            )
        );
        assert_eq!(
            parse(&Method::GET, &none, "c".into(), "export").expect("export"),
            Action::Export("c".into())
        );
        assert_eq!(
            parse(&Method::POST, &none, "c".into(), "export")
                .expect_err("method")
                .status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_stat_header_is_base64_json() {
        let stat = PathStat {
            name: "hostname".into(),
            size: 13,
            mode: 0o644,
            mtime: "2024-01-01T00:00:00Z".into(),
            link_target: String::new(),
        };
        let v = encode_stat(&stat).expect("encode");
        let json = base64::engine::general_purpose::STANDARD
            .decode(v.as_bytes())
            .expect("base64");
        let back: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(back["name"], "hostname");
        assert_eq!(back["mode"], 420);
        assert_eq!(back["linkTarget"], "");
    }
}
