//! Host options `docker create` refuses before anything is recorded, in
//! dockerd's words where dockerd refuses them too (what skiffd does not
//! apply at all is refused by [`super::unsupported`]), and the defaults
//! dockerd fills in.

use bollard_stubs::models::{HostConfig, RestartPolicyNameEnum};

use super::error::ContainerError;

/// The log drivers dockerd ships; skiffd writes json-file only.
const DOCKER_LOG_DRIVERS: &[&str] = &[
    "none",
    "local",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];

/// The one runtime skiffd has, under the name dockerd gives its default.
pub const RUNTIME: &str = "runc";

/// Refuse what `host` asks that dockerd refuses, or that skiffd would
/// otherwise ignore: `AutoRemove` with a restart policy, a log driver other
/// than json-file, a runtime other than [`RUNTIME`]. (Options skiffd does
/// not apply at all are refused by [`super::unsupported`].)
pub fn host_config(host: &HostConfig) -> Result<(), ContainerError> {
    let invalid = |m: String| Err(ContainerError::InvalidArgument(m));
    let restarts = host
        .restart_policy
        .as_ref()
        .and_then(|p| p.name)
        .is_some_and(|n| !matches!(n, RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO));
    if host.auto_remove == Some(true) && restarts {
        return invalid("can't create 'AutoRemove' container with restart policy".into());
    }
    if let Some(policy) = &host.restart_policy {
        if policy.maximum_retry_count.is_some_and(|n| n < 0) {
            return invalid("maximum retry count cannot be negative".into());
        }
    }
    match host.log_config.as_ref().and_then(|l| l.typ.as_deref()) {
        None | Some("" | "json-file") => {}
        Some(known) if DOCKER_LOG_DRIVERS.contains(&known) => {
            return invalid(format!(
                "log driver {known:?} is not supported by this engine: only json-file is"
            ));
        }
        Some(other) => {
            return invalid(format!(
                "error looking up logging plugin {other}: plugin {other:?} not found"
            ));
        }
    }
    match host.runtime.as_deref() {
        None | Some("") | Some(RUNTIME) => {}
        Some(other) => return invalid(format!("Unknown runtime specified {other}")),
    }
    Ok(())
}

/// The size of `/dev/shm` when none is asked for (dockerd's).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// What dockerd fills in a host config at create (the docker CLI sends
/// empty values for what the user did not set): the json-file log driver,
/// a private IPC namespace, a 64 MiB `/dev/shm`, the [`RUNTIME`], and,
/// where the kernel accounts swap (`swap_limit`), as much swap again as a
/// memory limit without a swap limit (`MemorySwap` = 2 × `Memory`).
pub fn adapt(host: &mut HostConfig, swap_limit: bool) {
    let log = host.log_config.get_or_insert_with(Default::default);
    if log.typ.as_deref().is_none_or(str::is_empty) {
        log.typ = Some("json-file".into());
    }
    log.config.get_or_insert_with(Default::default);
    if host.ipc_mode.as_deref().is_none_or(str::is_empty) {
        host.ipc_mode = Some("private".into());
    }
    if host.shm_size.is_none_or(|s| s == 0) {
        host.shm_size = Some(DEFAULT_SHM_SIZE);
    }
    if host.runtime.as_deref().is_none_or(str::is_empty) {
        host.runtime = Some(RUNTIME.into());
    }
    if !swap_limit {
        return;
    }
    if let Some(memory) = host.memory.filter(|m| *m > 0) {
        if host.memory_swap.unwrap_or(0) == 0 {
            host.memory_swap = Some(memory.saturating_mul(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{HostConfigLogConfig, RestartPolicy};

    fn refused(host: HostConfig) -> String {
        match host_config(&host) {
            Err(ContainerError::InvalidArgument(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn policy(name: RestartPolicyNameEnum) -> Option<RestartPolicy> {
        Some(RestartPolicy {
            name: Some(name),
            maximum_retry_count: None,
        })
    }

    fn log(driver: &str) -> Option<HostConfigLogConfig> {
        Some(HostConfigLogConfig {
            typ: Some(driver.into()),
            config: None,
        })
    }

    #[test]
    fn accepts_what_skiffd_honours() {
        for host in [
            HostConfig::default(),
            HostConfig {
                auto_remove: Some(true),
                restart_policy: policy(RestartPolicyNameEnum::NO),
                log_config: log("json-file"),
                runtime: Some("runc".into()),
                ..Default::default()
            },
            HostConfig {
                restart_policy: policy(RestartPolicyNameEnum::ALWAYS),
                log_config: log(""),
                ..Default::default()
            },
        ] {
            assert!(host_config(&host).is_ok(), "{host:?}");
        }
    }

    #[test]
    fn memory_without_swap_gets_as_much_swap_again() {
        let mut host = HostConfig {
            memory: Some(16 << 20),
            ..Default::default()
        };
        adapt(&mut host, false);
        assert_eq!(host.memory_swap, None, "no swap accounting");
        adapt(&mut host, true);
        assert_eq!(host.memory_swap, Some(32 << 20));
        let mut host = HostConfig {
            memory: Some(16 << 20),
            memory_swap: Some(-1),
            ..Default::default()
        };
        adapt(&mut host, true);
        assert_eq!(host.memory_swap, Some(-1), "unlimited stays");
        let mut host = HostConfig::default();
        adapt(&mut host, true);
        assert_eq!(host.memory_swap, None);
    }

    #[test]
    fn empty_values_get_dockerds_defaults() {
        let mut host = HostConfig {
            log_config: log(""),
            ipc_mode: Some(String::new()),
            runtime: Some(String::new()),
            shm_size: Some(0),
            ..Default::default()
        };
        adapt(&mut host, false);
        let log = host.log_config.expect("log config");
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        assert_eq!(log.config, Some(Default::default()));
        assert_eq!(host.ipc_mode.as_deref(), Some("private"));
        assert_eq!(host.runtime.as_deref(), Some("runc"));
        assert_eq!(host.shm_size, Some(64 << 20));
        let mut host = HostConfig {
            shm_size: Some(1 << 20),
            ..Default::default()
        };
        adapt(&mut host, false);
        assert_eq!(host.shm_size, Some(1 << 20), "an asked size stays");
    }

    #[test]
    fn refuses_like_dockerd() {
        assert_eq!(
            refused(HostConfig {
                auto_remove: Some(true),
                restart_policy: policy(RestartPolicyNameEnum::ALWAYS),
                ..Default::default()
            }),
            "can't create 'AutoRemove' container with restart policy"
        );
        assert_eq!(
            refused(HostConfig {
                log_config: log("nope"),
                ..Default::default()
            }),
            "error looking up logging plugin nope: plugin \"nope\" not found"
        );
        assert!(
            refused(HostConfig {
                log_config: log("syslog"),
                ..Default::default()
            })
            .contains("\"syslog\" is not supported")
        );
        assert_eq!(
            refused(HostConfig {
                runtime: Some("kata".into()),
                ..Default::default()
            }),
            "Unknown runtime specified kata"
        );
        assert_eq!(
            refused(HostConfig {
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: Some(-1),
                }),
                ..Default::default()
            }),
            "maximum retry count cannot be negative"
        );
    }
}
