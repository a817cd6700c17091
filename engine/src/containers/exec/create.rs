//! `POST /containers/{id}/exec`: register an exec instance.

use super::super::ContainerService;
use super::super::error::ContainerError;
use super::super::rootfs::Rootfs;
use super::super::user;
use super::{
    DEFAULT_DETACH_KEYS, ExecOptions, ExecRecord, check_running, new_id, parse_detach_keys,
    replace_or_append_env,
};

impl ContainerService {
    /// `POST /containers/{id}/exec`: register an exec in a running container
    /// (publishes `exec_create`); returns its id.
    pub fn create_exec(&self, what: &str, opts: ExecOptions) -> Result<String, ContainerError> {
        let record = self.resolve(what)?;
        check_running(&record, what)?;
        if opts.cmd.is_empty() {
            return Err(ContainerError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        let rootfs = Rootfs::new(&self.store.dir(&record.id)).target;
        if !opts.user.is_empty() {
            // dockerd looks the user up at create, for an early error.
            user::resolve(&rootfs, &opts.user)
                .map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
        }
        if !opts.working_dir.is_empty() && !opts.working_dir.starts_with('/') {
            return Err(ContainerError::InvalidArgument(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                opts.working_dir
            )));
        }
        let detach_bytes = if opts.detach_keys.is_empty() {
            DEFAULT_DETACH_KEYS.to_vec()
        } else {
            parse_detach_keys(&opts.detach_keys).map_err(ContainerError::InvalidArgument)?
        };
        let hostname = record
            .config
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| record.short_id().to_owned());
        // dockerd's CreateDaemonEnvironment, then the container's and the
        // exec's variables.
        let mut env = vec![
            skiff_shim::bundle::DEFAULT_PATH.to_owned(),
            format!("HOSTNAME={hostname}"),
        ];
        if opts.tty {
            env.push("TERM=xterm".into());
        }
        replace_or_append_env(&mut env, record.config.env.as_deref().unwrap_or_default());
        replace_or_append_env(&mut env, &opts.env);
        let id = new_id();
        let exec = ExecRecord {
            id: id.clone(),
            container_id: record.id.clone(),
            entrypoint: opts.cmd[0].clone(),
            args: opts.cmd[1..].to_vec(),
            tty: opts.tty,
            privileged: opts.privileged,
            user: if opts.user.is_empty() {
                record.config.user.clone().unwrap_or_default()
            } else {
                opts.user
            },
            working_dir: if opts.working_dir.is_empty() {
                record.config.working_dir.clone().unwrap_or_default()
            } else {
                opts.working_dir
            },
            env,
            open_stdin: opts.attach_stdin,
            open_stdout: opts.attach_stdout,
            open_stderr: opts.attach_stderr,
            detach_keys: opts.detach_keys,
            detach_bytes,
            console_size: opts.console_size,
            started: false,
            running: false,
            exit_code: None,
            pid: 0,
            finished: None,
        };
        let action = format!("exec_create: {}", exec.command_line());
        self.with_execs(|execs| execs.insert(id.clone(), exec));
        self.record_event(&action, &record, &[("execID", &id)]);
        Ok(id)
    }
}
