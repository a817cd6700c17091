//! `docker create`: merge the user's config with the image's as docker does,
//! name the container, and record it.

use std::sync::Arc;

use bollard_stubs::models::{ContainerConfig, HostConfig, HostConfigCgroupnsModeEnum};

use super::ContainerService;
use super::error::ContainerError;
use super::names;
use super::record::{ContainerRecord, State, ZERO_TIME};
use crate::images::now_rfc3339;

/// A create request.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// `?name=`.
    pub name: Option<String>,
    /// The container config (`Image` is required).
    pub config: ContainerConfig,
    /// The host config.
    pub host_config: HostConfig,
    /// `NetworkingConfig.EndpointsConfig`: per network (name or id), the
    /// endpoint's settings.
    pub networks: Vec<(String, crate::networks::record::Attachment)>,
}

/// A container's cgroup namespace mode: the one asked for, or `default`
/// (the service's) when unset or empty (stored resolved, as dockerd does).
pub fn resolve_cgroupns(
    asked: Option<HostConfigCgroupnsModeEnum>,
    default: HostConfigCgroupnsModeEnum,
) -> HostConfigCgroupnsModeEnum {
    match asked {
        Some(mode @ (HostConfigCgroupnsModeEnum::PRIVATE | HostConfigCgroupnsModeEnum::HOST)) => {
            mode
        }
        Some(HostConfigCgroupnsModeEnum::EMPTY) | None => default,
    }
}

/// Merge the image's runtime config under the user's, as moby's `merge` does:
/// env by key, entrypoint/cmd by docker's rules, the rest when unset.
pub fn merge(user: &mut ContainerConfig, image: &serde_json::Value) -> Result<(), ContainerError> {
    let image: ContainerConfig = serde_json::from_value(image.clone()).unwrap_or_default();
    super::health::config::merge(user, image.healthcheck.clone());
    // `--entrypoint ""` arrives as `[""]`: it means "no entrypoint".
    if user
        .entrypoint
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        user.entrypoint = Some(vec![]);
    }
    // The user's variables as given, then the image's the user did not
    // set (moby's order: `inspect` shows `-e` values before `PATH`).
    let mut env = user.env.take().unwrap_or_default();
    let key = |e: &str| e.split('=').next().unwrap_or_default().to_owned();
    let set: std::collections::HashSet<String> = env.iter().map(|e| key(e)).collect();
    env.extend(
        image
            .env
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !set.contains(&key(e))),
    );
    user.env = Some(env);
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = image.cmd;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint;
        }
    }
    if user.working_dir.as_deref().is_none_or(str::is_empty) {
        user.working_dir = image.working_dir;
    }
    if user.user.as_deref().is_none_or(str::is_empty) {
        user.user = image.user;
    }
    if user.stop_signal.is_none() {
        user.stop_signal = image.stop_signal;
    }
    let mut labels = image.labels.unwrap_or_default();
    labels.extend(user.labels.take().unwrap_or_default());
    user.labels = Some(labels);
    let mut ports = image.exposed_ports.unwrap_or_default();
    for p in user.exposed_ports.take().unwrap_or_default() {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    if !ports.is_empty() {
        user.exposed_ports = Some(ports);
    }
    let mut volumes = image.volumes.unwrap_or_default();
    for v in user.volumes.take().unwrap_or_default() {
        if !volumes.contains(&v) {
            volumes.push(v);
        }
    }
    if !volumes.is_empty() {
        user.volumes = Some(volumes);
    }
    Ok(())
}

/// The process argv: entrypoint followed by cmd.
pub fn argv(config: &ContainerConfig) -> Vec<String> {
    config
        .entrypoint
        .iter()
        .flatten()
        .chain(config.cmd.iter().flatten())
        .cloned()
        .collect()
}

fn new_id() -> String {
    let raw: [u8; 32] = rand::random();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

impl ContainerService {
    /// Create a container; returns its id and docker's warnings.
    pub fn create(
        self: &Arc<Self>,
        req: CreateRequest,
    ) -> Result<(String, Vec<String>), ContainerError> {
        let mut config = req.config;
        let mut host_config = req.host_config;
        host_config.cgroupns_mode = Some(resolve_cgroupns(
            host_config.cgroupns_mode,
            self.config.default_cgroupns,
        ));
        let image_name = config
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| ContainerError::InvalidArgument("No image was specified".into()))?;
        let id = new_id();
        // A generated name is reserved at once (two creates at the same
        // time never draw the same one); a given one is checked at insert.
        let mut reserved = None;
        let name = match req.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n)
                .map_err(ContainerError::InvalidArgument)?
                .to_owned(),
            None => reserved
                .insert(self.store.reserve_name(&id, names::random))
                .name()
                .to_owned(),
        };
        // What skiffd does not honour is refused by name, never ignored.
        super::unsupported::check(&config, &host_config)?;
        self.register_links(&name, &mut host_config)?;
        // What start would refuse is refused now: capabilities, security
        // options, and a missing init for `--init`.
        super::validate::host_config(&host_config)?;
        super::validate::adapt(
            &mut host_config,
            crate::host::HostFeatures::read().swap_limit,
        );
        super::spec::security(&host_config)?;
        if super::spec::wants_init(&host_config, &self.config.init) {
            super::spec::init_binary(&self.config.init)?;
        }
        super::health::config::validate(config.healthcheck.as_ref())?;
        let (image, image_config) = self.images.get(&image_name)?;
        if let Some(runtime) = &image_config.config {
            merge(&mut config, runtime)?;
        } else {
            merge(&mut config, &serde_json::Value::Null)?;
        }
        let argv = argv(&config);
        let Some((path, args)) = argv.split_first() else {
            return Err(ContainerError::InvalidArgument(
                "no command specified".into(),
            ));
        };
        let cgroup_parent = match host_config.cgroup_parent.as_deref() {
            None | Some("") => self.config.cgroup_parent.clone(),
            Some(p) => super::cgroups::normalise_parent(p).map_err(|why| {
                ContainerError::InvalidArgument(format!("invalid cgroup parent {p:?}: {why}"))
            })?,
        };
        if config.hostname.as_deref().is_none_or(str::is_empty) {
            config.hostname = Some(id[..12].to_owned());
        }
        let mounts = self.resolve_mounts(&id, &config, &host_config)?;
        let record = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: now_rfc3339(),
            image: image_name.clone(),
            image_id: image.id.clone(),
            path: path.clone(),
            args: args.to_vec(),
            config,
            host_config,
            state: State {
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..State::default()
            },
            restart_count: 0,
            cgroup_parent: Some(cgroup_parent),
            mounts,
        };
        let warnings = self.network_create(
            &id,
            &name,
            &record.host_config,
            &record.config,
            req.networks,
        )?;
        skiff_failpoint::point!(skiff_failpoint::CREATE_BEFORE_RECORD);
        if let Err(e) = self.store.insert(record.clone()) {
            self.network_forget(&id);
            self.release_mounts(&record, true);
            return Err(e);
        }
        skiff_failpoint::point!(skiff_failpoint::CREATE_AFTER_RECORD);
        // dockerd makes the init layer at create: `docker export` of a
        // created container holds it. Else it is made at the first start.
        if let Err(e) = super::init_layer::ensure(&self.store.dir(&id)) {
            tracing::warn!("init layer of container {id}: {e}");
        }
        drop(reserved);
        self.event("create", &id, &[("image", &image_name), ("name", &name)]);
        self.prepare(&id);
        Ok((id, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).expect("config")
    }

    #[test]
    fn cgroupns_defaults_like_dockerd() {
        use super::super::config::{default_cgroupns, host_is_unified};
        assert_eq!(default_cgroupns(true), HostConfigCgroupnsModeEnum::PRIVATE);
        assert_eq!(default_cgroupns(false), HostConfigCgroupnsModeEnum::HOST);
        let default = default_cgroupns(host_is_unified());
        for mode in [
            HostConfigCgroupnsModeEnum::PRIVATE,
            HostConfigCgroupnsModeEnum::HOST,
        ] {
            assert_eq!(resolve_cgroupns(Some(mode), default), mode);
        }
        assert_eq!(resolve_cgroupns(None, default), default);
        assert_eq!(
            resolve_cgroupns(Some(HostConfigCgroupnsModeEnum::EMPTY), default),
            default
        );
    }

    #[test]
    fn env_merges_by_key_and_cmd_comes_from_the_image() {
        let mut user = cfg(json!({"Env": ["A=user", "C=3"]}));
        merge(
            &mut user,
            &json!({"Env": ["PATH=/bin", "A=image"], "Cmd": ["sh"], "WorkingDir": "/srv"}),
        )
        .expect("merge");
        assert_eq!(
            user.env,
            Some(vec!["A=user".into(), "C=3".into(), "PATH=/bin".into()])
        );
        assert_eq!(argv(&user), ["sh"]);
        assert_eq!(user.working_dir.as_deref(), Some("/srv"));
    }

    #[test]
    fn entrypoint_rules_follow_docker() {
        // User cmd replaces the image cmd, keeps the image entrypoint.
        let mut u = cfg(json!({"Cmd": ["echo", "hi"]}));
        merge(
            &mut u,
            &json!({"Entrypoint": ["/init"], "Cmd": ["default"]}),
        )
        .expect("merge");
        assert_eq!(argv(&u), ["/init", "echo", "hi"]);
        // A user entrypoint drops the image cmd.
        let mut u = cfg(json!({"Entrypoint": ["/bin/true"]}));
        merge(
            &mut u,
            &json!({"Entrypoint": ["/init"], "Cmd": ["default"]}),
        )
        .expect("merge");
        assert_eq!(argv(&u), ["/bin/true"]);
        // An empty user entrypoint (`--entrypoint ""`) clears the image's.
        let mut u = cfg(json!({"Entrypoint": [""], "Cmd": ["ls"]}));
        merge(
            &mut u,
            &json!({"Entrypoint": ["/init"], "Cmd": ["default"]}),
        )
        .expect("merge");
        assert_eq!(argv(&u), ["ls"]);
    }
}
