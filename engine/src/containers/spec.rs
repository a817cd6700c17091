//! A container record → the OCI bundle its shim runs: docker's defaults from
//! `skiff_shim::bundle`, plus the record's process, user, limits and mounts.

use std::path::Path;

use skiff_shim::bundle::{BundleConfig, bind_mount};

use super::error::ContainerError;
use super::record::ContainerRecord;
use super::user;

/// CFS period docker uses for `--cpus`.
const CPU_PERIOD: u64 = 100_000;

fn runtime(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Runtime(e.to_string())
}

/// Write `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for the
/// container into its directory.
pub fn write_etc_files(dir: &Path, hostname: &str) -> Result<(), ContainerError> {
    let io = |e: std::io::Error| ContainerError::Runtime(format!("writing {}: {e}", dir.display()));
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
) -> Result<BundleConfig, ContainerError> {
    let c = &record.config;
    let h = &record.host_config;
    let user = user::resolve(rootfs, c.user.as_deref().unwrap_or_default())?;
    let mut args = vec![record.path.clone()];
    args.extend(record.args.iter().cloned());
    let mut b = BundleConfig::new(record.id.clone(), rootfs.to_owned(), args);
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
            .map_err(|e| runtime(format!("creating working directory {cwd}: {e}")))?;
        let _ = nix::unistd::chown(&in_root, Some(user.uid.into()), Some(user.gid.into()));
    }
    b.cwd = cwd;
    b.uid = user.uid;
    b.gid = user.gid;
    b.additional_gids = user.additional_gids;
    b.hostname = Some(hostname.clone());
    b.tty = c.tty.unwrap_or(false);
    b.memory_limit = h.memory.filter(|m| *m > 0);
    b.memory_swap = h.memory_swap.filter(|m| *m != 0);
    b.pids_limit = h.pids_limit.filter(|p| *p > 0);
    b.cpu_shares = h.cpu_shares.filter(|s| *s > 0).map(|s| s as u64);
    if let Some(nano) = h.nano_cpus.filter(|n| *n > 0) {
        b.cpu_period = Some(CPU_PERIOD);
        b.cpu_quota = Some(nano * CPU_PERIOD as i64 / 1_000_000_000);
    }
    b.cgroups_path = Some(format!("/skiff/{}", record.id));
    write_etc_files(dir, &hostname)?;
    for (name, dest) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        b.mounts
            .push(bind_mount(dir.join(name), dest, false).map_err(runtime)?);
    }
    for bind in h.binds.iter().flatten() {
        let mut parts = bind.split(':');
        let (Some(src), Some(dst)) = (parts.next(), parts.next()) else {
            return Err(ContainerError::InvalidArgument(format!(
                "invalid volume specification: '{bind}'"
            )));
        };
        if !src.starts_with('/') {
            return Err(ContainerError::InvalidArgument(format!(
                "invalid volume specification: '{bind}': named volumes are not supported yet"
            )));
        }
        let readonly = parts
            .next()
            .is_some_and(|o| o.split(',').any(|x| x == "ro"));
        if !Path::new(src).exists() {
            std::fs::create_dir_all(src)
                .map_err(|e| runtime(format!("creating bind source {src}: {e}")))?;
        }
        b.mounts
            .push(bind_mount(src, dst, readonly).map_err(runtime)?);
    }
    for (dest, opts) in h.tmpfs.iter().flatten() {
        let mut options = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
        options.extend(opts.split(',').filter(|o| !o.is_empty()).map(str::to_owned));
        let m = oci_spec::runtime::MountBuilder::default()
            .destination(dest)
            .typ("tmpfs")
            .source("tmpfs")
            .options(options)
            .build()
            .map_err(runtime)?;
        b.mounts.push(m);
    }
    Ok(b)
}
