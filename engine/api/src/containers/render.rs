//! docker's JSON for containers: the `GET /containers/json` rows (and the
//! `/system/df` ones) and `GET /containers/{id}/json`.

use std::collections::HashMap;

use bollard_stubs::models::{ContainerInspectResponse, ContainerState, ContainerStateStatusEnum};
use serde_json::json;
use skiff_engine::containers::paths::ContainerPaths;
use skiff_engine::containers::record::{ContainerRecord, Status};
use skiff_engine::images::inspect::unix_seconds;

/// The `Status` column of `docker ps`.
fn status_text(r: &ContainerRecord) -> String {
    match r.state.status {
        Status::Created => "Created".into(),
        Status::Running => match &r.state.health {
            Some(h) => format!("Up {} ({})", since(&r.state.started_at), h.status.ps_text()),
            None => format!("Up {}", since(&r.state.started_at)),
        },
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
    let then = unix_seconds(rfc3339);
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

/// The `COMMAND` of `docker ps`: the path and its arguments, an argument
/// holding a space in single quotes (as dockerd's list writes it).
fn command_line(r: &ContainerRecord) -> String {
    let mut command = r.path.clone();
    for a in &r.args {
        command.push(' ');
        if a.contains(' ') {
            command.push('\'');
            command.push_str(a);
            command.push('\'');
        } else {
            command.push_str(a);
        }
    }
    command
}

/// One row of `GET /containers/json` (and of `/system/df`'s
/// `Containers`), borrowed from the record and serialised directly in
/// dockerd's key order.
#[derive(serde::Serialize)]
pub(crate) struct ListEntry<'a> {
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
    ports: Vec<serde_json::Value>,
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub(super) size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub(super) size_root_fs: Option<i64>,
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
    mounts: Vec<bollard_stubs::models::MountPoint>,
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
    network_mode: String,
}

#[derive(serde::Serialize)]
struct ListNetworks {
    #[serde(rename = "Networks")]
    networks: serde_json::Value,
}

/// The network mode a `ps` row shows (`default` when unset, as dockerd).
fn network_mode(r: &ContainerRecord) -> String {
    r.host_config
        .network_mode
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "default".into())
}

impl<'a> ListEntry<'a> {
    /// The row of `r`, without sizes.
    pub(super) fn of(r: &'a ContainerRecord) -> Self {
        let command = command_line(r);
        Self {
            id: &r.id,
            names: [format!("/{}", r.name)],
            image: &r.image,
            image_id: r.image_id.to_string(),
            command,
            created: unix_seconds(&r.created),
            ports: Vec::new(),
            size_rw: None,
            size_root_fs: None,
            labels: Labels(r.config.labels.as_ref()),
            state: r.state.status.as_str(),
            status: status_text(r),
            host_config: ListHostConfig {
                network_mode: network_mode(r),
            },
            network_settings: ListNetworks {
                networks: json!({}),
            },
            mounts: Vec::new(),
        }
    }
}

impl ListEntry<'_> {
    /// The row with its published ports and networks.
    pub(super) fn with_network(
        mut self,
        r: &ContainerRecord,
        networks: &skiff_engine::networks::NetworkService,
    ) -> Self {
        let (ports, nets) = super::net::list_parts(r, networks);
        self.ports = ports;
        self.network_settings.networks = nets;
        self
    }

    /// The row with its mounts (`Mounts`, as inspect lists them: what
    /// `docker ps --format '{{.Mounts}}'` and clients that show a volume's
    /// users read).
    pub(super) fn with_mounts(mut self, mounts: Vec<bollard_stubs::models::MountPoint>) -> Self {
        self.mounts = mounts;
        self
    }
}

/// The `docker ps --size` row of `r` — with its ports, networks and the
/// sizes of its layers — as `GET /containers/json?size=1` and
/// `/system/df` give it (dockerd omits an empty writable layer's size).
pub(crate) fn sized_row<'a>(
    r: &'a ContainerRecord,
    networks: &skiff_engine::networks::NetworkService,
    size: &skiff_engine::containers::list::ContainerSize,
) -> ListEntry<'a> {
    let mut e = ListEntry::of(r).with_network(r, networks);
    e.size_rw = Some(size.rw as i64).filter(|n| *n != 0);
    e.size_root_fs = Some(size.root_fs as i64);
    e
}

/// The inspect status of a record's status.
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

/// `State.Health` of inspect.
fn health(h: &skiff_engine::containers::health::Health) -> bollard_stubs::models::Health {
    use bollard_stubs::models::{HealthStatusEnum, HealthcheckResult};
    use skiff_engine::containers::health::HealthStatus;
    let at = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    };
    bollard_stubs::models::Health {
        status: Some(match h.status {
            HealthStatus::Starting => HealthStatusEnum::STARTING,
            HealthStatus::Healthy => HealthStatusEnum::HEALTHY,
            HealthStatus::Unhealthy => HealthStatusEnum::UNHEALTHY,
        }),
        failing_streak: Some(h.failing_streak),
        log: Some(
            h.log
                .iter()
                .map(|r| HealthcheckResult {
                    start: at(&r.start),
                    end: at(&r.end),
                    exit_code: Some(r.exit_code),
                    output: Some(r.output.clone()),
                })
                .collect(),
        ),
    }
}

/// `docker inspect` of a container whose files are at `paths`.
pub(super) fn inspect(r: &ContainerRecord, paths: &ContainerPaths) -> ContainerInspectResponse {
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
            // dockerd: a paused container is still running.
            running: Some(matches!(s.status, Status::Running | Status::Paused)),
            paused: Some(s.status == Status::Paused),
            restarting: Some(s.status == Status::Restarting),
            oom_killed: Some(s.oom_killed),
            dead: Some(s.status == Status::Dead),
            pid: Some(s.pid),
            exit_code: Some(s.exit_code),
            error: Some(s.error.clone()),
            started_at: Some(s.started_at.clone()),
            finished_at: Some(s.finished_at.clone()),
            health: s.health.as_ref().map(health),
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

/// What [`inspect_json`] adds to [`inspect`]: facts the record does not
/// hold.
#[derive(Debug, Default)]
pub(super) struct InspectExtras {
    /// The image's layer directories, top first (`GraphDriver.Data.LowerDir`).
    pub lower_dirs: Vec<std::path::PathBuf>,
    /// `?size=1`: the writable layer's size and the whole root filesystem's.
    pub size: Option<skiff_engine::containers::list::ContainerSize>,
    /// The container's mounts as dockerd lists them (`Mounts`).
    pub mounts: Vec<bollard_stubs::models::MountPoint>,
}

/// `docker inspect` of a container as dockerd writes it: [`inspect`] with
/// every key dockerd always sends ([`crate::zero::container`]), the files
/// of a never-started container empty (dockerd makes them at the first
/// start), and the extras.
pub(super) fn inspect_json(
    r: &ContainerRecord,
    paths: &ContainerPaths,
    extras: &InspectExtras,
) -> serde_json::Value {
    let mut inspect = inspect(r, paths);
    inspect.mounts = Some(extras.mounts.clone());
    let mut v = serde_json::to_value(inspect).unwrap_or_default();
    if r.state.started_at == skiff_engine::containers::record::ZERO_TIME {
        for key in ["ResolvConfPath", "HostnamePath", "HostsPath", "LogPath"] {
            v[key] = json!("");
        }
    }
    if !extras.lower_dirs.is_empty() {
        let lower = extras
            .lower_dirs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        v["GraphDriver"]["Data"]["LowerDir"] = json!(lower);
    }
    if let Some(size) = extras.size {
        v["SizeRw"] = json!(size.rw);
        v["SizeRootFs"] = json!(size.root_fs);
    }
    let mut zero = crate::zero::container();
    // What the bundle masks (skiff_shim::bundle), none when privileged.
    let privileged = r.host_config.privileged.unwrap_or(false);
    let list = |paths: &[&'static str]| (!privileged).then(|| paths.to_vec());
    zero["HostConfig"]["MaskedPaths"] = json!(list(&skiff_shim::bundle::MASKED_PATHS));
    zero["HostConfig"]["ReadonlyPaths"] = json!(list(&skiff_shim::bundle::READONLY_PATHS));
    crate::zero::fill(&mut v, &zero);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_are_container_summaries() {
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
            cgroup_parent: None,
            mounts: Vec::new(),
        };
        // A row is the swagger's ContainerSummary, key for key, in its order.
        let same = |r: &ContainerRecord| {
            let fast = serde_json::to_value(ListEntry::of(r)).expect("entry");
            let typed: bollard_stubs::models::ContainerSummary =
                serde_json::from_value(fast.clone()).expect("a ContainerSummary");
            assert_eq!(fast, serde_json::to_value(&typed).expect("summary"));
            assert_eq!(
                serde_json::to_string(&ListEntry::of(r))
                    .expect("entry")
                    .split("\"Labels\"")
                    .next(),
                serde_json::to_string(&typed)
                    .expect("summary")
                    .split("\"Labels\"")
                    .next(),
                "key order"
            );
        };
        same(&r);
        assert_eq!(ListEntry::of(&r).command, "sh -c 'sleep 1'");
        r.config.labels = None;
        r.args.clear();
        r.state.status = Status::Running;
        same(&r);
    }
}
