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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, Process, ProcessBuilder, UserBuilder,
};
use serde::{Deserialize, Deserializer};
use skiff_shim::ExitStatus;
use skiff_shim::client::{AttachStream, ShimHandle};
use skiff_shim::protocol::{
    AttachRequest, ExecRequest, FRAME_HEADER, Frame, MAX_FRAME_LEN, check_frame_len,
    decode_frame_header,
};

use super::ContainerService;
use super::error::ContainerError;
use super::record::{ContainerRecord, Status};
use super::rootfs::Rootfs;
use super::user;
use crate::errdefs::ErrorKind;

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

/// Why a start failed: before the runtime ran, or in it.
enum StartFailure {
    Setup(String),
    Exec(String),
}

/// Exec records of one container service. (Kept beside the service, keyed
/// by its store, because the service struct has no field for them yet.)
#[derive(Debug, Default)]
struct ExecTable {
    execs: Mutex<HashMap<String, ExecRecord>>,
}

static TABLES: LazyLock<Mutex<HashMap<PathBuf, Arc<ExecTable>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

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

/// Word a failed exec as dockerd (with runc) does, `OCI runtime exec
/// failed: …`, with the exit code its `translateContainerdStartErr` gives:
/// 127 for a missing executable or directory, 126 otherwise. `shim` is the
/// shim's (libcontainer's) error.
pub fn exec_failure(entrypoint: &str, cwd: &str, shim: &str) -> (String, i64) {
    let lower = shim.to_ascii_lowercase();
    let prefix = "OCI runtime exec failed: exec failed: unable to start container process";
    if lower.contains("chdir") {
        (
            format!(
                "{prefix}: chdir to cwd (\"{cwd}\") set in config.json failed: no such file or directory: unknown"
            ),
            127,
        )
    } else if lower.contains("not found in $path")
        || (lower.contains("executable") && lower.contains("not found"))
    {
        (
            format!(
                "{prefix}: exec: \"{entrypoint}\": executable file not found in $PATH: unknown"
            ),
            127,
        )
    } else if lower.contains("does not have correct permission")
        || lower.contains("permission denied")
    {
        (
            format!("{prefix}: exec: \"{entrypoint}\": permission denied: unknown"),
            126,
        )
    } else if lower.contains("no such file or directory") {
        (format!("{prefix}: {shim}: unknown"), 127)
    } else {
        (format!("{prefix}: {shim}: unknown"), 126)
    }
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
            "container {} is not running",
            record.id
        ))),
    }
}

fn join_error(e: tokio::task::JoinError) -> ContainerError {
    ContainerError::Runtime(e.to_string())
}

impl ContainerService {
    fn exec_table(&self) -> Arc<ExecTable> {
        let mut tables = TABLES.lock().unwrap_or_else(|p| p.into_inner());
        tables.entry(self.store.dir("")).or_default().clone()
    }

    /// The exec records, after forgetting those of removed containers and
    /// long-finished ones.
    fn with_execs<T>(&self, f: impl FnOnce(&mut HashMap<String, ExecRecord>) -> T) -> T {
        let table = self.exec_table();
        let mut execs: MutexGuard<'_, _> = table.execs.lock().unwrap_or_else(|p| p.into_inner());
        execs.retain(|_, e| {
            self.store.get(&e.container_id).is_some()
                && e.finished.is_none_or(|t| t.elapsed() < FORGET_AFTER)
        });
        f(&mut execs)
    }

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

    /// `POST /exec/{id}/start`. Errors before anything started (unknown
    /// exec, stopped container, second start) come back as `Err`; a process
    /// that cannot be started as [`ExecStarted::Failed`] (or, detached, as a
    /// 400/500 error), with its exit code recorded.
    pub async fn start_exec(
        self: &Arc<Self>,
        id: &str,
        opts: ExecStartOptions,
    ) -> Result<ExecStarted, ExecError> {
        let (_, container) = self.live_exec(id)?;
        let exec = self.with_execs(|execs| {
            let e = execs
                .get_mut(id)
                .ok_or_else(|| ExecError::NotFound(id.to_owned()))?;
            if e.exit_code.is_some() {
                return Err(ExecError::from(ContainerError::Conflict(format!(
                    "exec command {id} has already run"
                ))));
            }
            if e.running || e.started {
                return Err(ExecError::from(ContainerError::Conflict(format!(
                    "exec command {id} is already running"
                ))));
            }
            e.started = true;
            e.running = true;
            Ok(e.clone())
        })?;
        self.record_event(
            &format!("exec_start: {}", exec.command_line()),
            &container,
            &[("execID", id)],
        );

        let stdin = exec.open_stdin && !opts.detach;
        let console_size = opts
            .console_size
            .or(exec.console_size)
            .filter(|[h, w]| exec.tty && *h > 0 && *w > 0);
        let shim_dir = self.shim_dir(&container.id);
        let attach = (!opts.detach).then_some(AttachRequest {
            exec_id: None,
            stdin,
            stdout: exec.open_stdout,
            stderr: exec.open_stderr,
            close_stdin: true,
        });
        let container_dir = self.store.dir(&container.id);
        let exec2 = exec.clone();
        let spawned = tokio::task::spawn_blocking(move || {
            let process = exec_process(&exec2, &Rootfs::new(&container_dir).target)
                .map_err(|e| StartFailure::Setup(e.to_string()))?;
            let req = ExecRequest {
                exec_id: Some(exec2.id.clone()),
                process,
                tty: exec2.tty,
                stdin,
                attach: None,
            };
            let shim =
                ShimHandle::connect(&shim_dir).map_err(|e| StartFailure::Setup(e.to_string()))?;
            let (info, stream) = match attach {
                Some(a) => shim.exec_attach(req, a).map(|(info, s)| (info, Some(s))),
                None => shim.exec(req).map(|info| (info, None)),
            }
            .map_err(|e| StartFailure::Exec(e.to_string()))?;
            if let Some([h, w]) = console_size {
                let (h, w) = (h.min(u16::MAX.into()) as u16, w.min(u16::MAX.into()) as u16);
                if let Err(e) = shim.resize(Some(&exec2.id), h, w) {
                    tracing::debug!("exec {}: initial resize: {e}", exec2.id);
                }
            }
            Ok::<_, StartFailure>((info.pid, stream))
        })
        .await
        .map_err(|e| ExecError::from(join_error(e)))?;
        match spawned {
            Ok((pid, stream)) => {
                self.with_execs(|execs| {
                    if let Some(e) = execs.get_mut(id) {
                        e.pid = i64::from(pid);
                    }
                });
                match stream {
                    Some(stream) => Ok(ExecStarted::Attached(stream)),
                    None => {
                        self.wait_exec_in_background(id.to_owned());
                        Ok(ExecStarted::Detached)
                    }
                }
            }
            Err(failure) => {
                let (message, code) = match failure {
                    // dockerd's default for a start that failed before the
                    // runtime ran: 126.
                    StartFailure::Setup(msg) => (msg, 126),
                    StartFailure::Exec(msg) => {
                        tracing::info!("exec {id} in container {}: {msg}", container.id);
                        let cwd = Some(exec.working_dir.as_str()).filter(|w| !w.is_empty());
                        exec_failure(&exec.entrypoint, cwd.unwrap_or("/"), &msg)
                    }
                };
                self.exec_exited(id, code);
                if opts.detach {
                    // dockerd: a missing or non-executable binary is the
                    // caller's mistake (400), anything else the runtime's.
                    let invalid = code == 127 || message.ends_with(": permission denied: unknown");
                    Err(if invalid {
                        ContainerError::InvalidArgument(message)
                    } else {
                        ContainerError::Runtime(message)
                    }
                    .into())
                } else {
                    Ok(ExecStarted::Failed(message))
                }
            }
        }
    }

    /// Record that an exec ended with `exit_code` (once: later calls are
    /// ignored) and publish `exec_die`. Called with the exit frame of an
    /// attached exec's stream before the client's stream is closed.
    pub fn exec_exited(&self, id: &str, exit_code: i64) {
        let ended = self.with_execs(|execs| {
            let e = execs.get_mut(id)?;
            if e.exit_code.is_some() {
                return None;
            }
            e.exit_code = Some(exit_code);
            e.running = false;
            e.finished = Some(Instant::now());
            Some(e.container_id.clone())
        });
        let Some(container_id) = ended else {
            return;
        };
        if let Some(record) = self.store.get(&container_id) {
            self.record_event(
                "exec_die",
                &record,
                &[("execID", id), ("exitCode", &exit_code.to_string())],
            );
        }
    }

    /// Record an exit from the shim's exit status (`None`: unknown, 255).
    pub fn exec_exit_status(&self, id: &str, exit: Option<&ExitStatus>) {
        self.exec_exited(id, exit.map_or(255, |e| i64::from(e.exit_code)));
    }

    /// Wait for an exec through its shim and record its exit: for detached
    /// execs, and attached ones whose client went away or detached. The wait
    /// is an attach without streams, read asynchronously until its exit
    /// frame (no thread blocked per running exec).
    pub fn wait_exec_in_background(self: &Arc<Self>, id: String) {
        let Some(container_id) =
            self.with_execs(|execs| execs.get(&id).map(|e| e.container_id.clone()))
        else {
            return;
        };
        let svc = self.clone();
        let shim_dir = self.shim_dir(&container_id);
        tokio::spawn(async move {
            let exec_id = id.clone();
            let attached = tokio::task::spawn_blocking(move || {
                ShimHandle::connect(&shim_dir).and_then(|h| {
                    h.attach(AttachRequest {
                        exec_id: Some(exec_id),
                        ..AttachRequest::default()
                    })
                })
            })
            .await;
            let status = match attached {
                Ok(Ok(stream)) => read_exit(stream).await,
                Ok(Err(e)) => {
                    tracing::warn!("waiting for exec {id}: {e}");
                    None
                }
                Err(e) => {
                    tracing::warn!("waiting for exec {id}: {e}");
                    None
                }
            };
            svc.exec_exit_status(&id, status.as_ref());
        });
    }

    /// The client detached from an attached exec with its detach keys: it
    /// keeps running (publishes `exec_detach`).
    pub fn exec_detached(self: &Arc<Self>, id: &str) {
        if let Ok(exec) = self.inspect_exec(id)
            && let Some(record) = self.store.get(&exec.container_id)
        {
            self.record_event("exec_detach", &record, &[("execID", id)]);
        }
        self.wait_exec_in_background(id.to_owned());
    }

    /// `POST /exec/{id}/resize`: set the exec's pty size.
    pub async fn resize_exec(&self, id: &str, height: u16, width: u16) -> Result<(), ExecError> {
        let (exec, container) = self.live_exec(id)?;
        if !exec.started {
            return Err(
                ContainerError::InvalidArgument("exec process is not started".into()).into(),
            );
        }
        let dir = self.shim_dir(&container.id);
        let exec_id = exec.id.clone();
        tokio::task::spawn_blocking(move || {
            ShimHandle::connect(&dir).and_then(|h| h.resize(Some(&exec_id), height, width))
        })
        .await
        .map_err(|e| ExecError::from(join_error(e)))?
        .map_err(|e| {
            let msg = e.to_string();
            ExecError::from(match e.kind() {
                Some(skiff_shim::protocol::ErrorKind::NotFound) => ContainerError::Conflict(msg),
                Some(skiff_shim::protocol::ErrorKind::Conflict) => ContainerError::Conflict(msg),
                _ => ContainerError::Runtime(msg),
            })
        })
    }
}

/// Take one whole shim frame (stream id, payload) off the front of
/// `pending`; kept for the API's exec relay until it reads frames with
/// [`skiff_shim::framed::FrameReader`]. A frame announcing more than the
/// protocol's limit is never taken.
pub fn take_frame(pending: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let header: [u8; FRAME_HEADER] = pending.get(..FRAME_HEADER)?.try_into().ok()?;
    let (id, len) = decode_frame_header(header);
    check_frame_len(len, MAX_FRAME_LEN).ok()?;
    let payload = pending.get(FRAME_HEADER..FRAME_HEADER + len)?.to_vec();
    pending.drain(..FRAME_HEADER + len);
    Some((id, payload))
}

/// Read a shim stream asynchronously until its exit frame; `None` when it
/// ends without one (or is not a valid frame stream).
async fn read_exit(stream: AttachStream) -> Option<ExitStatus> {
    let mut frames = match stream.into_async() {
        Ok(attach) => attach.frames,
        Err(e) => {
            tracing::warn!("reading a shim stream: {e}");
            return None;
        }
    };
    loop {
        match frames.next_frame().await {
            Ok(Some(Frame::Exit(status))) => return Some(status),
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!("reading a shim stream: {e}");
                return None;
            }
        }
    }
}

/// The OCI process of an exec in a container whose root filesystem is
/// mounted at `rootfs`: its argv, env (+ `HOME` of its user), working
/// directory and user; capabilities and `noNewPrivileges` are the
/// container's (the shim fills them in) unless privileged.
pub fn exec_process(
    exec: &ExecRecord,
    rootfs: &std::path::Path,
) -> Result<Process, ContainerError> {
    let runtime = |e: oci_spec::OciSpecError| ContainerError::Runtime(e.to_string());
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
        .user(u.build().map_err(runtime)?)
        .terminal(exec.tty)
        .build()
        .map_err(runtime)?;
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
            .build()
            .map_err(runtime)?;
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

    #[test]
    fn failures_are_worded_like_dockerd() {
        let youki = "failed to exec in container c: failed to create container: exec process failed with error error in executing process : ";
        let (msg, code) = exec_failure(
            "nope",
            "/",
            &format!(
                "{youki}executable 'nope' not found in $PATH (cause: executable for container process not found in PATH executable=\"nope\")"
            ),
        );
        assert_eq!(code, 127);
        assert_eq!(
            msg,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"
        );
        let (msg, code) = exec_failure(
            "/etc/passwd",
            "/",
            &format!(
                "{youki}executable '/etc/passwd' at path '\"/etc/passwd\"' does not have correct permissions (cause: executable does not have the correct permission set executable=\"/etc/passwd\")"
            ),
        );
        assert_eq!(
            (msg.as_str(), code),
            (
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/etc/passwd\": permission denied: unknown",
                126
            )
        );
        let (msg, code) = exec_failure(
            "true",
            "/gone",
            &format!("{youki}failed to unix syscall (cause: failed to chdir e=ENOENT)"),
        );
        assert_eq!(
            (msg.as_str(), code),
            (
                "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/gone\") set in config.json failed: no such file or directory: unknown",
                127
            )
        );
        assert_eq!(exec_failure("x", "/", "container c is not running").1, 126);
    }

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

    #[test]
    fn frames_are_taken_whole() {
        let mut pending = vec![1, 0, 0, 0, 2, b'h', b'i', 3, 0, 0];
        assert_eq!(take_frame(&mut pending), Some((1, b"hi".to_vec())));
        assert_eq!(take_frame(&mut pending), None);
        assert_eq!(pending, [3, 0, 0]);
    }
}
