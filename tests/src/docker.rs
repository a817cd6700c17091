//! Runs the real `docker` CLI against a skiffd socket.
//!
//! Every command gets `DOCKER_HOST` (the skiffd socket) and `DOCKER_CONFIG`
//! (a per-test directory, so `docker login` credentials never leak into
//! `~/.docker` or between tests); context/TLS variables of the caller's
//! environment are removed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util;

/// Default time limit for one docker command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// The docker CLI binary: `$DOCKER_CLI`, else `/usr/local/bin/docker` (the
/// docker 28 CLI; Debian's `/usr/bin/docker` is 20.10), else `docker` on
/// `PATH`.
pub fn docker_bin() -> PathBuf {
    util::find_program("DOCKER_CLI", &["/usr/local/bin/docker"], "docker")
        .unwrap_or_else(|| PathBuf::from("docker"))
}

/// What a finished docker command printed and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Exit code; `-1` when killed by a signal.
    pub code: i32,
}

impl CmdOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// A docker CLI bound to one daemon socket and one config directory.
#[derive(Debug, Clone)]
pub struct DockerCli {
    bin: PathBuf,
    host: String,
    config_dir: PathBuf,
    envs: Vec<(String, String)>,
    timeout: Duration,
}

impl DockerCli {
    /// A CLI talking to `host` (e.g. `unix:///tmp/x/docker.sock`) with
    /// `DOCKER_CONFIG=config_dir`.
    pub fn new(host: impl Into<String>, config_dir: impl Into<PathBuf>) -> DockerCli {
        DockerCli {
            bin: docker_bin(),
            host: host.into(),
            config_dir: config_dir.into(),
            envs: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same CLI with an extra environment variable for every command.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> DockerCli {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// The same CLI with another per-command time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> DockerCli {
        self.timeout = timeout;
        self
    }

    /// The same environment running another program, e.g. Compose v1's
    /// `docker-compose`, which reads the same `DOCKER_HOST`.
    pub fn with_program(mut self, bin: impl Into<PathBuf>) -> DockerCli {
        self.bin = bin.into();
        self
    }

    /// Whether the Compose v2 plugin (`docker compose`,
    /// scripts/install-compose.sh) answers `version` with a v2 version;
    /// when it is missing, prints that `test` is skipped.
    pub fn has_compose_v2(&self, test: &str) -> bool {
        let version = self.run(&["compose", "version"]);
        if version.code != 0 {
            eprintln!(
                "{test}: skipped: no `docker compose` (scripts/install-compose.sh): {}",
                version.stderr
            );
            return false;
        }
        assert!(version.stdout.contains("v2."), "{}", version.stdout);
        true
    }

    /// The `DOCKER_HOST` value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `DOCKER_CONFIG` directory (holds `config.json` after a login).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The binary being run.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// A `Command` for `docker ARGS` with the environment set up, for
    /// callers that need to spawn it themselves (long-running `attach`,
    /// `events`, `logs -f`, …).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config_dir)
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION");
        for (key, value) in &self.envs {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs `docker ARGS` with no stdin. Panics if it cannot be started or
    /// runs longer than the time limit.
    pub fn run(&self, args: &[&str]) -> CmdOutput {
        self.exec(args, None)
    }

    /// Runs `docker ARGS` feeding `stdin` (e.g. `docker login
    /// --password-stdin`, `docker load`, `docker run -i`).
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> CmdOutput {
        self.exec(args, Some(stdin))
    }

    /// Runs `docker ARGS`, panics (with stdout and stderr) unless it exits
    /// 0, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if !out.success() {
            panic!(
                "`docker {}` failed with exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.code,
                out.stdout,
                out.stderr
            );
        }
        out.stdout
    }

    /// Runs `docker ARGS`, panics (with its stdout) if it exits 0, and
    /// returns `(exit code, stderr)`.
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        if out.success() {
            panic!(
                "`docker {}` succeeded but was expected to fail\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.stdout,
                out.stderr
            );
        }
        (out.code, out.stderr)
    }

    fn exec(&self, args: &[&str], stdin: Option<&[u8]>) -> CmdOutput {
        let shown = format!("docker {}", args.join(" "));
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot run `{shown}` ({}): {err}; set DOCKER_CLI to a docker >= 28 CLI",
                self.bin.display()
            ),
        };
        let writer = match (stdin, child.stdin.take()) {
            (Some(data), Some(mut pipe)) => {
                let data = data.to_vec();
                // A command that exits without reading its stdin closes the
                // pipe: the write error is expected then.
                Some(thread::spawn(move || {
                    let _ = pipe.write_all(&data);
                }))
            }
            _ => None,
        };
        let stdout = child.stdout.take().map(reader);
        let stderr = child.stderr.take().map(reader);
        let started = Instant::now();
        let status = match util::wait_timeout(&mut child, self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = stdout.map(join).unwrap_or_default();
                let stderr = stderr.map(join).unwrap_or_default();
                panic!(
                    "`{shown}` timed out after {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                    started.elapsed()
                );
            }
            Err(err) => panic!("waiting for `{shown}`: {err}"),
        };
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        CmdOutput {
            stdout: stdout.map(join).unwrap_or_default(),
            stderr: stderr.map(join).unwrap_or_default(),
            code: status.code().unwrap_or(-1),
        }
    }
}

fn reader<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn join(handle: thread::JoinHandle<Vec<u8>>) -> String {
    let bytes = handle.join().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}
