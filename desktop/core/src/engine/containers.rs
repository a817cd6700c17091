//! Containers: list, start/stop/restart/remove, inspect, create + start.

use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryHealthStatusEnum, HostConfig,
    PortSummary, PortSummaryTypeEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
    RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use serde::{Deserialize, Serialize};

use super::Engine;
use crate::error::{Error, Result};

/// A row of the containers view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// The full id.
    pub id: String,
    /// The name, without docker's leading `/`.
    pub name: String,
    /// The image as given at create time.
    pub image: String,
    /// `created`, `running`, `paused`, `restarting`, `exited`, ...
    pub state: String,
    /// `Up 5 minutes`, `Exited (0) 2 seconds ago`, ...
    pub status: String,
    /// Unix seconds.
    pub created: i64,
    /// Published ports as `docker ps` shows them.
    pub ports: String,
    /// The TCP ports published on the host, once each, sorted: what the UI
    /// offers to open in a browser.
    pub published: Vec<u16>,
    /// The compose project (label `com.docker.compose.project`), if any.
    pub project: Option<String>,
    /// The compose service (label `com.docker.compose.service`), if any.
    pub service: Option<String>,
    /// `starting`, `healthy` or `unhealthy`; `null` without a healthcheck.
    pub health: Option<String>,
}

/// The label compose puts its project name in.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label compose puts the service name in.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// What to do to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start it.
    Start,
    /// Stop it (SIGTERM, SIGKILL after the container's timeout).
    Stop,
    /// Restart it.
    Restart,
    /// Remove it, running or not, with its anonymous volumes.
    Remove,
}

/// `run_container`'s request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    /// The image.
    pub image: String,
    /// The container's name; the engine picks one when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// `KEY=value` entries.
    #[serde(default)]
    pub env: Vec<String>,
    /// The command line, split like a shell would; the image's default
    /// when absent or blank.
    #[serde(default)]
    pub cmd: Option<String>,
    /// Remove the container when it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Published ports, `-p` entries (`8080:80`, `127.0.0.1:53:53/udp`).
    #[serde(default)]
    pub ports: Vec<String>,
}

/// Every container, running or not, newest first.
pub async fn list(engine: &Engine) -> Result<Vec<Container>> {
    let options = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let list = engine
        .call(|d| async move { d.list_containers(Some(options)).await })
        .await?;
    Ok(list.into_iter().map(row).collect())
}

/// The container's (first) name, without docker's leading `/`.
pub fn display_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|names| names.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

fn row(c: ContainerSummary) -> Container {
    let name = display_name(&c);
    let label = |key: &str| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(key))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let ports = c.ports.as_deref().unwrap_or_default();
    let status = c.status.clone().unwrap_or_default();
    Container {
        project: label(PROJECT_LABEL),
        service: label(SERVICE_LABEL),
        health: health(c.health.as_ref().and_then(|h| h.status), &status),
        id: c.id.unwrap_or_default(),
        name,
        image: c.image.unwrap_or_default(),
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        status,
        created: c.created.unwrap_or_default(),
        ports: format_ports(ports),
        published: published_tcp(ports),
    }
}

/// The health to show: the engine's `Health.Status` when it gives one,
/// else what `docker ps`'s status text says (`Up 5 minutes (healthy)`).
pub fn health(status: Option<ContainerSummaryHealthStatusEnum>, text: &str) -> Option<String> {
    match status {
        Some(
            s @ (ContainerSummaryHealthStatusEnum::STARTING
            | ContainerSummaryHealthStatusEnum::HEALTHY
            | ContainerSummaryHealthStatusEnum::UNHEALTHY),
        ) => Some(s.to_string()),
        Some(ContainerSummaryHealthStatusEnum::NONE) => None,
        _ => {
            let (_, rest) = text.rsplit_once('(')?;
            match rest.trim_end_matches(')') {
                "healthy" => Some("healthy".into()),
                "unhealthy" => Some("unhealthy".into()),
                "health: starting" => Some("starting".into()),
                _ => None,
            }
        }
    }
}

/// The host ports of the TCP mappings, once each, sorted.
pub fn published_tcp(ports: &[PortSummary]) -> Vec<u16> {
    let mut published: Vec<u16> = ports
        .iter()
        .filter(|p| matches!(p.typ, None | Some(PortSummaryTypeEnum::TCP)))
        .filter_map(|p| p.public_port)
        .filter(|p| *p > 0)
        .collect();
    published.sort_unstable();
    published.dedup();
    published
}

/// The link the containers view gives a published TCP port (one of a
/// row's [`Container::published`]): the page at this computer's
/// `localhost`, where the engine publishes it (natively, or through the
/// VM's port forwarder). `None` for port 0, which is no port.
pub fn port_url(port: u16) -> Option<String> {
    (port != 0).then(|| format!("http://localhost:{port}"))
}

/// `0.0.0.0:8080->80/tcp, 443/tcp`, sorted, each mapping once.
pub fn format_ports(ports: &[PortSummary]) -> String {
    let mut parts: Vec<String> = ports
        .iter()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match p.public_port {
                Some(public) => {
                    let ip = p.ip.as_deref().unwrap_or("0.0.0.0");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{}/{proto}", p.private_port)
                }
                None => format!("{}/{proto}", p.private_port),
            }
        })
        .collect();
    parts.sort();
    parts.dedup();
    parts.join(", ")
}

/// Starts, stops, restarts or removes (forced, with volumes) container `id`.
pub async fn act(engine: &Engine, id: &str, action: Action) -> Result<()> {
    let id = non_empty(id, "container id")?;
    engine
        .call(|d| async move {
            match action {
                Action::Start => d.start_container(id, None::<StartContainerOptions>).await,
                Action::Stop => d.stop_container(id, None::<StopContainerOptions>).await,
                Action::Restart => {
                    d.restart_container(id, None::<RestartContainerOptions>)
                        .await
                }
                Action::Remove => {
                    let options = RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    };
                    d.remove_container(id, Some(options)).await
                }
            }
        })
        .await
}

/// The engine's inspect document of container `id`.
pub async fn inspect(engine: &Engine, id: &str) -> Result<serde_json::Value> {
    let id = non_empty(id, "container id")?;
    let doc = engine
        .call(|d| async move {
            d.inspect_container(id, None::<InspectContainerOptions>)
                .await
        })
        .await?;
    serde_json::to_value(doc)
        .map_err(|err| Error::Internal(format!("encoding the inspect document of {id}: {err}")))
}

/// Creates and starts a container; returns its id. A container that was
/// created but failed to start is removed again.
pub async fn run(engine: &Engine, request: RunRequest) -> Result<String> {
    let body = create_body(&request)?;
    let options = CreateContainerOptions {
        name: request
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        ..Default::default()
    };
    let created = engine
        .call(|d| async move { d.create_container(Some(options), body).await })
        .await?;
    let id = created.id;
    let started = engine
        .call(|d| {
            let id = id.clone();
            async move { d.start_container(&id, None::<StartContainerOptions>).await }
        })
        .await;
    if let Err(err) = started {
        let _ = act(engine, &id, Action::Remove).await;
        return Err(err);
    }
    Ok(id)
}

/// The create body for `request`: image, env, the command split like a
/// shell would, auto-remove.
pub fn create_body(request: &RunRequest) -> Result<ContainerCreateBody> {
    let image = non_empty(&request.image, "image")?;
    let cmd = match request.cmd.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(line) => Some(shell_words::split(line).map_err(|err| {
            Error::InvalidRequest(format!("the command `{line}` cannot be split: {err}"))
        })?),
    };
    let env: Vec<String> = request
        .env
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = env.iter().find(|e| e.starts_with('=')) {
        return Err(Error::InvalidRequest(format!(
            "the environment entry `{bad}` has no name"
        )));
    }
    let (exposed, bindings) = super::publish::parse(&request.ports)?;
    Ok(ContainerCreateBody {
        image: Some(image.to_string()),
        env: (!env.is_empty()).then_some(env),
        cmd,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            auto_remove: Some(request.auto_remove),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `value` trimmed, or an error naming `what` when it is blank.
pub fn non_empty<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        Err(Error::InvalidRequest(format!("the {what} is empty")))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cmd: Option<&str>) -> RunRequest {
        RunRequest {
            image: "busybox".into(),
            name: None,
            env: vec!["A=1".into(), " ".into()],
            cmd: cmd.map(Into::into),
            auto_remove: true,
            ports: vec!["8080:80".into()],
        }
    }

    #[test]
    fn command_lines_split_like_a_shell() {
        let body = create_body(&request(Some(r#"sh -c "echo 'a b'; sleep 1""#))).expect("body");
        assert_eq!(
            body.cmd,
            Some(vec!["sh".into(), "-c".into(), "echo 'a b'; sleep 1".into()])
        );
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        assert_eq!(
            body.host_config
                .as_ref()
                .and_then(|h| h.port_bindings.as_ref())
                .map(|b| b.len()),
            Some(1)
        );
        assert_eq!(body.host_config.and_then(|h| h.auto_remove), Some(true));
        assert_eq!(create_body(&request(Some("  "))).expect("body").cmd, None);
        let err = create_body(&request(Some("echo 'open"))).expect_err("unbalanced");
        assert_eq!(err.kind(), "invalid_request");
    }

    #[test]
    fn blank_image_and_nameless_env_are_refused() {
        let mut r = request(None);
        r.image = " ".into();
        assert_eq!(
            create_body(&r).expect_err("blank").kind(),
            "invalid_request"
        );
        let mut r = request(None);
        r.env = vec!["=x".into()];
        assert!(create_body(&r).is_err());
    }

    #[test]
    fn ports_read_like_docker_ps() {
        let ports = [
            PortSummary {
                ip: Some("0.0.0.0".into()),
                private_port: 80,
                public_port: Some(8080),
                typ: Some(PortSummaryTypeEnum::TCP),
            },
            PortSummary {
                ip: None,
                private_port: 53,
                public_port: None,
                typ: Some(PortSummaryTypeEnum::UDP),
            },
            PortSummary {
                ip: Some("::".into()),
                private_port: 80,
                public_port: Some(8080),
                typ: Some(PortSummaryTypeEnum::TCP),
            },
        ];
        assert_eq!(
            format_ports(&ports),
            "0.0.0.0:8080->80/tcp, 53/udp, [::]:8080->80/tcp"
        );
        assert_eq!(format_ports(&[]), "");
        assert_eq!(published_tcp(&ports), [8080]);
        assert_eq!(port_url(8080).as_deref(), Some("http://localhost:8080"));
        assert_eq!(port_url(0), None);
    }

    #[test]
    fn health_comes_from_the_engine_or_the_status_text() {
        use ContainerSummaryHealthStatusEnum as H;
        assert_eq!(
            health(Some(H::HEALTHY), "Up 1 second").as_deref(),
            Some("healthy")
        );
        assert_eq!(health(Some(H::NONE), "Up (healthy)"), None);
        assert_eq!(
            health(None, "Up 5 minutes (unhealthy)").as_deref(),
            Some("unhealthy")
        );
        assert_eq!(
            health(Some(H::EMPTY), "Up 2 seconds (health: starting)").as_deref(),
            Some("starting")
        );
        assert_eq!(health(None, "Exited (0) 2 minutes ago"), None);
    }

    #[test]
    fn rows_carry_the_compose_project_and_service() {
        let c = ContainerSummary {
            names: Some(vec!["/shop-web-1".into()]),
            labels: Some(
                [
                    (PROJECT_LABEL.to_string(), "shop".to_string()),
                    (SERVICE_LABEL.to_string(), "web".to_string()),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let r = row(c);
        assert_eq!(
            (r.name.as_str(), r.project.as_deref(), r.service.as_deref()),
            ("shop-web-1", Some("shop"), Some("web"))
        );
        assert_eq!(row(ContainerSummary::default()).project, None);
    }

    #[test]
    fn actions_parse_from_the_ui() {
        let a: Action = serde_json::from_str("\"remove\"").expect("parse");
        assert_eq!(a, Action::Remove);
        assert!(serde_json::from_str::<Action>("\"pause\"").is_err());
        let r: RunRequest = serde_json::from_value(serde_json::json!({
            "image": "busybox", "name": null, "env": [], "cmd": null, "autoRemove": true
        }))
        .expect("parse");
        assert!(r.auto_remove);
    }
}
