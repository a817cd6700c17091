//! The OCI process of an exec.

use std::collections::HashSet;

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, Process, ProcessBuilder, UserBuilder,
};

use super::super::error::ContainerError;
use super::super::user;
use super::ExecRecord;

/// Every capability this process may pass on, for `--privileged`.
fn all_capabilities() -> HashSet<Capability> {
    skiff_shim::bundle::all_capabilities().into_iter().collect()
}

/// The OCI process of an exec in a container whose root filesystem is
/// mounted at `rootfs`: its argv, env (+ `HOME` of its user), working
/// directory and user, whose supplementary groups include the
/// container's `HostConfig.GroupAdd` (`group_add`) as its main process's
/// do (dockerd: `getUser` adds them); capabilities and `noNewPrivileges`
/// are the container's (the shim fills them in) unless privileged.
pub fn exec_process(
    exec: &ExecRecord,
    rootfs: &std::path::Path,
    group_add: &[String],
) -> Result<Process, ContainerError> {
    let mut user = user::resolve(rootfs, &exec.user)?;
    user::group_add(rootfs, group_add, user.gid, &mut user.additional_gids)?;
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
