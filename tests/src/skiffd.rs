//! Starts and stops `skiffd` for one test.
//!
//! Each [`Skiffd`] gets its own temp directory holding the data root
//! (`data/`), the API socket (`docker.sock`), the daemon log (`skiffd.log`,
//! stderr and stdout, appended across restarts), the daemon config file
//! (`daemon.json`) and the docker CLI config dir (`docker-config/`). By
//! default it also gets its own seeded [`Registry`] as `--registry-mirror`
//! (and `--insecure-registry`), so `docker pull busybox` resolves offline.
//!
//! The daemon is ready when `GET /_ping` on the socket answers 200 `OK`.
//! On drop it is stopped (SIGTERM, then SIGKILL), leftover processes that
//! mention its data root are killed, mounts under its directory are
//! detached, and — when the test is panicking — the tail of its log is
//! printed. `SKIFF_KEEP_TMP=1` keeps the directory.
//!
//! The daemon runs in a network namespace of its own ([`TestNetns`], kept
//! across restarts, gone with the `Skiffd`): its bridges, nftables table and
//! published ports never touch the host's namespace. Registries on the
//! host's loopback that it is given (mirrors, insecure registries, ports
//! named in `daemon.json` or the arguments, [`SkiffdOpts::forward`]) are
//! relayed into the namespace's loopback on the same port. Tests reach
//! published ports through [`Skiffd::netns`].
//!
//! The binary is `$SKIFFD_BIN` or `<target>/debug/skiffd`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::cgroups;
use crate::docker::{CmdOutput, DockerCli};
use crate::error::{HarnessError, IoContext, Result};
use crate::netns::{TestNetns, loopback_ports};
use crate::registry::Registry;
use crate::util;

/// Default time skiffd gets to answer `/_ping` after starting.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Time skiffd gets to exit after SIGTERM before it is SIGKILLed.
pub const STOP_GRACE: Duration = Duration::from_secs(15);
/// Lines of the daemon log printed when a test fails.
const LOG_TAIL_LINES: usize = 80;

/// The skiffd binary: `$SKIFFD_BIN`, else `<target>/debug/skiffd`.
pub fn skiffd_bin() -> PathBuf {
    match std::env::var_os("SKIFFD_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => util::target_dir().join("debug/skiffd"),
    }
}

/// How to start skiffd. `SkiffdOpts::default()` gives a daemon with its own
/// seeded registry as mirror and an empty `daemon.json`.
#[derive(Debug, Clone)]
pub struct SkiffdOpts {
    /// `--registry-mirror` URLs. `None` (the default) starts a private
    /// seeded [`Registry`] and uses it (also as `--insecure-registry`);
    /// `Some(vec![])` passes no mirror (e.g. when `daemon.json` has
    /// `registry-mirrors`, which dockerd refuses in both places).
    pub mirrors: Option<Vec<String>>,
    /// `--insecure-registry HOST:PORT` values.
    pub insecure_registries: Vec<String>,
    /// Contents of `daemon.json`, passed as `--config-file` (`{}` when
    /// `None`, so the host's `/etc/docker/daemon.json` never applies).
    pub config_json: Option<String>,
    /// Further command-line arguments.
    pub extra_args: Vec<String>,
    /// Environment variables for the daemon (`RUST_BACKTRACE=1`,
    /// `RUST_LIB_BACKTRACE=0` and `NO_COLOR=1` are set unless given).
    pub env: Vec<(String, String)>,
    /// Time the daemon gets to answer `/_ping`.
    pub start_timeout: Duration,
    /// More host loopback ports to relay into the daemon's namespace.
    pub forward: Vec<u16>,
    /// Set up everything (directory, registry, namespace) but leave the
    /// daemon stopped: the test starts it with [`Skiffd::restart`], e.g.
    /// after it put something else in [`Skiffd::netns`] first.
    pub stopped: bool,
}

impl Default for SkiffdOpts {
    fn default() -> Self {
        SkiffdOpts {
            mirrors: None,
            insecure_registries: Vec::new(),
            config_json: None,
            extra_args: Vec::new(),
            env: Vec::new(),
            start_timeout: DEFAULT_START_TIMEOUT,
            forward: Vec::new(),
            stopped: false,
        }
    }
}

impl SkiffdOpts {
    /// Leaves the daemon stopped (see [`SkiffdOpts::stopped`]).
    pub fn stopped(mut self) -> Self {
        self.stopped = true;
        self
    }

    /// Uses exactly these mirrors (no private registry is started).
    pub fn mirrors<I: IntoIterator<Item = S>, S: Into<String>>(mut self, urls: I) -> Self {
        self.mirrors = Some(urls.into_iter().map(Into::into).collect());
        self
    }

    /// Uses `registry` as the only mirror (and insecure registry).
    pub fn mirror_of(self, registry: &Registry) -> Self {
        self.mirrors([registry.url()])
            .insecure_registry(registry.host())
    }

    /// No mirror and no private registry.
    pub fn no_mirror(mut self) -> Self {
        self.mirrors = Some(Vec::new());
        self
    }

    /// Adds an `--insecure-registry`.
    pub fn insecure_registry(mut self, host: impl Into<String>) -> Self {
        self.insecure_registries.push(host.into());
        self
    }

    /// Sets the contents of `daemon.json`.
    pub fn config_json(mut self, json: impl Into<String>) -> Self {
        self.config_json = Some(json.into());
        self
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Relays the host's `127.0.0.1:port` into the daemon's namespace
    /// (e.g. a token server named only in a registry's answers).
    pub fn forward(mut self, port: u16) -> Self {
        self.forward.push(port);
        self
    }

    /// Sets the start timeout.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }
}

/// A skiffd owned by one test.
#[derive(Debug)]
pub struct Skiffd {
    // Field order matters for drop: the daemon is stopped in Drop::drop,
    // then the registry goes, then the directory.
    registry: Option<Registry>,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    data_root: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    start_timeout: Duration,
    child: Option<Child>,
    starts: usize,
    docker: DockerCli,
    /// Dropped after the daemon is stopped (fields drop after `drop`).
    netns: TestNetns,
    /// The cgroup parent the harness gave the daemon (`None` when the test
    /// set one itself).
    cgroup_parent: Option<String>,
}

impl Skiffd {
    /// Starts skiffd and waits for `/_ping`. Panics (with the log tail) on
    /// failure.
    pub fn start(opts: SkiffdOpts) -> Skiffd {
        match Self::try_start(opts) {
            Ok(skiffd) => skiffd,
            Err(err) => panic!("starting skiffd: {err}"),
        }
    }

    /// Starts skiffd with [`SkiffdOpts::default()`].
    pub fn start_default() -> Skiffd {
        Self::start(SkiffdOpts::default())
    }

    /// Starts skiffd; the error carries the daemon's log tail (for tests
    /// that expect a start to fail, e.g. on a bad config file).
    pub fn try_start(opts: SkiffdOpts) -> Result<Skiffd> {
        let bin = skiffd_bin();
        if !bin.is_file() {
            return Err(HarnessError::SkiffdBinaryMissing(bin));
        }
        let dir = util::tempdir("skiff-e2e-")?;
        let root = dir.path().to_path_buf();
        let data_root = root.join("data");
        let socket = root.join("docker.sock");
        let log = root.join("skiffd.log");
        let docker_config = root.join("docker-config");
        for path in [&data_root, &docker_config] {
            fs::create_dir_all(path).io_context(|| format!("creating {}", path.display()))?;
        }
        if socket.as_os_str().len() >= 100 {
            return Err(HarnessError::SocketPathTooLong(socket));
        }
        let config_file = root.join("daemon.json");
        fs::write(&config_file, opts.config_json.as_deref().unwrap_or("{}"))
            .io_context(|| format!("writing {}", config_file.display()))?;

        let (registry, mirrors, mut insecure) = match opts.mirrors {
            Some(mirrors) => (None, mirrors, Vec::new()),
            None => {
                let registry = Registry::try_start(crate::registry::RegistryAuth::None, true)?;
                let mirrors = vec![registry.url()];
                let insecure = vec![registry.host()];
                (Some(registry), mirrors, insecure)
            }
        };
        insecure.extend(opts.insecure_registries);

        let mut args: Vec<OsString> = vec![
            "-H".into(),
            format!("unix://{}", socket.display()).into(),
            "--data-root".into(),
            data_root.clone().into(),
            "--config-file".into(),
            config_file.into(),
        ];
        for mirror in &mirrors {
            args.push("--registry-mirror".into());
            args.push(mirror.into());
        }
        for host in &insecure {
            args.push("--insecure-registry".into());
            args.push(host.into());
        }
        // A cgroup parent of its own (unless the test sets one), so its
        // containers share no cgroup with another test's or a user's
        // engine, and the drop removes the whole tree.
        let set_by_test = opts
            .extra_args
            .iter()
            .any(|a| a.starts_with("--cgroup-parent"))
            || opts
                .config_json
                .as_deref()
                .is_some_and(|j| j.contains("\"cgroup-parent\""));
        let cgroup_parent = if set_by_test {
            None
        } else {
            let name = root.file_name().map(|n| n.to_string_lossy().into_owned());
            let parent = format!("/{}", name.unwrap_or_else(|| "skiff-e2e".into()));
            args.push("--cgroup-parent".into());
            args.push(parent.clone().into());
            Some(parent)
        };
        args.extend(opts.extra_args.into_iter().map(OsString::from));

        let mut env = opts.env;
        // Backtraces for panics, not for every error value the daemon
        // creates (RUST_LIB_BACKTRACE=0); plain logs.
        for (key, value) in [
            ("RUST_BACKTRACE", "1"),
            ("RUST_LIB_BACKTRACE", "0"),
            ("NO_COLOR", "1"),
        ] {
            if !env.iter().any(|(k, _)| k == key) {
                env.push((key.to_string(), value.to_string()));
            }
        }
        let docker = DockerCli::new(format!("unix://{}", socket.display()), docker_config);
        let mut netns = TestNetns::new()?;
        let mut ports = opts.forward.clone();
        for text in mirrors
            .iter()
            .chain(&insecure)
            .cloned()
            .chain(opts.config_json.clone())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        {
            ports.extend(loopback_ports(&text));
        }
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            netns.forward(port)?;
        }
        let mut skiffd = Skiffd {
            registry,
            dir: Some(dir),
            root,
            data_root,
            socket,
            log,
            args,
            env,
            start_timeout: opts.start_timeout,
            child: None,
            starts: 0,
            docker,
            netns,
            cgroup_parent,
        };
        if !opts.stopped {
            skiffd.spawn()?;
        }
        Ok(skiffd)
    }

    fn spawn(&mut self) -> Result<()> {
        let bin = skiffd_bin();
        self.starts += 1;
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .io_context(|| format!("opening {}", self.log.display()))?;
        writeln!(
            log,
            "===== skiff-e2e: start #{}: {} {} =====",
            self.starts,
            bin.display(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )
        .io_context(|| format!("writing {}", self.log.display()))?;
        // A stale socket file from a killed daemon must not look ready.
        let _ = fs::remove_file(&self.socket);
        let log_out = log
            .try_clone()
            .io_context(|| format!("duplicating the handle of {}", self.log.display()))?;
        let mut cmd = Command::new(&bin);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log_out)
            .stderr(log);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        // The TestNetns lives as long as `self`, past the spawn.
        crate::netns::enter_before_exec(&mut cmd, &self.netns);
        let child = cmd
            .spawn()
            .io_context(|| format!("running {}", bin.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(self.not_ready("is not running".to_string()));
            };
            let pid = child.id();
            let exited = child
                .try_wait()
                .io_context(|| format!("waiting for skiffd (pid {pid})"))?;
            if let Some(status) = exited {
                self.child = None;
                return Err(self.not_ready(format!("exited during startup ({status})")));
            }
            if self.ping() {
                return Ok(());
            }
            if started.elapsed() >= self.start_timeout {
                if let Some(mut child) = self.child.take() {
                    let _ = util::stop_child(&mut child, Duration::from_secs(2));
                }
                return Err(self.not_ready(format!(
                    "did not answer GET /_ping on {} within {:?}",
                    self.socket.display(),
                    self.start_timeout
                )));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// A startup failure with the tail of the daemon log.
    fn not_ready(&self, problem: String) -> HarnessError {
        HarnessError::NotReady {
            program: "skiffd".to_string(),
            problem,
            log: util::tail(&self.log, LOG_TAIL_LINES),
        }
    }

    /// True when `GET /_ping` answers 200 `OK` right now.
    pub fn ping(&self) -> bool {
        match util::unix_http_get(&self.socket, "/_ping") {
            Ok(resp) => resp.status == 200 && resp.body == b"OK",
            Err(_) => false,
        }
    }

    /// Stops the daemon gracefully (SIGTERM; SIGKILL after [`STOP_GRACE`])
    /// and starts it again on the same data root and socket. Panics if the
    /// new daemon does not come up. Also starts a stopped or killed daemon.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(err) = self.spawn() {
            panic!("restarting skiffd: {err}");
        }
    }

    /// Like [`Skiffd::restart`], returning the startup error.
    pub fn try_restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after [`STOP_GRACE`]) and
    /// returns its exit status; `None` if it was not running.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        match util::stop_child(&mut child, STOP_GRACE) {
            Ok(status) => Some(status),
            Err(err) => panic!("stopping skiffd: {err}"),
        }
    }

    /// Sends SIGKILL and reaps the daemon (crash simulation). Start it again
    /// with [`Skiffd::restart`].
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = util::signal_child(&child, Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Sets (`Some`) or removes (`None`) an environment variable of the
    /// daemon from its next start on (e.g. `SKIFF_FAILPOINTS`).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_string(), value.to_string()));
        }
    }

    /// Waits up to `timeout` for the daemon to exit by itself (a crash
    /// point, a fatal error) and reaps it: its exit status, or `None` if it
    /// still runs (it is left running) or was not running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match util::wait_timeout(child, timeout) {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            Ok(None) => None,
            Err(err) => panic!("waiting for skiffd: {err}"),
        }
    }

    /// `docker run -d busybox sleep 1000` (busybox pulled already): the
    /// container's id and its process's pid on the host.
    ///
    /// # Panics
    /// If the run fails or inspect's pid is not a number.
    pub fn run_sleeper(&self) -> (String, i32) {
        let id = self
            .docker_ok(&["run", "-d", "busybox", "sleep", "1000"])
            .trim()
            .to_owned();
        let pid = self.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &id]);
        let pid = pid
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("pid {pid:?} of {id}: {e}"));
        (id, pid)
    }

    /// Waits up to 20 s for container `id` to be `exited`; its exit code.
    ///
    /// # Panics
    /// If it is not exited in time, or inspect's code is not a number.
    pub fn wait_container_exit(&self, id: &str) -> i64 {
        let state = |field: &str| {
            self.docker_ok(&["inspect", "-f", &format!("{{{{.State.{field}}}}}"), id])
                .trim()
                .to_owned()
        };
        util::wait_until(
            "the container to be exited",
            Duration::from_secs(20),
            || state("Status") == "exited",
        );
        let code = state("ExitCode");
        code.parse()
            .unwrap_or_else(|e| panic!("exit code {code:?} of {id}: {e}"))
    }

    /// The report of `skiffd check` on the data root, and whether it found
    /// no problem (notes — interrupted work a start removes — allowed).
    pub fn check_report(&self) -> (bool, String) {
        let out = Command::new(skiffd_bin())
            .arg("check")
            .arg("--data-root")
            .arg(&self.data_root)
            .output()
            .unwrap_or_else(|e| panic!("running skiffd check: {e}"));
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let clean = out.status.success() && report.lines().any(|l| l == "clean");
        (clean, report)
    }

    /// Panics with the report unless `skiffd check` finds the data root
    /// consistent (the daemon may be running but should be idle).
    pub fn assert_consistent(&self) {
        let (clean, report) = self.check_report();
        assert!(
            clean,
            "skiffd check {}:\n{report}",
            self.data_root.display()
        );
    }

    /// [`Skiffd::assert_consistent`], and no interrupted work left either:
    /// what a daemon start (or a failed operation's cleanup) must leave.
    pub fn assert_consistent_and_swept(&self) {
        let (clean, report) = self.check_report();
        assert!(
            clean,
            "skiffd check {}:\n{report}",
            self.data_root.display()
        );
        assert!(
            !report.lines().any(|l| l.starts_with("note: ")),
            "interrupted work left behind:\n{report}"
        );
    }

    /// Sends a signal to the running daemon (e.g. SIGHUP to reload).
    pub fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            if let Err(err) = util::signal_child(child, signal) {
                panic!("sending {signal} to skiffd: {err}");
            }
        }
    }

    /// True while the daemon process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The daemon's pid, when running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The network namespace the daemon runs in (connect to published
    /// ports through it).
    pub fn netns(&self) -> &TestNetns {
        &self.netns
    }

    /// The API socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix:///…/docker.sock` (for `DOCKER_HOST`).
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The `--data-root` directory.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// Every existing cgroup directory of container `id` of this daemon:
    /// `<parent>/<id>` in each cgroup v1 hierarchy, or in the unified one.
    pub fn container_cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        let parent = self.cgroup_parent().expect("the harness's cgroup parent");
        cgroups::dirs(&format!("{parent}/{id}"))
            .into_iter()
            .filter(|p| p.is_dir())
            .collect()
    }

    /// The `--cgroup-parent` the harness gave the daemon (its containers'
    /// cgroups are `<parent>/<id>`); `None` when the test set its own.
    pub fn cgroup_parent(&self) -> Option<&str> {
        self.cgroup_parent.as_deref()
    }

    /// The test's temp directory (data root, socket, logs, configs).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The daemon log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The whole daemon log so far.
    pub fn logs(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the daemon log.
    pub fn log_tail(&self, lines: usize) -> String {
        util::tail(&self.log, lines)
    }

    /// The private registry started for this daemon (default options).
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// Mutable access to the private registry (e.g. to stop it).
    pub fn registry_mut(&mut self) -> Option<&mut Registry> {
        self.registry.as_mut()
    }

    /// The docker CLI bound to this daemon and the test's config dir.
    pub fn docker(&self) -> &DockerCli {
        &self.docker
    }

    /// `docker ARGS`, whatever the outcome.
    pub fn docker_run(&self, args: &[&str]) -> CmdOutput {
        self.docker.run(args)
    }

    /// `docker ARGS`, panicking with its stderr unless it exits 0; returns
    /// stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        self.docker.ok(args)
    }

    /// `docker ARGS`, panicking if it exits 0; returns `(code, stderr)`.
    pub fn docker_fail(&self, args: &[&str]) -> (i32, String) {
        self.docker.fail(args)
    }

    /// `docker events --since 0 --until <now>` with a `--filter` for each
    /// of `filters` and `--format format`: the events of the daemon's
    /// history up to now, panicking unless the CLI exits 0. `now` is given
    /// to the nanosecond: the CLI turns `--until 0s` into whole seconds
    /// (for dockerd too), which would leave out this second's events.
    pub fn past_events(&self, filters: &[&str], format: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let mut args = vec!["events", "--since", "0", "--until", &until];
        for filter in filters {
            args.extend(["--filter", *filter]);
        }
        args.extend(["--format", format]);
        self.docker_ok(&args)
    }

    /// A bollard client on the socket (use inside a tokio runtime).
    pub fn bollard(&self) -> bollard::Docker {
        crate::client::bollard_client(&self.socket)
    }

    /// Kills processes left behind by this daemon — its containers' (by
    /// their cgroups, which it then removes) and any process whose root,
    /// working directory or command line lies under the data root (shims) —
    /// and detaches mounts under the test directory.
    fn cleanup_leftovers(&self) {
        // A test that set its own parent cleans it up itself.
        if let Some(parent) = &self.cgroup_parent {
            cgroups::kill_members(&cgroups::dirs(parent));
        }
        kill_processes_under(&self.data_root);
        unmount_under(&self.root);
        if let Some(parent) = &self.cgroup_parent {
            cgroups::clear(parent, Duration::from_secs(3));
        }
    }
}

impl Drop for Skiffd {
    fn drop(&mut self) {
        if thread::panicking() {
            util::print_tail("skiffd log", &self.log, LOG_TAIL_LINES);
        }
        if let Some(mut child) = self.child.take() {
            let _ = util::stop_child(&mut child, STOP_GRACE);
        }
        self.cleanup_leftovers();
        if util::keep_tmp() {
            if let Some(dir) = self.dir.take() {
                eprintln!("skiff-e2e: keeping skiffd dir {}", dir.keep().display());
            }
        }
    }
}

/// SIGKILLs every process (but this one) whose root, cwd or command line
/// mentions `dir`.
pub fn kill_processes_under(dir: &Path) {
    let me = std::process::id();
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let proc_dir = entry.path();
        let mentions = ["root", "cwd"].iter().any(|link| {
            fs::read_link(proc_dir.join(link)).is_ok_and(|target| target.starts_with(dir))
        }) || fs::read(proc_dir.join("cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle));
        if mentions {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Lazily unmounts every mount point under `dir`, deepest first.
pub(crate) fn unmount_under(dir: &Path) {
    let Ok(mounts) = skiff_mountinfo::read_self() else {
        return;
    };
    let mut points: Vec<PathBuf> = mounts
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|path| path.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for point in points {
        let Ok(c_path) = std::ffi::CString::new(point.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: `c_path` is a valid NUL-terminated string that outlives
        // the call; umount2 does not retain the pointer.
        unsafe {
            libc::umount2(c_path.as_ptr(), libc::MNT_DETACH);
        }
    }
}
