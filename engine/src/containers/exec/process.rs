//! The OCI process of an exec.

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, Process, ProcessBuilder, UserBuilder,
};

use super::super::error::ContainerError;
use super::super::user;
use super::ExecRecord;

/// Every capability this process may pass on (its bounding set: a sandbox
/// may lack some), for `--privileged` (dockerd's `GetAllCapabilities`).
fn all_capabilities() -> std::collections::HashSet<Capability> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    // In capability-number order.
    [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]
    .iter()
    .enumerate()
    .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
    .filter_map(|(_, c)| serde_json::from_value(serde_json::Value::String((*c).to_owned())).ok())
    .collect()
}

/// The OCI process of an exec in a container whose root filesystem is
/// mounted at `rootfs`: its argv, env (+ `HOME` of its user), working
/// directory and user; capabilities and `noNewPrivileges` are the
/// container's (the shim fills them in) unless privileged.
pub fn exec_process(
    exec: &ExecRecord,
    rootfs: &std::path::Path,
) -> Result<Process, ContainerError> {
    let user = user::resolve(rootfs, &exec.user)?;
    let mut env = exec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let cwd = if exec.working_dir.is_empty() {
        "/".to_owned()
    } else {
        exec.working_dir.clone()
    };
    let mut u = UserBuilder::default().uid(user.uid).gid(user.gid);
    if !user.additional_gids.is_empty() {
        u = u.additional_gids(user.additional_gids);
    }
    let mut argv = vec![exec.entrypoint.clone()];
    argv.extend(exec.args.iter().cloned());
    let mut process = ProcessBuilder::default()
        .args(argv)
        .env(env)
        .cwd(cwd)
        .user(u.build()?)
        .terminal(exec.tty)
        .build()?;
    process.set_rlimits(None);
    process.set_console_size(None);
    process.set_no_new_privileges(None);
    process.set_capabilities(if exec.privileged {
        // dockerd's: bounding, effective and permitted; no inheritable or
        // ambient ones (the builder's defaults would add some).
        let all = all_capabilities();
        let mut caps = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all)
            .build()?;
        caps.set_inheritable(None);
        caps.set_ambient(None);
        Some(caps)
    } else {
        None
    });
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_execs_get_every_capability() {
        let bounding = std::fs::read_to_string("/proc/self/status")
            .expect("status")
            .lines()
            .find_map(|l| {
                l.strip_prefix("CapBnd:")
                    .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex"))
            })
            .expect("CapBnd");
        assert_eq!(
            all_capabilities().len() as u32,
            bounding.count_ones().min(41)
        );
    }
}
