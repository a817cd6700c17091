//! Blocking client for a shim: what skiffd uses.
//!
//! Every call opens its own connection to `<state-dir>/shim.sock` (a local
//! connect costs microseconds), so a [`ShimHandle`] can be shared between
//! threads and a blocked [`ShimHandle::wait`] never holds up other calls.
//! From async code, run these calls in `spawn_blocking`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, FileError, Result};
use crate::paths;
pub use crate::protocol::Frame;
use crate::protocol::{
    AttachRequest, Empty, ExecInfo, ExecRequest, ExitStatus, FRAME_HEADER, FrameError,
    MAX_FRAME_LEN, ProcessState, Request, Response, StartReport, check_frame_len,
    decode_frame_header,
};

/// Where the container's output is logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// `<state-dir>/container-json.log`.
    #[default]
    Default,
    /// This file (json-file format, appended).
    Path(PathBuf),
    /// Not logged (docker's `--log-driver none`).
    None,
}

/// How to start a shim (the flags of `skiff-shim start`).
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The `skiff-shim` binary.
    pub binary: PathBuf,
    /// Container id.
    pub id: String,
    /// OCI bundle: `config.json` (whose `process.terminal` decides tty or
    /// pipes) and the rootfs it names.
    pub bundle: PathBuf,
    /// The shim's state directory (created if missing).
    pub state_dir: PathBuf,
    /// Give the container a stdin pipe fed by attached clients (docker's
    /// `OpenStdin`); otherwise its stdin is /dev/null.
    pub stdin: bool,
    /// Where its output is logged.
    pub log: LogTarget,
    /// Create the container but start it only on a `start` request, so that
    /// a client can attach first and miss no output.
    pub defer_start: bool,
    /// How long `skiff-shim start` waits for the container to be created.
    pub timeout: Duration,
}

impl SpawnOptions {
    /// Options with defaults: no stdin, default log, immediate start, 60 s.
    pub fn new(
        binary: impl Into<PathBuf>,
        id: impl Into<String>,
        bundle: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
    ) -> Self {
        SpawnOptions {
            binary: binary.into(),
            id: id.into(),
            bundle: bundle.into(),
            state_dir: state_dir.into(),
            stdin: false,
            log: LogTarget::Default,
            defer_start: false,
            timeout: Duration::from_secs(60),
        }
    }

    /// The command-line arguments of `skiff-shim`.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "start".into(),
            "--id".into(),
            self.id.clone().into(),
            "--bundle".into(),
            self.bundle.clone().into(),
            "--state-dir".into(),
            self.state_dir.clone().into(),
            "--timeout-ms".into(),
            self.timeout.as_millis().to_string().into(),
        ];
        if self.stdin {
            args.push("--stdin".into());
        }
        if self.defer_start {
            args.push("--defer-start".into());
        }
        match &self.log {
            LogTarget::Default => {}
            LogTarget::Path(p) => {
                args.push("--log-path".into());
                args.push(p.clone().into());
            }
            LogTarget::None => args.push("--no-log".into()),
        }
        args
    }
}

/// Starting shims.
#[derive(Debug)]
pub struct Shim;

impl Shim {
    /// Runs `skiff-shim start`, which daemonizes a shim, creates the
    /// container and (unless `defer_start`) starts it; returns once the
    /// container exists and the control socket answers.
    pub fn spawn(opts: &SpawnOptions) -> Result<ShimHandle> {
        paths::validate_id(&opts.id).map_err(|reason| Error::InvalidId {
            id: opts.id.clone(),
            reason,
        })?;
        let output = Command::new(&opts.binary)
            .args(opts.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| Error::SpawnBinary {
                path: opts.binary.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().next().unwrap_or("");
        let report = match serde_json::from_str::<Response<StartReport>>(line) {
            Ok(Response::Ok(report)) if output.status.success() => report,
            Ok(Response::Error(e)) => {
                return Err(Error::StartFailed {
                    id: opts.id.clone(),
                    message: e.message,
                });
            }
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(Error::StartFailed {
                    id: opts.id.clone(),
                    message: format!(
                        "skiff-shim start exited with {}: {}{}",
                        output.status,
                        stdout.trim(),
                        stderr.trim()
                    ),
                });
            }
        };
        let mut handle = ShimHandle::connect(&opts.state_dir)?;
        handle.shim_pid = Some(report.shim_pid);
        Ok(handle)
    }

    /// Finds the `skiff-shim` binary: next to the running executable, then
    /// on `PATH`.
    pub fn locate() -> Option<PathBuf> {
        let name = "skiff-shim";
        if let Ok(exe) = std::env::current_exe()
            && let Some(dir) = exe.parent()
        {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    }
}

/// A connection point to one shim.
#[derive(Debug, Clone)]
pub struct ShimHandle {
    state_dir: PathBuf,
    socket: PathBuf,
    shim_pid: Option<i32>,
}

impl ShimHandle {
    /// Connects to the shim of `state_dir` (e.g. after a skiffd restart) and
    /// checks that it answers.
    pub fn connect(state_dir: impl AsRef<Path>) -> Result<Self> {
        let handle = ShimHandle::at(state_dir);
        handle.state()?;
        Ok(handle)
    }

    /// The shim of `state_dir`, without checking that it answers (each
    /// call connects anew and fails then if it does not).
    pub fn at(state_dir: impl AsRef<Path>) -> Self {
        let state_dir = state_dir.as_ref().to_path_buf();
        ShimHandle {
            socket: paths::socket(&state_dir),
            state_dir,
            shim_pid: None,
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Pid of the shim daemon (from `shim.pid`).
    pub fn shim_pid(&self) -> Result<i32> {
        if let Some(pid) = self.shim_pid {
            return Ok(pid);
        }
        let path = self.state_dir.join(paths::PID_FILE);
        let text = std::fs::read_to_string(&path).map_err(FileError::on("read", &path))?;
        text.trim().parse().map_err(|_| Error::Protocol {
            path,
            message: format!("not a pid: {:?}", text.trim()),
        })
    }

    /// State of the container's init process.
    pub fn state(&self) -> Result<ProcessState> {
        self.call(&Request::State { exec_id: None })
    }

    /// State of an exec.
    pub fn exec_state(&self, exec_id: &str) -> Result<ProcessState> {
        self.call(&Request::State {
            exec_id: Some(exec_id.to_owned()),
        })
    }

    /// Starts a container spawned with `defer_start`.
    pub fn start(&self) -> Result<()> {
        self.call::<Empty>(&Request::Start).map(drop)
    }

    /// Sends `signal` to the container's init process.
    pub fn kill(&self, signal: i32) -> Result<()> {
        self.call::<Empty>(&Request::Kill {
            signal,
            exec_id: None,
        })
        .map(drop)
    }

    /// Sends `signal` to an exec.
    pub fn kill_exec(&self, exec_id: &str, signal: i32) -> Result<()> {
        self.call::<Empty>(&Request::Kill {
            signal,
            exec_id: Some(exec_id.to_owned()),
        })
        .map(drop)
    }

    /// Blocks until the container has exited and its output is drained.
    pub fn wait(&self) -> Result<ExitStatus> {
        self.call(&Request::Wait { exec_id: None })
    }

    /// Blocks until an exec has exited and its output is drained.
    pub fn wait_exec(&self, exec_id: &str) -> Result<ExitStatus> {
        self.call(&Request::Wait {
            exec_id: Some(exec_id.to_owned()),
        })
    }

    /// Attaches to the container's (or, with `exec_id`, an exec's) stdio.
    pub fn attach(&self, req: AttachRequest) -> Result<AttachStream> {
        let mut conn = self.open()?;
        conn.send(&Request::Attach(req))?;
        conn.receive::<Empty>()?;
        Ok(conn.into_attach())
    }

    /// Sets the pty size of the container (or of an exec).
    pub fn resize(&self, exec_id: Option<&str>, height: u16, width: u16) -> Result<()> {
        self.call::<Empty>(&Request::Resize {
            exec_id: exec_id.map(str::to_owned),
            height,
            width,
        })
        .map(drop)
    }

    /// Runs a new process in the container. With `req.attach` set, use
    /// [`ShimHandle::exec_attach`] instead.
    pub fn exec(&self, mut req: ExecRequest) -> Result<ExecInfo> {
        req.attach = None;
        self.call(&Request::Exec(Box::new(req)))
    }

    /// Runs a new process in the container and attaches to it on the same
    /// connection before it can print anything.
    pub fn exec_attach(
        &self,
        mut req: ExecRequest,
        attach: AttachRequest,
    ) -> Result<(ExecInfo, AttachStream)> {
        req.attach = Some(attach);
        let mut conn = self.open()?;
        conn.send(&Request::Exec(Box::new(req)))?;
        let info = conn.receive::<ExecInfo>()?;
        Ok((info, conn.into_attach()))
    }

    /// Freezes the container.
    pub fn pause(&self) -> Result<()> {
        self.call::<Empty>(&Request::Pause).map(drop)
    }

    /// Thaws the container.
    pub fn resume(&self) -> Result<()> {
        self.call::<Empty>(&Request::Resume).map(drop)
    }

    /// Deletes the container's runtime state; the shim then exits. Refused
    /// while it runs, unless `force` (SIGKILL, wait, delete).
    pub fn delete(&self, force: bool) -> Result<()> {
        self.call::<Empty>(&Request::Delete { force }).map(drop)
    }

    /// Reads `<state-dir>/exit.json`, written when the container exited
    /// (there even when the shim is gone). `None` if it has not exited.
    pub fn read_exit(state_dir: impl AsRef<Path>) -> Result<Option<ExitStatus>> {
        let path = paths::exit_file(state_dir.as_ref());
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| Error::Json { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FileError {
                op: "read",
                path,
                source,
            }
            .into()),
        }
    }

    fn open(&self) -> Result<Conn> {
        let stream = paths::connect(&self.socket).map_err(|source| Error::Connect {
            path: self.socket.clone(),
            source,
        })?;
        let writer = stream.try_clone().map_err(|source| Error::Io {
            path: self.socket.clone(),
            source,
        })?;
        Ok(Conn {
            path: self.socket.clone(),
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn call<T: DeserializeOwned>(&self, req: &Request) -> Result<T> {
        let mut conn = self.open()?;
        conn.send(req)?;
        conn.receive()
    }
}

struct Conn {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn send(&mut self, req: &impl Serialize) -> Result<()> {
        let mut line = serde_json::to_vec(req).map_err(|e| Error::Protocol {
            path: self.path.clone(),
            message: format!("cannot encode request: {e}"),
        })?;
        line.push(b'\n');
        self.writer.write_all(&line).map_err(|e| self.io(e))
    }

    fn receive<T: DeserializeOwned>(&mut self) -> Result<T> {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Io {
                path: self.path.clone(),
                source: e,
            })?;
        if line.is_empty() {
            return Err(Error::Protocol {
                path: self.path.clone(),
                message: "the shim closed the connection without answering".into(),
            });
        }
        match serde_json::from_slice::<Response<T>>(&line) {
            Ok(Response::Ok(v)) => Ok(v),
            Ok(Response::Error(e)) => Err(Error::Shim {
                kind: e.kind,
                message: e.message,
            }),
            Err(e) => Err(Error::Protocol {
                path: self.path.clone(),
                message: format!(
                    "bad response {:?}: {e}",
                    String::from_utf8_lossy(&line).trim()
                ),
            }),
        }
    }

    fn into_attach(self) -> AttachStream {
        AttachStream {
            path: self.path,
            reader: self.reader,
            writer: self.writer,
        }
    }
}

/// Everything an attach stream carried until its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// All stdout bytes.
    pub stdout: Vec<u8>,
    /// All stderr bytes.
    pub stderr: Vec<u8>,
    /// The exit status, if the stream ended with one.
    pub exit: Option<ExitStatus>,
}

/// An attached process's stdio: read frames, write stdin.
#[derive(Debug)]
pub struct AttachStream {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl AttachStream {
    /// An attach stream over an already connected socket whose next bytes
    /// are frames (one end of a socket pair, for a test double of a shim);
    /// `path` names it in errors.
    pub fn from_socket(sock: UnixStream, path: PathBuf) -> std::io::Result<Self> {
        let writer = sock.try_clone()?;
        Ok(AttachStream {
            path,
            reader: BufReader::new(sock),
            writer,
        })
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes bytes to the process's stdin (if the attach asked for stdin).
    pub fn write_stdin(&mut self, data: &[u8]) -> Result<()> {
        self.writer.write_all(data).map_err(|e| self.io(e))
    }

    /// Half-closes the connection: with `close_stdin`, the process's stdin
    /// is closed once what was written has been delivered.
    pub fn close_stdin(&self) -> Result<()> {
        self.writer
            .shutdown(Shutdown::Write)
            .map_err(|e| self.io(e))
    }

    /// A second handle on the socket, to write stdin from another thread.
    pub fn stdin_writer(&self) -> Result<UnixStream> {
        self.writer.try_clone().map_err(|e| self.io(e))
    }

    /// Sets a read timeout for [`AttachStream::next_frame`].
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.writer
            .set_read_timeout(timeout)
            .map_err(|e| self.io(e))
    }

    /// The next frame; `None` when the shim closed the stream.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let mut header = [0u8; FRAME_HEADER];
        match self.reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(self.io(e)),
        }
        let (stream, len) = decode_frame_header(header);
        check_frame_len(len, MAX_FRAME_LEN).map_err(|e| self.frame_error(e))?;
        let mut payload = vec![0u8; len];
        self.reader
            .read_exact(&mut payload)
            .map_err(|e| self.io(e))?;
        Frame::decode(stream, payload)
            .map(Some)
            .map_err(|e| self.frame_error(e))
    }

    fn frame_error(&self, source: FrameError) -> Error {
        Error::Frame {
            path: self.path.clone(),
            source,
        }
    }

    /// The raw socket and the bytes already read from it (the start of the
    /// frame stream). From async code, use `AttachStream::into_async`
    /// (feature `tokio`) instead.
    pub fn into_inner(self) -> (UnixStream, Vec<u8>) {
        let buffered = self.reader.buffer().to_vec();
        (self.writer, buffered)
    }

    /// Reads frames until the stream ends.
    pub fn collect(mut self) -> Result<Collected> {
        let mut out = Collected::default();
        while let Some(frame) = self.next_frame()? {
            match frame {
                Frame::Stdout(b) => out.stdout.extend_from_slice(&b),
                Frame::Stderr(b) => out.stderr.extend_from_slice(&b),
                Frame::Exit(s) => out.exit = Some(s),
            }
        }
        Ok(out)
    }
}
