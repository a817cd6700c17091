//! The control protocol between skiffd and a shim (see `docs/shim.md`).
//!
//! A connection to `<state-dir>/shim.sock` carries JSON lines: the client
//! writes one [`Request`] per line, the shim answers each with one line,
//! `{"ok": RESULT}` or `{"error": {"kind": …, "message": …}}`, in order.
//! `wait` (and `delete` of a running container with `force`) answers only
//! when the process has exited.
//!
//! `attach`, and `exec` with `attach`, turn the connection into a stream once
//! their `ok` line is sent: the shim then writes frames — one byte stream id
//! ([`STREAM_STDOUT`], [`STREAM_STDERR`], [`STREAM_EXIT`]), a big-endian u32
//! length, the payload — and the client writes raw stdin bytes; the client's
//! half-close (`shutdown(SHUT_WR)`) closes the process's stdin when
//! `close_stdin` is set. The last frame is [`STREAM_EXIT`] with an
//! [`ExitStatus`] as JSON, after which the shim closes the connection.

use serde::{Deserialize, Serialize};

/// Stream id of a frame carrying the process's stdout (or the pty's output).
pub const STREAM_STDOUT: u8 = 1;
/// Stream id of a frame carrying the process's stderr.
pub const STREAM_STDERR: u8 = 2;
/// Stream id of the last frame: the process's [`ExitStatus`] as JSON.
pub const STREAM_EXIT: u8 = 3;
/// Size of a frame header: stream id + u32 length.
pub const FRAME_HEADER: usize = 5;
/// Largest payload the shim ever sends in one frame.
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024;

/// Appends one frame (header + payload) to `out`.
pub fn encode_frame(stream: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.push(stream);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..len as usize]);
}

/// Largest payload a reader accepts in one frame: a longer length in a
/// header means the stream is corrupt (the shim sends at most
/// [`MAX_FRAME_PAYLOAD`]), and is refused before anything is allocated.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Decodes a frame header: (stream id, payload length).
pub fn decode_frame_header(header: [u8; FRAME_HEADER]) -> (u8, usize) {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    (header[0], len as usize)
}

/// Refuses a payload length over `max` (normally [`MAX_FRAME_LEN`]).
pub fn check_frame_len(len: usize, max: usize) -> Result<(), FrameError> {
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(())
}

/// One frame of an attach stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Bytes the process wrote to stdout (or the pty).
    Stdout(Vec<u8>),
    /// Bytes the process wrote to stderr.
    Stderr(Vec<u8>),
    /// The process ended; the stream ends after this frame.
    Exit(ExitStatus),
}

impl Frame {
    /// Types a frame read off the wire: its stream id and whole payload.
    pub fn decode(stream: u8, payload: Vec<u8>) -> Result<Self, FrameError> {
        match stream {
            STREAM_STDOUT => Ok(Frame::Stdout(payload)),
            STREAM_STDERR => Ok(Frame::Stderr(payload)),
            STREAM_EXIT => serde_json::from_slice(&payload)
                .map(Frame::Exit)
                .map_err(FrameError::BadExit),
            other => Err(FrameError::UnknownStream(other)),
        }
    }

    /// Appends the frame's wire form (header + payload) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Stdout(b) => encode_frame(STREAM_STDOUT, b, out),
            Frame::Stderr(b) => encode_frame(STREAM_STDERR, b, out),
            Frame::Exit(status) => {
                // An `ExitStatus` (strings and integers) always serializes.
                let json = serde_json::to_vec(status).unwrap_or_default();
                encode_frame(STREAM_EXIT, &json, out);
            }
        }
    }
}

/// Why a frame stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reading the stream failed.
    #[error("i/o error reading shim frames: {0}")]
    Io(#[from] std::io::Error),
    /// A header announced a payload over the reader's limit.
    #[error("frame of {len} bytes (the limit is {max})")]
    TooLarge {
        /// The announced payload length.
        len: usize,
        /// The reader's limit.
        max: usize,
    },
    /// A header named a stream id the protocol does not have.
    #[error("unknown stream id {0}")]
    UnknownStream(u8),
    /// The exit frame's payload is not an [`ExitStatus`].
    #[error("bad exit frame: {0}")]
    BadExit(#[source] serde_json::Error),
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame ({pending} bytes of it read)")]
    Truncated {
        /// How many bytes of the incomplete frame had arrived.
        pending: usize,
    },
}

/// One request line from the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The state of the container's init process, or of an exec.
    State {
        /// An exec id; absent for the container itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
    },
    /// Start a container created with `--defer-start`.
    Start,
    /// Send a signal to the container's init process (or to an exec).
    Kill {
        /// Signal number (15 = SIGTERM, 9 = SIGKILL, …).
        signal: i32,
        /// An exec id; absent for the container itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
    },
    /// Answer when the process has exited and its output is drained.
    Wait {
        /// An exec id; absent for the container itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
    },
    /// Turn this connection into the process's stdio stream.
    Attach(AttachRequest),
    /// Set the window size of the process's pty.
    Resize {
        /// An exec id; absent for the container itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
    /// Run a new process in the running container.
    Exec(Box<ExecRequest>),
    /// Freeze every process of the container (cgroup freezer).
    Pause,
    /// Thaw a paused container.
    Resume,
    /// Remove the container's runtime state and end the shim. Refused while
    /// the container runs unless `force` (then: SIGKILL, wait, delete).
    Delete {
        /// Kill a running container first.
        #[serde(default)]
        force: bool,
    },
}

/// Which streams an attach carries, and for which process.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachRequest {
    /// An exec id; absent for the container itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// Forward what the client writes to the process's stdin.
    #[serde(default)]
    pub stdin: bool,
    /// Send stdout (with a tty: everything the pty prints).
    #[serde(default)]
    pub stdout: bool,
    /// Send stderr (never used with a tty).
    #[serde(default)]
    pub stderr: bool,
    /// Close the process's stdin when the client half-closes (docker's
    /// `StdinOnce`). Ignored with a tty.
    #[serde(default)]
    pub close_stdin: bool,
}

/// A new process in a running container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The id to give it; the shim makes one up when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// The OCI process (args, env, cwd, user, …). `terminal` is overridden by
    /// `tty`; missing capabilities and `noNewPrivileges` are taken from the
    /// container's own process.
    pub process: oci_spec::runtime::Process,
    /// Give the process a pty.
    #[serde(default)]
    pub tty: bool,
    /// Give the process a stdin pipe (fed by attached clients); otherwise
    /// stdin is /dev/null.
    #[serde(default)]
    pub stdin: bool,
    /// When set, this connection becomes the exec's attach stream right after
    /// the `ok` line, so no output is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<AttachRequest>,
}

/// A response line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response<T> {
    /// Success, with the request's result.
    Ok(T),
    /// Failure.
    Error(ShimError),
}

/// An error answered by the shim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimError {
    /// Category.
    pub kind: ErrorKind,
    /// Human-readable message naming the container (or exec) id.
    pub message: String,
}

/// Category of a shim error, for mapping to HTTP statuses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such exec.
    NotFound,
    /// The request does not fit the process's state (not running, running…).
    Conflict,
    /// The request itself is malformed.
    InvalidArgument,
    /// The runtime failed.
    Internal,
}

/// Result of requests that return nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Empty {}

/// Lifecycle of the container's init process or of an exec.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created with `--defer-start`, waiting for `start`.
    Created,
    /// Running.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// Exited (its output drained); `exit` is set.
    Exited,
}

/// Answer to `state`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessState {
    /// Container id.
    pub id: String,
    /// Exec id, for an exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// Host pid of the process.
    pub pid: i32,
    /// Lifecycle state.
    pub status: Status,
    /// Whether the process has a pty.
    pub tty: bool,
    /// When the process was created (RFC 3339, nanoseconds).
    pub created_at: String,
    /// When it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// How it ended, once `status` is `exited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// How a process ended; also the content of `<state-dir>/exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitStatus {
    /// Host pid the process had.
    pub pid: i32,
    /// Docker's exit code: the status, or 128 + signal when killed.
    pub exit_code: i32,
    /// The signal that killed it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The memory cgroup recorded an OOM kill (init process only).
    #[serde(default)]
    pub oom_killed: bool,
    /// When it was started (absent if it never was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the shim reaped it.
    pub finished_at: String,
}

/// Answer to `exec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecInfo {
    /// The exec's id.
    pub exec_id: String,
    /// Its host pid.
    pub pid: i32,
}

/// What `skiff-shim start` prints on stdout when the container is ready.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StartReport {
    /// Pid of the shim daemon.
    pub shim_pid: i32,
    /// Host pid of the container's init process.
    pub pid: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_shape() -> Result<(), serde_json::Error> {
        let json = serde_json::to_string(&Request::State { exec_id: None })?;
        assert_eq!(json, r#"{"op":"state"}"#);
        let json = serde_json::to_string(&Request::Kill {
            signal: 15,
            exec_id: None,
        })?;
        assert_eq!(json, r#"{"op":"kill","signal":15}"#);
        let req: Request = serde_json::from_str(r#"{"op":"attach","stdout":true}"#)?;
        match req {
            Request::Attach(a) => {
                assert!(a.stdout && !a.stdin && !a.stderr && a.exec_id.is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        let req: Request = serde_json::from_str(r#"{"op":"delete"}"#)?;
        assert!(matches!(req, Request::Delete { force: false }));
        let req: Request = serde_json::from_str(
            r#"{"op":"exec","exec_id":"e1","process":{"args":["echo","hi"],"cwd":"/","user":{"uid":0,"gid":0}},"tty":false}"#,
        )?;
        assert!(matches!(req, Request::Exec(ref e) if e.exec_id.as_deref() == Some("e1")));
        Ok(())
    }

    #[test]
    fn responses_have_the_documented_shape() -> Result<(), serde_json::Error> {
        let ok: Response<Empty> = Response::Ok(Empty {});
        assert_eq!(serde_json::to_string(&ok)?, r#"{"ok":{}}"#);
        let err: Response<Empty> = Response::Error(ShimError {
            kind: ErrorKind::Conflict,
            message: "container c1 is not running".into(),
        });
        assert_eq!(
            serde_json::to_string(&err)?,
            r#"{"error":{"kind":"conflict","message":"container c1 is not running"}}"#
        );
        Ok(())
    }

    #[test]
    fn frames_are_id_length_payload() {
        let mut out = Vec::new();
        encode_frame(STREAM_STDERR, b"abc", &mut out);
        assert_eq!(out, [2, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn frames_decode_by_stream_id() {
        assert_eq!(
            Frame::decode(STREAM_STDOUT, b"x".to_vec()).ok(),
            Some(Frame::Stdout(b"x".to_vec()))
        );
        assert!(matches!(
            Frame::decode(9, vec![]),
            Err(FrameError::UnknownStream(9))
        ));
        assert!(matches!(
            Frame::decode(STREAM_EXIT, b"{".to_vec()),
            Err(FrameError::BadExit(_))
        ));
        assert!(check_frame_len(MAX_FRAME_LEN, MAX_FRAME_LEN).is_ok());
        assert!(matches!(
            check_frame_len(MAX_FRAME_LEN + 1, MAX_FRAME_LEN),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
