//! [`DaemonError`]: everything the shim daemon can fail at, typed.
//!
//! Contract: a client is told [`DaemonError::kind`] and
//! [`DaemonError::message`] (for a runtime error its whole `source()` chain
//! on one line, plus the cause libcontainer logged when there is one). Those
//! strings are part of the protocol (`docs/shim.md`): they name the
//! container (or exec) and say why, and skiffd shows them to docker
//! clients. Every variant keeps the error it wraps as its `source`.

use std::io;
use std::path::{Path, PathBuf};

use skiff_shim::protocol::ErrorKind;

/// An error from the container runtime (libcontainer, or a test double).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A container runtime operation, for messages: "failed to {op} container c1".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Create the container (its init process waits to be started).
    Create,
    /// Start the created container.
    Start,
    /// Run a process in the running container.
    Exec,
    /// Freeze the container's cgroup.
    Pause,
    /// Thaw it.
    Resume,
    /// Remove the cgroup and the runtime's state.
    Delete,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Start => "start",
            Op::Exec => "exec in",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::Delete => "delete",
        })
    }
}

/// Everything the shim daemon can fail at.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    // ---- setting up -------------------------------------------------------
    /// A file or socket in the state directory (or the log, or the bundle)
    /// could not be created, opened, bound, written or removed.
    #[error("{action} {}: {source}", path.display())]
    Path {
        /// What was being done: "cannot bind", "cannot write", ….
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A process-wide setting failed (signal handlers, the working
    /// directory).
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `skiff-shim start` was given a container id the runtime refuses.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// The bundle directory is not usable.
    #[error("bundle {} of container {id}: {source}", path.display())]
    Bundle {
        /// Container id.
        id: String,
        /// The bundle directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The bundle has no `config.json`.
    #[error("bundle of container {id} has no {}", config.display())]
    NoConfig {
        /// Container id.
        id: String,
        /// The missing file.
        config: PathBuf,
    },
    /// A shim answers on the state directory's socket already.
    #[error("a shim is already running for container {id} ({})", socket.display())]
    AlreadyRunning {
        /// Container id.
        id: String,
        /// Its socket.
        socket: PathBuf,
    },
    /// `config.json` does not load.
    #[error("cannot load {}: {source}", path.display())]
    LoadSpec {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// `config.json` has no `process`.
    #[error("{} has no process", path.display())]
    NoProcess {
        /// The file.
        path: PathBuf,
    },
    /// `config.json` has no `linux.cgroupsPath`.
    #[error("{} has no linux.cgroupsPath (the shim needs one, e.g. /skiff/{id})", path.display())]
    NoCgroupsPath {
        /// The file.
        path: PathBuf,
        /// Container id.
        id: String,
    },
    /// A spec could not be encoded for libcontainer.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What: a path, or "the process of exec e1".
        what: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The bundle's seccomp filter does not compile.
    #[error("seccomp filter of bundle {}: {source}", bundle.display())]
    Seccomp {
        /// The bundle.
        bundle: PathBuf,
        /// Why.
        #[source]
        source: skiff_shim::seccomp::bpf::BpfError,
    },
    /// stdio pipes for a new process could not be made.
    #[error("cannot create stdio pipes for {name}: {source}")]
    Pipes {
        /// "container c1" or "exec e1".
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The pty master of a new process was not received or not usable.
    #[error("{owner}: {what}: {source}")]
    Pty {
        /// "container c1" or "exec e1 in container c1".
        owner: String,
        /// "no pty master" or "pty master".
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `lo` could not be brought up in the container's network namespace.
    #[error("cannot bring lo up in container {id}: {source}")]
    Loopback {
        /// Container id.
        id: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The runtime created a container without an init process.
    #[error("container {id} was created without a pid")]
    NoPid {
        /// Container id.
        id: String,
    },

    // ---- the runtime ------------------------------------------------------
    /// A runtime operation failed. `cause` is the first ERROR line
    /// libcontainer logged meanwhile, when it adds something.
    #[error("failed to {op} container {id}: {source}")]
    Runtime {
        /// The operation.
        op: Op,
        /// Container id.
        id: String,
        /// The runtime's error.
        #[source]
        source: BoxError,
        /// What libcontainer's processes logged (see `docs/shim.md`).
        cause: Option<String>,
    },
    /// libcontainer refused its root directory.
    #[error("libcontainer root {}: {source}", root.display())]
    RuntimeRoot {
        /// The directory.
        root: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// libcontainer refused the container id.
    #[error("invalid container id {id:?}: {source}")]
    RuntimeId {
        /// The id.
        id: String,
        /// Why.
        #[source]
        source: BoxError,
    },

    // ---- requests ---------------------------------------------------------
    /// A request line is not a request.
    #[error("bad request: {0}")]
    BadRequest(#[source] serde_json::Error),
    /// A request line exceeds the limit.
    #[error("request line too long")]
    RequestTooLong,
    /// No exec of that id.
    #[error("no exec {exec} in container {id}")]
    NoExec {
        /// Container id.
        id: String,
        /// The exec id asked for.
        exec: String,
    },
    /// `start` of a container that is not waiting for it.
    #[error("container {id} has already been started")]
    AlreadyStarted {
        /// Container id.
        id: String,
    },
    /// A signal number that is no signal.
    #[error("invalid signal {0}")]
    InvalidSignal(i32),
    /// The process is not running.
    #[error("{name} is not running")]
    NotRunning {
        /// "container c1" or "exec e1 of container c1".
        name: String,
    },
    /// `kill(2)` failed.
    #[error("failed to signal {name}: {source}")]
    Signal {
        /// "container c1" or "exec e1 of container c1".
        name: String,
        /// Why.
        #[source]
        source: nix::errno::Errno,
    },
    /// `resize` of a process without a tty.
    #[error("{name} has no tty")]
    NoTty {
        /// "container c1" or "exec e1 of container c1".
        name: String,
    },
    /// `TIOCSWINSZ` failed.
    #[error("failed to resize {name}: {source}")]
    Resize {
        /// "container c1" or "exec e1 of container c1".
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `pause` of a paused container.
    #[error("container {id} is already paused")]
    AlreadyPaused {
        /// Container id.
        id: String,
    },
    /// `resume` of a container that is not paused.
    #[error("container {id} is not paused")]
    NotPaused {
        /// Container id.
        id: String,
    },
    /// `exec` in a paused container.
    #[error("container {id} is paused, unpause it first")]
    Paused {
        /// Container id.
        id: String,
    },
    /// `delete` without `force` of a running container.
    #[error("container {id} is running: stop it first or delete with force")]
    DeleteRunning {
        /// Container id.
        id: String,
    },
    /// An exec id the runtime would refuse.
    #[error("invalid exec id {exec:?}: {reason}")]
    InvalidExecId {
        /// The exec id.
        exec: String,
        /// Why.
        reason: &'static str,
    },
    /// An exec id in use.
    #[error("exec {exec} already exists in container {id}")]
    ExecExists {
        /// Container id.
        id: String,
        /// The exec id.
        exec: String,
    },
}

impl DaemonError {
    /// Wraps an I/O error on `path`.
    pub fn path(action: &'static str, path: &Path, source: io::Error) -> Self {
        DaemonError::Path {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// A failed runtime operation, without a logged cause yet.
    pub fn runtime(op: Op, id: &str, source: impl Into<BoxError>) -> Self {
        DaemonError::Runtime {
            op,
            id: id.to_owned(),
            source: source.into(),
            cause: None,
        }
    }

    /// The protocol's category of this error.
    pub fn kind(&self) -> ErrorKind {
        use DaemonError as E;
        match self {
            E::NoExec { .. } => ErrorKind::NotFound,
            E::AlreadyStarted { .. }
            | E::NotRunning { .. }
            | E::AlreadyPaused { .. }
            | E::NotPaused { .. }
            | E::Paused { .. }
            | E::DeleteRunning { .. }
            | E::ExecExists { .. } => ErrorKind::Conflict,
            E::BadRequest(_)
            | E::RequestTooLong
            | E::InvalidSignal(_)
            | E::NoTty { .. }
            | E::InvalidExecId { .. } => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }

    /// What a client (or the spawner) is told. A runtime error carries its
    /// whole source chain, then the cause libcontainer logged, if any,
    /// since libcontainer's top-level messages rarely say why; any other
    /// error is its message (which names its source's).
    pub fn message(&self) -> String {
        match self {
            DaemonError::Runtime { cause, .. } => match cause {
                Some(cause) => format!("{} (cause: {cause})", chain(self)),
                None => chain(self),
            },
            DaemonError::RuntimeRoot { .. } | DaemonError::RuntimeId { .. } => chain(self),
            _ => self.to_string(),
        }
    }

    /// libcontainer passes only the top of an error chain across its process
    /// boundary ("failed to prepare rootfs"); the cause is in the ERROR lines
    /// its processes logged to `shim.log`. Records the first one logged
    /// since `offset` when it adds something to the message.
    pub fn with_logged_cause(mut self, log: &Path, offset: u64) -> Self {
        let message = chain(&self);
        if let DaemonError::Runtime { cause, .. } = &mut self {
            *cause = logged_cause(&message, log, offset);
        }
        self
    }
}

/// An error with its whole `source()` chain, since libcontainer's top-level
/// messages ("failed to create container") rarely say why. A source whose
/// text is already in the message is not repeated.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        source = s.source();
    }
    msg
}

/// The size of `path`, 0 when it does not exist: where to look for a cause
/// (see [`DaemonError::with_logged_cause`]).
pub fn log_offset(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn logged_cause(msg: &str, log: &Path, offset: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    std::fs::File::open(log)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.take(64 * 1024).read_to_string(&mut text)
        })
        .ok()?;
    text.lines().find_map(|line| {
        let rest = line.split_once(" ERROR ")?.1;
        // "<target>: <message>"
        let message = rest.split_once(": ").map_or(rest, |(_, m)| m).trim();
        (!message.is_empty() && !msg.contains(message)).then(|| message.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_the_chain_then_the_logged_cause() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("shim.log");
        std::fs::write(&log, "old ERROR libcontainer: stale\n").expect("write");
        let offset = log_offset(&log);
        std::fs::write(
            &log,
            "old ERROR libcontainer: stale\n\
             2026 ERROR libcontainer::rootfs: proc must be mounted on ordinary directory\n",
        )
        .expect("write");
        let inner = io::Error::other("failed to prepare rootfs");
        let err = DaemonError::runtime(Op::Create, "c1", inner).with_logged_cause(&log, offset);
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(
            err.message(),
            "failed to create container c1: failed to prepare rootfs \
             (cause: proc must be mounted on ordinary directory)"
        );
        assert!(std::error::Error::source(&err).is_some(), "source kept");
    }

    #[test]
    fn a_runtime_error_carries_its_whole_chain_others_their_message() {
        #[derive(Debug, thiserror::Error)]
        #[error("failed to prepare rootfs")]
        struct Top(#[source] io::Error);
        let err = DaemonError::runtime(Op::Start, "c1", Top(io::Error::other("no /proc")));
        assert_eq!(
            err.message(),
            "failed to start container c1: failed to prepare rootfs: no /proc"
        );
        let err = DaemonError::LoadSpec {
            path: "/b/config.json".into(),
            source: oci_spec::OciSpecError::Io(io::Error::other("gone")),
        };
        assert_eq!(
            err.message(),
            "cannot load /b/config.json: io operation failed"
        );
        assert!(std::error::Error::source(&err).is_some(), "source kept");
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("shim.log");
        std::fs::write(&log, "t ERROR x: executable '/bin/x' not found\n").expect("write");
        let inner = io::Error::other("executable '/bin/x' not found");
        let err = DaemonError::runtime(Op::Exec, "c1", inner).with_logged_cause(&log, 0);
        assert_eq!(
            err.message(),
            "failed to exec in container c1: executable '/bin/x' not found"
        );
    }

    #[test]
    fn request_errors_have_their_protocol_kinds() {
        let not_found = DaemonError::NoExec {
            id: "c1".into(),
            exec: "e9".into(),
        };
        assert_eq!(not_found.kind(), ErrorKind::NotFound);
        assert_eq!(not_found.message(), "no exec e9 in container c1");
        assert_eq!(
            DaemonError::InvalidSignal(99).kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            DaemonError::AlreadyStarted { id: "c1".into() }.kind(),
            ErrorKind::Conflict
        );
    }
}
