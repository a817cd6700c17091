//! dockerd's zero values: the keys dockerd always writes in container and
//! image inspect (Go structs without `omitempty`), with the value it writes
//! when nothing set them.
//!
//! The typed models skiffd renders with (`bollard-stubs`) leave out every
//! unset field; clients read keys such as `HostConfig.LogConfig.Type` or
//! `Config.Tty` after every run and fail on a missing one. [`fill`] adds
//! what is missing, at every depth, without touching what is there: the
//! record's own values always win.

use serde_json::{Value, json};

/// Adds to `value` every key of `zero` it lacks, recursively: where both
/// hold an object, the objects are merged key by key; anything else that
/// `value` already holds (even `null`) stays.
pub fn fill(value: &mut Value, zero: &Value) {
    let (Value::Object(have), Value::Object(want)) = (value, zero) else {
        return;
    };
    for (key, zero) in want {
        match have.get_mut(key) {
            Some(v) => fill(v, zero),
            None => {
                have.insert(key.clone(), zero.clone());
            }
        }
    }
}

/// The `Config` keys dockerd always writes (container and image inspect,
/// an image's `ContainerConfig`): `container.Config` without `omitempty`.
pub fn config() -> Value {
    json!({
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": null,
        "Cmd": null,
        "Image": "",
        "Volumes": null,
        "WorkingDir": "",
        "Entrypoint": null,
        "OnBuild": null,
        "Labels": null,
    })
}

/// The `HostConfig` of a container created with none: dockerd's defaults
/// (`LogConfig` json-file, `NetworkMode` default, `IpcMode` private, a
/// 64 MiB `/dev/shm`, the runc runtime) and zero values for the rest.
/// `MaskedPaths` and `ReadonlyPaths` are filled by the caller (they
/// depend on `Privileged`).
pub fn host_config() -> Value {
    let mut host = json!({
        "Binds": null,
        "ContainerIDFile": "",
        "LogConfig": { "Type": "json-file", "Config": {} },
        "NetworkMode": "default",
        "PortBindings": null,
        "RestartPolicy": { "Name": "", "MaximumRetryCount": 0 },
        "AutoRemove": false,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "CapAdd": null,
        "CapDrop": null,
        "CgroupnsMode": "",
        "Dns": null,
        "DnsOptions": null,
        "DnsSearch": null,
        "ExtraHosts": null,
        "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": false,
        "PublishAllPorts": false,
        "ReadonlyRootfs": false,
        "SecurityOpt": null,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67_108_864,
    });
    // Two halves: one `json!` this long exceeds the macro recursion limit.
    fill(&mut host, &resources());
    host
}

/// The resource keys of [`host_config`], all zero.
fn resources() -> Value {
    json!({
        "Runtime": "runc",
        "ConsoleSize": [0, 0],
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null,
        "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null,
        "BlkioDeviceWriteIOps": null,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": null,
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": null,
        "OomKillDisable": false,
        "PidsLimit": null,
        "Ulimits": null,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    })
}

/// The top-level keys of container inspect dockerd always writes that
/// skiffd has no value of its own for (no SELinux or AppArmor labels).
pub fn container() -> Value {
    json!({
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config(),
        "Config": config(),
    })
}

/// The keys of image inspect dockerd always writes, for `version` (the
/// API version asked for; `None`: the newest): `Parent` and
/// `DockerVersion`, and before API 1.45 `Container` and `ContainerConfig`
/// (removed then, as `VirtualSize` was in 1.44).
pub fn image(version: Option<&str>) -> Value {
    let mut zero = json!({
        "Parent": "",
        "DockerVersion": "",
        "Config": config(),
    });
    if version_below(version, 45) {
        zero["Container"] = json!("");
        zero["ContainerConfig"] = config();
    }
    zero
}

/// Whether the API version `version` (`1.NN`; `None`: the newest) is
/// older than `1.minor`.
pub fn version_below(version: Option<&str>, minor: u32) -> bool {
    version
        .and_then(|v| v.strip_prefix("1."))
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m < minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_adds_missing_keys_at_every_depth_and_keeps_values() {
        let mut v = json!({
            "HostConfig": { "CgroupnsMode": "host", "LogConfig": { "Type": "local" } },
            "ExecIDs": ["x"],
            "Config": null,
        });
        fill(&mut v, &container());
        assert_eq!(v["HostConfig"]["CgroupnsMode"], "host");
        assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "local");
        assert_eq!(v["HostConfig"]["LogConfig"]["Config"], json!({}));
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "");
        assert_eq!(v["HostConfig"]["Runtime"], "runc");
        assert_eq!(v["ExecIDs"], json!(["x"]));
        assert_eq!(v["Config"], Value::Null, "a value that is there stays");
        assert_eq!(v["AppArmorProfile"], "");
    }

    #[test]
    fn image_keys_follow_the_api_version() {
        assert!(image(Some("1.41")).get("ContainerConfig").is_some());
        assert!(image(Some("1.44")).get("Container").is_some());
        assert!(image(Some("1.45")).get("ContainerConfig").is_none());
        assert!(image(None).get("Container").is_none());
        assert_eq!(image(None)["Config"]["Tty"], false);
        assert!(version_below(Some("1.43"), 44));
        assert!(!version_below(Some("1.44"), 44));
        assert!(!version_below(None, 44));
    }
}
