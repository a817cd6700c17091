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

/// The `type` values of `GET /system/df` dockerd knows.
const DF_TYPES: [&str; 4] = ["container", "image", "volume", "build-cache"];

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
            // HEAD too: dockerd writes the GET's headers.
            h.insert(
                "content-type",
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            h.insert(
                "cache-control",
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            );
            h.insert("pragma", HeaderValue::from_static("no-cache"));
            h.insert("builder-version", HeaderValue::from_static("1"));
            Ok(resp)
        }
        Action::Version => Ok(response::json(StatusCode::OK, &version_json(daemon))),
        Action::DiskUsage => {
            // dockerd (API 1.42+) refuses a `type` it does not know; the
            // known ones are all answered (a superset of what was asked).
            if let Some(t) = call
                .query
                .all("type")
                .into_iter()
                .find(|t| !DF_TYPES.contains(t))
            {
                return Err(ApiError::bad_request(format!("unknown object type: {t}")));
            }
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
                .map(|(r, size)| crate::containers::sized_row(r, daemon, size))
                .collect();
            let images = if crate::zero::version_below(call.version.as_deref(), 44) {
                serde_json::json!(crate::images::with_virtual_size(&images))
            } else {
                serde_json::json!(images)
            };
            let d = daemon.clone();
            let build_cache = tokio::task::spawn_blocking(move || crate::build::disk_usage(&d))
                .await
                .map_err(ApiError::internal)?;
            let builder_size: u64 = build_cache.iter().filter_map(|c| c["Size"].as_u64()).sum();
            let mut df = serde_json::json!({ "LayersSize": layers_size, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": build_cache });
            if crate::zero::version_below(call.version.as_deref(), 42) {
                // Removed in API 1.42.
                df["BuilderSize"] = serde_json::json!(builder_size);
            }
            Ok(response::json(StatusCode::OK, &df))
        }
        Action::Info => Ok(response::json(
            StatusCode::OK,
            &info_json(daemon, call.version.as_deref()),
        )),
        Action::Auth => {
            let bytes = crate::body::collect(body).await?;
            let auth = crate::body::auth_config(&bytes).map_err(ApiError::bad_request)?;
            let creds = auth.credentials().unwrap_or_default();
            let token = daemon.images.login(&auth.server_address, &creds).await?;
            // dockerd omits an empty IdentityToken.
            let mut answer = serde_json::json!({ "Status": "Login Succeeded" });
            if let Some(token) = token.filter(|t| !t.is_empty()) {
                answer["IdentityToken"] = serde_json::json!(token);
            }
            Ok(response::json(StatusCode::OK, &answer))
        }
    }
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

/// When skiffd was built: `SKIFF_BUILD_TIME` at build time, else the
/// modification time of the running binary (what a build writes last), in
/// dockerd's format.
fn build_time() -> String {
    if let Some(t) = option_env!("SKIFF_BUILD_TIME") {
        return t.to_owned();
    }
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .map(|t| {
            let t = time::OffsetDateTime::from(t);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}+00:00",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.nanosecond()
            )
        })
        .unwrap_or_default()
}

/// `GET /version`: [`version`] with the build time (top level and the
/// Engine component's details).
///
/// skiffd answers its own version (`Version`, the Engine component) and
/// the API version it speaks (1.50): clients gate features on
/// `ApiVersion` (the docker CLI, compose, bollard, docker-py negotiate
/// it), and a dockerd version number would claim behaviour skiffd does
/// not have. `Platform.Name` says what the engine is.
fn version_json(daemon: &Daemon) -> serde_json::Value {
    let mut v = serde_json::to_value(version(daemon)).unwrap_or_default();
    let built = serde_json::Value::String(build_time());
    v["BuildTime"] = built.clone();
    if let Some(engine) = v["Components"].get_mut(0) {
        engine["Details"]["BuildTime"] = built;
    }
    v
}

/// `GET /info`: [`info`] with the keys dockerd always sends, with skiffd's
/// true values: the limits it applies where the kernel has them
/// ([`skiff_engine::host::HostFeatures`]), its one runtime and log
/// driver, docker's seccomp profile, and live counts (open descriptors,
/// threads for `NGoroutines`, event listeners). Networking: the network
/// drivers skiffd has (`Plugins.Network`: `bridge`, `host`, `null` — not
/// dockerd's `ipvlan`, `macvlan`, `overlay`) and, from API 1.49 on (as
/// dockerd), its firewall backend (`nftables`: one table of its own).
fn info_json(daemon: &Daemon, api_version: Option<&str>) -> serde_json::Value {
    use serde_json::json;
    let f = skiff_engine::host::HostFeatures::read();
    let mut v = serde_json::to_value(info(daemon)).unwrap_or_default();
    let count = |dir: &str| std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0);
    let mut security = Vec::new();
    if f.seccomp {
        security.push("name=seccomp,profile=default");
    }
    if daemon.host.cgroup_v2_only {
        security.push("name=cgroupns");
    }
    let init = &daemon.containers.config().init;
    let init_binary = init
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or("docker-init".to_owned(), |n| {
            n.to_string_lossy().into_owned()
        });
    let commit = json!({ "ID": "", "Expected": "" });
    let proxy = |k: &str| {
        std::env::var(k)
            .or_else(|_| std::env::var(k.to_lowercase()))
            .unwrap_or_default()
    };
    let runtime = skiff_engine::containers::validate::RUNTIME;
    let mut runtimes = serde_json::Map::new();
    runtimes.insert(runtime.to_owned(), json!({ "path": "skiff-shim" }));
    let extra = json!({
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": null,
            "Log": ["json-file"],
        },
        "MemoryLimit": f.memory_limit,
        "SwapLimit": f.swap_limit,
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": f.cpu_cfs,
        "CpuCfsQuota": f.cpu_cfs,
        "CPUShares": f.cpu_shares,
        "CPUSet": false,
        "PidsLimit": f.pids_limit,
        "IPv4Forwarding": f.ipv4_forwarding,
        "BridgeNfIptables": f.bridge_nf_iptables,
        "BridgeNfIp6tables": f.bridge_nf_ip6tables,
        "OomKillDisable": false,
        "NFd": count("/proc/self/fd"),
        "NGoroutines": count("/proc/self/task"),
        "SystemTime": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "NEventsListener": daemon.events.listeners(),
        "GenericResources": null,
        "HttpProxy": proxy("HTTP_PROXY"),
        "HttpsProxy": proxy("HTTPS_PROXY"),
        "NoProxy": proxy("NO_PROXY"),
        "Runtimes": runtimes,
        "DefaultRuntime": runtime,
        "Isolation": "",
        "InitBinary": init_binary,
        "ContainerdCommit": commit,
        "RuncCommit": commit,
        "InitCommit": commit,
        "SecurityOptions": security,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "Error": "",
            "RemoteManagers": null,
        },
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
        },
    });
    crate::zero::fill(&mut v, &extra);
    if !crate::zero::version_below(api_version, 49) {
        v["FirewallBackend"] = json!({ "Driver": "nftables" });
    }
    v
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
