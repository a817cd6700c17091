//! System endpoints: `/_ping`, `/version`, `/info`, `/auth`.

use std::collections::HashMap;
use std::sync::Arc;

use bollard_stubs::models::{
    IndexInfo, LocalNodeState, RegistryServiceConfig, SwarmInfo, SystemInfo,
    SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};
use http::{HeaderValue, Method, StatusCode};
use hyper::body::Incoming;

use crate::call::Call;
use crate::error::ApiError;
use crate::response::{self, Response};
use crate::version::{API_VERSION, MIN_API_VERSION};
use skiff_engine::containers::list::ListFilter;
use skiff_engine::daemon::Daemon;
use skiff_engine::images::ImageError;

/// A parsed system request.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// `GET|HEAD /_ping`.
    Ping {
        /// HEAD: headers only.
        head: bool,
    },
    /// `GET /version`.
    Version,
    /// `GET /info`.
    Info,
    /// `POST /auth`.
    Auth,
    /// `GET /system/df`.
    DiskUsage,
}

/// Parse a system request.
pub fn parse(method: &Method, path: &str) -> Result<Action, ApiError> {
    match (method, path.trim_end_matches('/')) {
        (&Method::GET, "/_ping") => Ok(Action::Ping { head: false }),
        (&Method::HEAD, "/_ping") => Ok(Action::Ping { head: true }),
        (&Method::GET, "/version") => Ok(Action::Version),
        (&Method::GET, "/info") => Ok(Action::Info),
        (&Method::POST, "/auth") => Ok(Action::Auth),
        (&Method::GET, "/system/df") => Ok(Action::DiskUsage),
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Handle a system request.
pub async fn handle(
    daemon: &Arc<Daemon>,
    call: &Call,
    body: Incoming,
) -> Result<Response, ApiError> {
    match parse(&call.method, &call.path)? {
        Action::Ping { head } => {
            let mut resp = if head {
                response::empty(StatusCode::OK)
            } else {
                response::text(StatusCode::OK, "OK")
            };
            let h = resp.headers_mut();
            h.insert(
                "cache-control",
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            );
            h.insert("pragma", HeaderValue::from_static("no-cache"));
            h.insert("builder-version", HeaderValue::from_static("1"));
            Ok(resp)
        }
        Action::Version => Ok(response::json(StatusCode::OK, &version(daemon))),
        Action::DiskUsage => {
            let d = daemon.clone();
            let (images, layers_size, containers) = tokio::task::spawn_blocking(move || {
                let (images, layers_size) = d.images.disk_usage()?;
                // Each container's writable layer, walked once.
                let containers: Vec<_> = d
                    .containers
                    .list(&ListFilter {
                        all: true,
                        ..Default::default()
                    })
                    .into_iter()
                    .map(|r| {
                        let size = d.containers.size(&r);
                        (r, size)
                    })
                    .collect();
                Ok::<_, ImageError>((images, layers_size, containers))
            })
            .await
            .map_err(ApiError::internal)??;
            let v = daemon.volumes.clone();
            let volumes = tokio::task::spawn_blocking(move || v.disk_usage())
                .await
                .map_err(ApiError::internal)?;
            let images: Vec<_> = images
                .iter()
                .map(|(view, shared)| {
                    let mut s = crate::images::summary(view);
                    s.shared_size = *shared as i64;
                    s.containers = containers
                        .iter()
                        .filter(|(r, _)| r.image_id == view.record.id)
                        .count() as i64;
                    s
                })
                .collect();
            let volumes: Vec<_> = volumes
                .iter()
                .map(|u| {
                    let mut v = crate::volumes::render(&u.volume);
                    v["UsageData"] = serde_json::json!({ "Size": u.size, "RefCount": u.ref_count });
                    v
                })
                .collect();
            let containers: Vec<_> = containers
                .iter()
                .map(|(r, size)| {
                    let mut s = crate::containers::summary(r);
                    s.size_rw = Some(size.rw as i64);
                    s.size_root_fs = Some(size.root_fs as i64);
                    s
                })
                .collect();
            Ok(response::json(
                StatusCode::OK,
                &serde_json::json!({ "LayersSize": layers_size, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": [] }),
            ))
        }
        Action::Info => Ok(response::json(StatusCode::OK, &info(daemon))),
        Action::Auth => {
            let bytes = crate::body::collect(body).await?;
            let auth: AuthBody = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid auth configuration: {e}")))?;
            daemon
                .images
                .login(&auth.serveraddress, &auth.username, &auth.password)
                .await?;
            Ok(response::json(
                StatusCode::OK,
                &serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
            ))
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
}

/// The commit skiffd was built from, when the build was told.
const GIT_COMMIT: &str = match option_env!("SKIFF_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

fn version(daemon: &Daemon) -> SystemVersion {
    let host = &daemon.host;
    let details = HashMap::from([
        ("ApiVersion".to_owned(), API_VERSION.to_owned()),
        ("MinAPIVersion".to_owned(), MIN_API_VERSION.to_owned()),
        ("Os".to_owned(), "linux".to_owned()),
        ("Arch".to_owned(), host.architecture.clone()),
        ("KernelVersion".to_owned(), host.kernel_version.clone()),
        ("GitCommit".to_owned(), GIT_COMMIT.to_owned()),
        ("GoVersion".to_owned(), "n/a (Rust)".to_owned()),
        ("Experimental".to_owned(), "false".to_owned()),
    ]);
    SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "Skiff Engine".into(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            details: Some(details),
        }]),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        git_commit: Some(GIT_COMMIT.into()),
        go_version: Some("n/a (Rust)".into()),
        os: Some("linux".into()),
        arch: Some(host.architecture.clone()),
        kernel_version: Some(host.kernel_version.clone()),
        experimental: Some(false),
        build_time: None,
    }
}

fn info(daemon: &Daemon) -> SystemInfo {
    let host = &daemon.host;
    let (total, running, paused, stopped) = daemon.containers.counts();
    let cfg = &daemon.config;
    let mut index_configs = HashMap::from([(
        "docker.io".to_owned(),
        IndexInfo {
            name: Some("docker.io".into()),
            mirrors: Some(cfg.registry_mirrors.clone()),
            secure: Some(true),
            official: Some(true),
        },
    )]);
    for r in &cfg.insecure_registries {
        index_configs.insert(
            r.clone(),
            IndexInfo {
                name: Some(r.clone()),
                mirrors: Some(vec![]),
                secure: Some(false),
                official: Some(false),
            },
        );
    }
    SystemInfo {
        id: Some(daemon.id.clone()),
        containers: Some(total),
        containers_running: Some(running),
        containers_paused: Some(paused),
        containers_stopped: Some(stopped),
        images: Some(daemon.images.count() as i64),
        driver: Some("overlayfs".into()),
        driver_status: Some(vec![]),
        docker_root_dir: Some(cfg.data_root.display().to_string()),
        debug: Some(cfg.log_level == "debug"),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if host.cgroup_v2_only {
            SystemInfoCgroupVersionEnum::_2
        } else {
            SystemInfoCgroupVersionEnum::_1
        }),
        kernel_version: Some(host.kernel_version.clone()),
        operating_system: Some(host.operating_system.clone()),
        os_version: Some(host.os_version.clone()),
        os_type: Some("linux".into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: Some(host.ncpu),
        mem_total: Some(host.mem_total),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        registry_config: Some(RegistryServiceConfig {
            insecure_registry_cidrs: Some(vec!["127.0.0.0/8".into(), "::1/128".into()]),
            index_configs: Some(index_configs),
            mirrors: Some(cfg.registry_mirrors.clone()),
        }),
        name: Some(host.hostname.clone()),
        labels: Some(vec![]),
        experimental_build: Some(false),
        server_version: Some(env!("CARGO_PKG_VERSION").into()),
        live_restore_enabled: Some(false),
        swarm: Some(SwarmInfo {
            local_node_state: Some(LocalNodeState::INACTIVE),
            control_available: Some(false),
            ..Default::default()
        }),
        warnings: Some(vec![]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_system_routes() {
        assert_eq!(
            parse(&Method::GET, "/_ping").expect("ping"),
            Action::Ping { head: false }
        );
        assert_eq!(
            parse(&Method::HEAD, "/_ping").expect("ping"),
            Action::Ping { head: true }
        );
        assert_eq!(
            parse(&Method::GET, "/version").expect("version"),
            Action::Version
        );
        assert_eq!(parse(&Method::GET, "/info/").expect("info"), Action::Info);
        assert_eq!(parse(&Method::POST, "/auth").expect("auth"), Action::Auth);
        assert_eq!(
            parse(&Method::GET, "/system/df").expect("df"),
            Action::DiskUsage
        );
        assert_eq!(
            parse(&Method::POST, "/info").expect_err("method").status,
            StatusCode::NOT_FOUND
        );
    }
}
