//! `docker exec`: exec instances — processes started in a running container
//! through its shim.
//!
//! An exec is created (`POST /containers/{id}/exec`: the command, env, user,
//! working directory and streams are fixed then, as dockerd fixes them), then
//! started once (`POST /exec/{id}/start`), attached or detached. Its record
//! lives in memory until its container is removed (or, like dockerd's exec
//! GC, ten minutes after it exited): `GET /exec/{id}/json` reads it. An
//! attached exec's exit code is recorded from the exit frame of its shim
//! stream before the client's stream is closed, so the CLI's inspect right
//! after the stream ends sees it; a detached (or abandoned) exec is waited for
//! by a task.
//!
//! One operation per file: [`create`] (`create_exec`), [`start`]
//! (`start_exec`), [`wait`] (the exit of an exec, attached or not),
//! [`resize`]; [`process`] builds the OCI process of an exec.

mod create;
mod process;
mod resize;
mod start;
mod wait;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};
use skiff_shim::client::AttachStream;

use super::ContainerService;
use super::error::ContainerError;
use super::record::{ContainerRecord, Status};
use crate::errdefs::ErrorKind;

pub use process::exec_process;
pub use start::exec_failure;

/// Exited execs older than this are forgotten (dockerd's exec GC runs every
/// 5 minutes and drops an exec on the second pass after it ended).
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Exited execs older than this report `CanRemove` (the first GC pass).
const REMOVABLE_AFTER: Duration = Duration::from_secs(300);
/// docker's default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

/// Errors of the exec operations.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No exec instance by that id.
    #[error("No such exec instance: {0}")]
    NotFound(String),
    /// A container error (unknown or stopped container, bad user, …).
    #[error(transparent)]
    Container(#[from] ContainerError),
}

impl ExecError {
    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Container(e) => e.kind(),
        }
    }
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// docker's `strslice`: a string or an array of strings.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// The body of `POST /containers/{id}/exec` (docker's `ExecOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecOptions {
    /// Attach the exec's stdin (it then gets a stdin pipe).
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdin: bool,
    /// Attach its stdout.
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdout: bool,
    /// Attach its stderr.
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stderr: bool,
    /// The detach sequence (`ctrl-p,ctrl-q` when empty); used with a tty.
    #[serde(default, deserialize_with = "null_default")]
    pub detach_keys: String,
    /// Give it a pty.
    #[serde(default, deserialize_with = "null_default")]
    pub tty: bool,
    /// `KEY=value` added to (or, `KEY` alone, removed from) the container's.
    #[serde(default, deserialize_with = "null_default")]
    pub env: Vec<String>,
    /// The command.
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Vec<String>,
    /// All capabilities.
    #[serde(default, deserialize_with = "null_default")]
    pub privileged: bool,
    /// `user[:group]`; the container's user when empty.
    #[serde(default, deserialize_with = "null_default")]
    pub user: String,
    /// The working directory; the container's when empty.
    #[serde(default, deserialize_with = "null_default")]
    pub working_dir: String,
    /// The initial pty size, `[height, width]`.
    #[serde(default)]
    pub console_size: Option<[u32; 2]>,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartOptions {
    /// Run in the background; the request answers 200 at once.
    #[serde(default, deserialize_with = "null_default")]
    pub detach: bool,
    /// Whether the client's stream is raw (tty) or multiplexed; the process's
    /// tty was decided at create.
    #[serde(default, deserialize_with = "null_default")]
    pub tty: bool,
    /// The initial pty size, `[height, width]` (overrides create's).
    #[serde(default)]
    pub console_size: Option<[u32; 2]>,
}

/// One exec instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRecord {
    /// 64 hex characters.
    pub id: String,
    /// Its container's id.
    pub container_id: String,
    /// `Cmd[0]`.
    pub entrypoint: String,
    /// `Cmd[1..]`.
    pub args: Vec<String>,
    /// Whether it has a pty.
    pub tty: bool,
    /// Whether it gets every capability.
    pub privileged: bool,
    /// The user (the container's when the exec named none).
    pub user: String,
    /// The working directory (the container's when the exec named none).
    pub working_dir: String,
    /// The whole environment: docker's defaults, the container's, the exec's.
    pub env: Vec<String>,
    /// `AttachStdin`.
    pub open_stdin: bool,
    /// `AttachStdout`.
    pub open_stdout: bool,
    /// `AttachStderr`.
    pub open_stderr: bool,
    /// The detach keys as given.
    pub detach_keys: String,
    /// The detach sequence as bytes (docker's default when none was given).
    pub detach_bytes: Vec<u8>,
    /// The pty size asked for at create.
    pub console_size: Option<[u32; 2]>,
    /// Started (a start was accepted; a second one is refused).
    pub started: bool,
    /// Its process runs.
    pub running: bool,
    /// Its exit code, once it ended (or failed to start).
    pub exit_code: Option<i64>,
    /// Host pid (0 until started).
    pub pid: i64,
    /// When it ended.
    pub finished: Option<Instant>,
}

impl ExecRecord {
    /// `Cmd` joined as docker's events and `ProcessConfig` show it.
    pub fn command_line(&self) -> String {
        format!("{} {}", self.entrypoint, self.args.join(" "))
    }

    /// dockerd's `CanRemove`: ended long enough ago for its GC.
    pub fn can_remove(&self) -> bool {
        self.finished
            .is_some_and(|t| t.elapsed() >= REMOVABLE_AFTER)
    }
}

/// What a start did.
#[derive(Debug)]
pub enum ExecStarted {
    /// Detached: it runs in the background.
    Detached,
    /// Attached: the shim stream of its stdio; it ends with the exit frame.
    Attached(AttachStream),
    /// The process could not be started: docker's message (written to the
    /// client's stream); the exit code (126/127) is recorded.
    Failed(String),
}

fn new_id() -> String {
    let raw: [u8; 32] = rand::random();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// docker's `ReplaceOrAppendEnvValues`: `K=v` replaces or appends, a bare
/// `K` removes.
pub fn replace_or_append_env(defaults: &mut Vec<String>, overrides: &[String]) {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_owned();
    for value in overrides {
        let k = key(value);
        let pos = defaults.iter().position(|d| key(d) == k);
        match (value.contains('='), pos) {
            (true, Some(i)) => defaults[i] = value.clone(),
            (true, None) => defaults.push(value.clone()),
            (false, Some(i)) => {
                defaults.remove(i);
            }
            (false, None) => {}
        }
    }
}

/// docker's `term.ToBytes`: `a,ctrl-p,ctrl-[` → bytes.
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, String> {
    const CTRL: &str = "@abcdefghijklmnopqrstuvwxyz[\\]^_";
    let mut out = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else if key == "DEL" {
            out.push(127);
        } else if let Some(code) = key
            .strip_prefix("ctrl-")
            .filter(|c| c.len() == 1)
            .and_then(|c| CTRL.find(c))
        {
            out.push(code as u8);
        } else {
            return Err(format!("Invalid escape keys ({keys}) provided"));
        }
    }
    Ok(out)
}

/// A container that can take an exec, or docker's reason why not.
fn check_running(record: &ContainerRecord, what: &str) -> Result<(), ContainerError> {
    match record.state.status {
        Status::Running => Ok(()),
        Status::Paused => Err(ContainerError::Conflict(format!(
            "Container {what} is paused, unpause the container before exec"
        ))),
        Status::Restarting => Err(ContainerError::Conflict(format!(
            "Container {} is restarting, wait until the container is running",
            record.id
        ))),
        _ => Err(ContainerError::Conflict(format!(
            "Container {} is not running",
            record.id
        ))),
    }
}

fn join_error(e: tokio::task::JoinError) -> ContainerError {
    ContainerError::Task(e)
}

/// The exec records of one container service: `ContainerService::execs`.
pub(in crate::containers) type ExecTable = std::sync::Mutex<HashMap<String, ExecRecord>>;

impl ContainerService {
    /// The exec records, after forgetting long-finished ones (those of a
    /// removed container are dropped with it: see `remove`).
    fn with_execs<T>(&self, f: impl FnOnce(&mut HashMap<String, ExecRecord>) -> T) -> T {
        let mut execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        execs.retain(|_, e| e.finished.is_none_or(|t| t.elapsed() < FORGET_AFTER));
        crate::memory::shrink_sparse(&mut execs);
        f(&mut execs)
    }

    /// Forget the execs of container `id` (it is being removed).
    pub(in crate::containers) fn forget_execs(&self, id: &str) {
        let mut execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        execs.retain(|_, e| e.container_id != id);
        crate::memory::shrink_sparse(&mut execs);
    }

    /// Forget exec `id` at once (a health probe's, once its result is
    /// taken: probes would otherwise pile up until the exec GC).
    pub(in crate::containers) fn forget_exec(&self, id: &str) {
        let mut execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        execs.remove(id);
        crate::memory::shrink_sparse(&mut execs);
    }

    /// `GET /exec/{id}/json`: an exec's record.
    pub fn inspect_exec(&self, id: &str) -> Result<ExecRecord, ExecError> {
        self.with_execs(|execs| execs.get(id).cloned())
            .ok_or_else(|| ExecError::NotFound(id.to_owned()))
    }

    /// An exec and its container, which must be running (dockerd's
    /// `getExecConfig`).
    fn live_exec(&self, id: &str) -> Result<(ExecRecord, ContainerRecord), ExecError> {
        let exec = self.inspect_exec(id)?;
        let record = self
            .store
            .get(&exec.container_id)
            .ok_or_else(|| ExecError::NotFound(id.to_owned()))?;
        check_running(&record, &record.id)?;
        Ok((exec, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_replaced_appended_and_removed_like_docker() {
        let mut env = vec![
            "PATH=/bin".to_owned(),
            "HOSTNAME=x".to_owned(),
            "A=1".to_owned(),
        ];
        replace_or_append_env(
            &mut env,
            &["A=2".into(), "B=3".into(), "HOSTNAME".into(), "NOPE".into()],
        );
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").expect("default"),
            [16, 17]
        );
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_,DEL").expect("mixed"),
            [b'a', 0, 31, 127]
        );
        assert_eq!(
            parse_detach_keys("ctrl-").expect_err("bad"),
            "Invalid escape keys (ctrl-) provided"
        );
    }

    #[test]
    fn exec_options_accept_dockers_shapes() {
        let o: ExecOptions = serde_json::from_str(
            r#"{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[24,80],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh","-c","x"]}"#,
        )
        .expect("cli body");
        assert_eq!(
            (o.tty, o.console_size, o.cmd.len(), o.env.len()),
            (true, Some([24, 80]), 3, 0)
        );
        let o: ExecOptions = serde_json::from_str(r#"{"Cmd":"true"}"#).expect("string cmd");
        assert_eq!(o.cmd, ["true"]);
    }
}
