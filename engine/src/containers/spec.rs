//! A container record → the OCI bundle its shim runs: docker's defaults from
//! `skiff_shim::bundle`, plus the record's process, user, limits, mounts,
//! capabilities (`--cap-add`, `--cap-drop`, `--privileged`), security
//! options (`--security-opt seccomp=…`, `no-new-privileges`) and `--init`.

use std::path::{Path, PathBuf};

use bollard_stubs::models::{HostConfig, HostConfigCgroupnsModeEnum};
use oci_spec::runtime::Capability;
use skiff_shim::bundle::{
    BundleConfig, DEFAULT_CAPABILITIES, all_capabilities, bind_mount, host_devices,
    parse_capability,
};
use skiff_shim::seccomp::Profile;

use super::error::ContainerError;
use super::record::ContainerRecord;
use super::user;

/// Where docker mounts its init in the container.
pub const INIT_IN_CONTAINER: &str = "/sbin/docker-init";

/// Where an init is looked for when `--init-path` is not given, after
/// `docker-init` next to skiffd and on `PATH`: static builds first, since a
/// dynamic one cannot run in an image without a C library.
const INIT_CANDIDATES: [&str; 3] = [
    "/usr/libexec/docker/docker-init",
    "/usr/bin/tini-static",
    "/usr/bin/tini",
];

/// The daemon's `--init` / `--init-path` (dockerd's flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitConfig {
    /// Run an init in containers whose `HostConfig.Init` is unset.
    pub default: bool,
    /// The init binary (`None`: look for one).
    pub path: Option<PathBuf>,
}

/// Whether a container with `host` runs under an init (`config`: the
/// service's).
pub fn wants_init(host: &HostConfig, config: &InitConfig) -> bool {
    host.init.unwrap_or(config.default)
}

/// The init binary: `--init-path`, else `docker-init` next to skiffd or on
/// `PATH`, else the first of [`INIT_CANDIDATES`] that exists.
pub fn init_binary(config: &InitConfig) -> Result<PathBuf, ContainerError> {
    if let Some(path) = &config.path {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(ContainerError::InvalidArgument(format!(
                "init binary {} (--init-path) not found",
                path.display()
            )))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("docker-init")));
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|dir| dir.join("docker-init"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .chain(INIT_CANDIDATES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ContainerError::InvalidArgument(format!(
                "--init: no init binary found (docker-init next to skiffd or on PATH, {}); install tini or set --init-path",
                INIT_CANDIDATES.join(", ")
            ))
        })
}

/// A container's security settings, from its host config.
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    /// Its capabilities.
    pub capabilities: Vec<Capability>,
    /// Its seccomp profile (`None`: unconfined).
    pub seccomp: Option<Profile>,
    /// `no_new_privs`.
    pub no_new_privileges: bool,
    /// `--privileged`.
    pub privileged: bool,
}

/// Normalise a `--cap-add` / `--cap-drop` entry as dockerd does: `ALL`, or
/// a known capability.
fn cap_entry(what: &str, name: &str) -> Result<Option<Capability>, ContainerError> {
    if name.eq_ignore_ascii_case("ALL") {
        return Ok(None);
    }
    parse_capability(name).map(Some).ok_or_else(|| {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        ContainerError::InvalidArgument(format!("invalid {what}: unknown capability: \"{full}\""))
    })
}

/// The capabilities of a container: docker's defaults tweaked by
/// `CapAdd` / `CapDrop` (`ALL` in either), or all of them when privileged
/// (dockerd's `TweakCapabilities`).
pub fn capabilities(host: &HostConfig) -> Result<Vec<Capability>, ContainerError> {
    let parse = |what: &str,
                 list: &Option<Vec<String>>|
     -> Result<(bool, Vec<Capability>), ContainerError> {
        let mut all = false;
        let mut caps = Vec::new();
        for name in list.iter().flatten() {
            match cap_entry(what, name)? {
                Some(c) => caps.push(c),
                None => all = true,
            }
        }
        Ok((all, caps))
    };
    let (add_all, add) = parse("CapAdd", &host.cap_add)?;
    let (drop_all, drop) = parse("CapDrop", &host.cap_drop)?;
    if host.privileged.unwrap_or(false) {
        return Ok(all_capabilities());
    }
    let mut caps: Vec<Capability> = if add_all {
        all_capabilities()
            .into_iter()
            .filter(|c| !drop.contains(c))
            .collect()
    } else if drop_all {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drop.contains(c))
            .collect()
    };
    if !add_all {
        for c in add {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

/// The security settings of a container (dockerd's `parseSecurityOpt` and
/// seccomp rules): errors are the user's.
pub fn security(host: &HostConfig) -> Result<Security, ContainerError> {
    let privileged = host.privileged.unwrap_or(false);
    let capabilities = capabilities(host)?;
    let mut seccomp_opt: Option<String> = None;
    let mut no_new_privileges = false;
    for opt in host.security_opt.iter().flatten() {
        if opt == "no-new-privileges" {
            no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let Some((key, value)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            return Err(ContainerError::InvalidArgument(format!(
                "invalid --security-opt 1: {opt:?}"
            )));
        };
        match key {
            // No SELinux or AppArmor here: accepted and without effect, as
            // dockerd does on a host without them.
            "label" | "apparmor" => {}
            "seccomp" => seccomp_opt = Some(value.to_owned()),
            "no-new-privileges" => {
                no_new_privileges = match value {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => {
                        return Err(ContainerError::InvalidArgument(format!(
                            "invalid --security-opt 2: {opt:?}"
                        )));
                    }
                }
            }
            _ => {
                return Err(ContainerError::InvalidArgument(format!(
                    "invalid --security-opt 2: {opt:?}"
                )));
            }
        }
    }
    let seccomp = match seccomp_opt.as_deref() {
        Some("unconfined") => None,
        Some("") | Some("builtin") | None if privileged => None,
        Some("") | Some("builtin") | None => Some(Profile::docker_default()),
        Some(json) => {
            let profile = Profile::from_json(json)
                .map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
            // Check it resolves now rather than at start.
            profile
                .resolve(&capabilities, &skiff_shim::seccomp::Target::host())
                .map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
            Some(profile)
        }
    };
    Ok(Security {
        capabilities,
        seccomp,
        no_new_privileges,
        privileged,
    })
}

/// Write `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for the
/// container into its directory.
pub fn write_etc_files(dir: &Path, hostname: &str) -> Result<(), ContainerError> {
    let io = |e| ContainerError::io(format!("writing {}", dir.display()), e);
    std::fs::write(dir.join("hostname"), format!("{hostname}\n")).map_err(io)?;
    std::fs::write(
        dir.join("hosts"),
        format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"),
    )
    .map_err(io)?;
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(dir.join("resolv.conf"), resolv).map_err(io)?;
    Ok(())
}

/// Build the bundle config of `record`, whose root filesystem is mounted at
/// `rootfs` (users are resolved in it; the working directory is created).
pub fn bundle(
    record: &ContainerRecord,
    dir: &Path,
    rootfs: &Path,
    init: &InitConfig,
) -> Result<BundleConfig, ContainerError> {
    let c = &record.config;
    let h = &record.host_config;
    let user = user::resolve(rootfs, c.user.as_deref().unwrap_or_default())?;
    let init = if wants_init(h, init) {
        Some(init_binary(init)?)
    } else {
        None
    };
    let mut args = Vec::new();
    if init.is_some() {
        args.extend([INIT_IN_CONTAINER.to_owned(), "--".to_owned()]);
    }
    args.push(record.path.clone());
    args.extend(record.args.iter().cloned());
    let mut b = BundleConfig::new(record.id.clone(), rootfs.to_owned(), args);
    let security = security(h)?;
    b.capabilities = security.capabilities;
    b.seccomp = security.seccomp;
    b.no_new_privileges = security.no_new_privileges;
    b.privileged = security.privileged;
    if security.privileged {
        b.devices = host_devices();
    }
    if let Some(init) = init {
        b.mounts.push(bind_mount(init, INIT_IN_CONTAINER, true)?);
    }
    let hostname = c
        .hostname
        .clone()
        .unwrap_or_else(|| record.short_id().to_owned());
    let mut env = c.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(0, format!("HOSTNAME={hostname}"));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    if c.tty.unwrap_or(false) && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    b.env = env;
    let cwd = c
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(ContainerError::InvalidArgument(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    // Docker creates a missing working directory.
    let in_root = rootfs.join(cwd.trim_start_matches('/'));
    if !in_root.exists() {
        std::fs::create_dir_all(&in_root)
            .map_err(|e| ContainerError::io(format!("creating working directory {cwd}"), e))?;
        let _ = nix::unistd::chown(&in_root, Some(user.uid.into()), Some(user.gid.into()));
    }
    b.cwd = cwd;
    b.uid = user.uid;
    b.gid = user.gid;
    b.additional_gids = user.additional_gids;
    user::group_add(
        rootfs,
        h.group_add.as_deref().unwrap_or_default(),
        user.gid,
        &mut b.additional_gids,
    )?;
    b.hostname = Some(hostname.clone());
    b.domainname = c.domainname.clone().filter(|d| !d.is_empty());
    b.tty = c.tty.unwrap_or(false);
    // The same limits `docker update` writes to a running container.
    let limits = super::update::CgroupLimits::of(h);
    b.memory_limit = limits.memory;
    b.memory_swap = limits.memory_swap;
    b.memory_reservation = limits.memory_reservation;
    b.pids_limit = limits.pids_limit.filter(|p| *p > 0);
    b.cpu_shares = limits.cpu_shares;
    b.cpu_period = limits.cpu_period;
    b.cpu_quota = limits.cpu_quota;
    b.cpuset_cpus = limits.cpuset_cpus;
    b.cpuset_mems = limits.cpuset_mems;
    // Like dockerd, a weight the host cannot apply is dropped.
    b.blkio_weight = limits
        .blkio_weight
        .filter(|_| super::update::cgroup::blkio_weight_supported())
        .and_then(|w| u16::try_from(w).ok());
    b.readonly_rootfs = h.readonly_rootfs.unwrap_or(false);
    b.host_pid = h.pid_mode.as_deref() == Some("host");
    b.cgroups_path = Some(format!("/{}", record.cgroup()));
    // Resolved at create; unset only in records older than the field,
    // which ran in the host's cgroup namespace (dockerd: empty = host).
    b.cgroup_ns = h.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::PRIVATE);
    write_etc_files(dir, &hostname)?;
    for (name, dest) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        b.mounts.push(bind_mount(dir.join(name), dest, false)?);
    }
    // Binds, volumes and tmpfs: `ContainerService::oci_mounts` (start).
    b.readonly_rootfs = h.readonly_rootfs.unwrap_or(false);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: serde_json::Value) -> HostConfig {
        serde_json::from_value(v).expect("host config")
    }

    #[test]
    fn capabilities_are_tweaked_like_dockerd() {
        let caps = |v| capabilities(&host(v)).expect("caps");
        assert_eq!(caps(serde_json::json!({})), DEFAULT_CAPABILITIES.to_vec());
        let c = caps(serde_json::json!({"CapAdd": ["net_admin"], "CapDrop": ["CAP_CHOWN"]}));
        assert!(c.contains(&Capability::NetAdmin) && !c.contains(&Capability::Chown));
        assert_eq!(c.len(), DEFAULT_CAPABILITIES.len());
        assert_eq!(
            caps(serde_json::json!({"CapDrop": ["ALL"], "CapAdd": ["KILL"]})),
            vec![Capability::Kill]
        );
        let all = caps(serde_json::json!({"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]}));
        assert!(!all.contains(&Capability::SysAdmin) && all.len() > DEFAULT_CAPABILITIES.len());
        assert_eq!(
            caps(serde_json::json!({"Privileged": true})),
            all_capabilities()
        );
        let err =
            capabilities(&host(serde_json::json!({"CapAdd": ["foo"]}))).expect_err("unknown cap");
        assert_eq!(
            err.to_string(),
            "invalid CapAdd: unknown capability: \"CAP_FOO\""
        );
    }

    #[test]
    fn security_options_follow_dockerd() {
        let sec = |opts: &[&str]| security(&host(serde_json::json!({"SecurityOpt": opts})));
        let s = sec(&[]).expect("default");
        assert!(s.seccomp.is_some() && !s.no_new_privileges && !s.privileged);
        assert!(
            sec(&["seccomp=unconfined"])
                .expect("unconfined")
                .seccomp
                .is_none()
        );
        assert!(
            sec(&["seccomp:unconfined"])
                .expect("old form")
                .seccomp
                .is_none()
        );
        assert!(sec(&["no-new-privileges"]).expect("nnp").no_new_privileges);
        assert!(
            sec(&["no-new-privileges=true"])
                .expect("nnp")
                .no_new_privileges
        );
        assert!(
            !sec(&["no-new-privileges=false"])
                .expect("nnp")
                .no_new_privileges
        );
        assert!(sec(&["label=disable", "apparmor=unconfined"]).is_ok());
        for bad in [
            "bogus",
            "bogus=1",
            "no-new-privileges=maybe",
            "seccomp={\"x\":1}",
        ] {
            assert!(sec(&[bad]).is_err(), "{bad}");
        }
        let custom = sec(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]).expect("custom");
        assert_eq!(
            custom.seccomp.map(|p| p.default_action),
            Some(oci_spec::runtime::LinuxSeccompAction::ScmpActAllow)
        );
        let privileged = security(&host(serde_json::json!({"Privileged": true}))).expect("p");
        assert!(privileged.privileged && privileged.seccomp.is_none());
    }
}
