//! What `docker create` asks for that skiffd does not honour, refused by
//! name instead of accepted and ignored.
//!
//! Contract: [`check`] fails for a create request that sets any field of
//! the tables below to something other than its "unset" value (`null`,
//! `false`, `0`, `""`, `[]`, `{}`, or a value the table lists as meaning
//! "the default"). The error names the docker CLI flag and the API field,
//! so a user sees at once what skiffd cannot do rather than finding out
//! later that their container runs without it. A field leaves these tables
//! in the commit that makes skiffd honour it.

use bollard_stubs::models::{ContainerConfig, HostConfig};
use serde_json::Value;

use super::error::ContainerError;

/// One field skiffd does not honour: its JSON name in the API, the CLI flag
/// users know it by, and values that mean "unset" besides the zero values.
struct Field {
    key: &'static str,
    flag: &'static str,
    unset: &'static [&'static str],
}

const fn field(key: &'static str, flag: &'static str) -> Field {
    Field {
        key,
        flag,
        unset: &[],
    }
}

/// `HostConfig` fields skiffd does not honour yet.
const HOST_CONFIG: &[Field] = &[
    Field {
        key: "IpcMode",
        flag: "--ipc",
        unset: &["private", "shareable"],
    },
    Field {
        key: "PidMode",
        flag: "--pid",
        unset: &["host"],
    },
    field("UTSMode", "--uts"),
    Field {
        key: "UsernsMode",
        flag: "--userns",
        // skiffd runs no user namespace: "host" is what it does.
        unset: &["host"],
    },
    field("OomScoreAdj", "--oom-score-adj"),
    field("OomKillDisable", "--oom-kill-disable"),
    Field {
        key: "ShmSize",
        flag: "--shm-size",
        // dockerd's default, which create fills in (so an inspect's host
        // config can be sent back).
        unset: &["67108864"],
    },
    field("Cgroup", "--cgroup"),
    Field {
        key: "Isolation",
        flag: "--isolation",
        unset: &["default"],
    },
    field("BlkioWeightDevice", "--blkio-weight-device"),
    field("BlkioDeviceReadBps", "--device-read-bps"),
    field("BlkioDeviceWriteBps", "--device-write-bps"),
    field("BlkioDeviceReadIOps", "--device-read-iops"),
    field("BlkioDeviceWriteIOps", "--device-write-iops"),
    field("CpuRealtimePeriod", "--cpu-rt-period"),
    field("CpuRealtimeRuntime", "--cpu-rt-runtime"),
    field("CpuCount", "--cpu-count"),
    field("CpuPercent", "--cpu-percent"),
    field("Devices", "--device"),
    field("DeviceCgroupRules", "--device-cgroup-rule"),
    field("DeviceRequests", "--gpus"),
    Field {
        key: "MemorySwappiness",
        flag: "--memory-swappiness",
        unset: &["-1"],
    },
    field("KernelMemory", "--kernel-memory"),
    field("KernelMemoryTCP", "--kernel-memory-tcp"),
    field("Ulimits", "--ulimit"),
    field("IOMaximumIOps", "--io-maxiops"),
    field("IOMaximumBandwidth", "--io-maxbandwidth"),
    field("Sysctls", "--sysctl"),
    field("StorageOpt", "--storage-opt"),
    field("MaskedPaths", "MaskedPaths"),
    field("ReadonlyPaths", "ReadonlyPaths"),
    field("Annotations", "--annotation"),
];

/// `Config` fields skiffd does not honour yet.
const CONFIG: &[Field] = &[];

/// Whether `v` is an unset value for `f`.
fn is_unset(v: &Value, f: &Field) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0) || f.unset.iter().any(|u| n.to_string() == *u),
        Value::String(s) => s.is_empty() || f.unset.contains(&s.as_str()),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The fields of `fields` that `v` (a serialised config) sets.
fn set_in(v: &Value, fields: &'static [Field], section: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|f| v.get(f.key).is_some_and(|x| !is_unset(x, f)))
        .map(|f| format!("{} ({section}.{})", f.flag, f.key))
        .collect()
}

/// Refuses a create that sets anything skiffd does not honour (see the
/// module docs), naming every such field.
pub fn check(config: &ContainerConfig, host: &HostConfig) -> Result<(), ContainerError> {
    let host = serde_json::to_value(host).unwrap_or(Value::Null);
    let config = serde_json::to_value(config).unwrap_or(Value::Null);
    let mut set = set_in(&host, HOST_CONFIG, "HostConfig");
    set.extend(set_in(&config, CONFIG, "Config"));
    if set.is_empty() {
        return Ok(());
    }
    Err(ContainerError::InvalidArgument(format!(
        "skiffd does not support {} yet",
        set.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: Value) -> HostConfig {
        serde_json::from_value(v).expect("host config")
    }

    fn config(v: Value) -> ContainerConfig {
        serde_json::from_value(v).expect("config")
    }

    /// What docker CLI 28 sends for `docker run busybox true`.
    fn cli_defaults() -> (ContainerConfig, HostConfig) {
        let h: Value = serde_json::from_str(
            r#"{
            "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
            "NetworkMode": "default", "PortBindings": {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": false,
            "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "CapAdd": null,
            "CapDrop": null, "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
            "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null,
            "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
            "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "",
            "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
            "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
            "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
            "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null,
            "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
            "MemorySwappiness": -1, "OomKillDisable": false, "PidsLimit": 0, "Ulimits": [],
            "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "MaskedPaths": null, "ReadonlyPaths": null
        }"#,
        )
        .expect("json");
        let c = serde_json::json!({
            "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
            "AttachStdout": true, "AttachStderr": true, "Tty": false, "OpenStdin": false,
            "StdinOnce": false, "Env": null, "Cmd": ["true"], "Image": "busybox",
            "Volumes": {}, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
            "Labels": {}
        });
        (config(c), host(h))
    }

    #[test]
    fn the_clis_defaults_pass() {
        let (c, h) = cli_defaults();
        check(&c, &h).expect("defaults");
        check(&ContainerConfig::default(), &HostConfig::default()).expect("empty");
    }

    #[test]
    fn each_unhonoured_field_is_named() {
        let (c, _) = cli_defaults();
        let cases = [
            (
                serde_json::json!({"MemorySwappiness": 10}),
                "--memory-swappiness",
            ),
            (
                serde_json::json!({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}]}),
                "--ulimit",
            ),
            (serde_json::json!({"IpcMode": "host"}), "--ipc"),
            (serde_json::json!({"ShmSize": 1024}), "--shm-size"),
        ];
        for (h, flag) in cases {
            let err = check(&c, &host(h)).expect_err(flag).to_string();
            assert!(err.contains(flag), "{err}");
            assert!(err.contains("skiffd does not support"), "{err}");
        }
        // Values that mean what skiffd does are fine (networks and
        // published ports are the network service's).
        for h in [
            serde_json::json!({"NetworkMode": "host"}),
            serde_json::json!({"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}),
            serde_json::json!({"NetworkMode": "none"}),
            serde_json::json!({"IpcMode": "private"}),
            serde_json::json!({"UsernsMode": "host"}),
            serde_json::json!({"PidMode": "host", "ShmSize": 67108864}),
        ] {
            check(&c, &host(h.clone())).unwrap_or_else(|e| panic!("{h}: {e}"));
        }
    }

    #[test]
    fn dns_flags_and_links_pass() {
        let c = config(serde_json::json!({"Domainname": "x"}));
        check(
            &c,
            &host(serde_json::json!({"Dns": ["10.0.0.1"], "DnsSearch": ["a"],
                "DnsOptions": ["ndots:2"], "ExtraHosts": ["a:1.2.3.4"], "Links": ["a:b"]})),
        )
        .expect("honoured");
    }
}
