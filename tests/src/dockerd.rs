//! A private Debian `dockerd` (20.10) for differential tests.
//!
//! [`Dockerd::start`] runs, inside a network and mount namespace of their
//! own (`unshare --net --mount --propagation slave`, loopback up, a tmpfs
//! over `/run` so dockerd's `/run/docker/plugins` never reaches the host):
//!
//! - a `docker-registry` on the namespace's `127.0.0.1:5000` over a copy of
//!   the fixture seed (so `docker pull busybox` resolves offline, through
//!   `--registry-mirror`, exactly as skiffd's own mirror does);
//! - a `containerd` of its own (socket, root and state in the temp dir);
//! - `dockerd` with its own data root, exec root, pidfile, config file and
//!   cgroup parent, `--iptables=false --ip6tables=false`, and the default
//!   bridge — which lives in the private namespace, never on the host.
//!
//! Its API socket is a Unix socket in the temp directory, so the test reaches
//! it from the host namespace. The namespaces disappear with the last of
//! these processes.
//!
//! [`Dockerd::start_beside`] runs it instead as a user's own Docker runs:
//! inside an existing network namespace (a test skiffd's, standing in for
//! a host that runs both engines) with dockerd's defaults — `docker0`,
//! iptables rules, IP forwarding, masquerade, the userland proxy. Only its
//! mount namespace is its own.
//!
//! On drop: SIGTERM to dockerd (SIGKILL after [`STOP_GRACE`]), SIGKILL to
//! every process left in its cgroup parent or naming its directory
//! (containerd, the registry, shims), the cgroup parent removed in every
//! hierarchy, mounts under the directory detached, the directory removed
//! (unless `SKIFF_KEEP_TMP=1`). When the test is panicking the tail of the
//! dockerd log is printed.
//!
//! Binaries: `$SKIFF_DOCKERD_BIN` (default `/usr/sbin/dockerd`),
//! `$SKIFF_CONTAINERD_BIN` (`/usr/bin/containerd`), and the registry of
//! [`crate::registry::registry_bin`].

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, IoContext, Result};
use crate::netns::{self, TestNetns};
use crate::{cgroups, fixtures, registry, skiffd, util};

/// Time dockerd gets to answer `/_ping` after starting.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Time dockerd gets to exit after SIGTERM before it is SIGKILLed.
pub const STOP_GRACE: Duration = Duration::from_secs(20);
/// The registry mirror's address inside dockerd's network namespace.
pub const MIRROR_IN_NAMESPACE: &str = "127.0.0.1:5000";
/// Lines of the dockerd log printed when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// The dockerd binary: `$SKIFF_DOCKERD_BIN`, `/usr/sbin/dockerd`, or
/// `dockerd` on `PATH`.
pub fn dockerd_bin() -> PathBuf {
    util::find_program("SKIFF_DOCKERD_BIN", &["/usr/sbin/dockerd"], "dockerd")
        .unwrap_or_else(|| PathBuf::from("dockerd"))
}

/// The containerd binary: `$SKIFF_CONTAINERD_BIN`, `/usr/bin/containerd`,
/// or `containerd` on `PATH`.
pub fn containerd_bin() -> PathBuf {
    util::find_program(
        "SKIFF_CONTAINERD_BIN",
        &["/usr/bin/containerd"],
        "containerd",
    )
    .unwrap_or_else(|| PathBuf::from("containerd"))
}

/// A running private dockerd; everything it started is removed on drop.
#[derive(Debug)]
pub struct Dockerd {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    socket: PathBuf,
    data_root: PathBuf,
    log: PathBuf,
    cgroup_parent: String,
    child: Option<Child>,
}

impl Dockerd {
    /// Starts registry, containerd and dockerd and waits for `/_ping`.
    /// Panics (with the log tails) on failure.
    pub fn start() -> Dockerd {
        match Self::try_start() {
            Ok(dockerd) => dockerd,
            Err(err) => panic!("starting dockerd: {err}"),
        }
    }

    /// Like [`Dockerd::start`], returning the error.
    pub fn try_start() -> Result<Dockerd> {
        Self::try_start_in(None)
    }

    /// Starts dockerd with its default networking inside `netns` (see the
    /// module docs). Panics (with the log tails) on failure.
    pub fn start_beside(netns: &TestNetns) -> Dockerd {
        match Self::try_start_in(Some(netns)) {
            Ok(dockerd) => dockerd,
            Err(err) => panic!("starting dockerd beside skiffd: {err}"),
        }
    }

    fn try_start_in(netns: Option<&TestNetns>) -> Result<Dockerd> {
        let seed = fixtures::try_seed()?;
        let dir = util::tempdir("skiff-dkd-")?;
        let root = dir.path().to_path_buf();
        let storage = root.join("registry");
        registry::copy_seed(&seed.registry_dir, &storage)?;
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("skiff-dkd-{}", std::process::id()));
        let cgroup_parent = format!("/{name}");
        let socket = root.join("docker.sock");
        if socket.as_os_str().len() >= 100 {
            return Err(HarnessError::SocketPathTooLong(socket));
        }
        let data_root = root.join("data");
        let log = root.join("dockerd.log");
        let files = [
            ("registry.yml", registry_config(&storage)),
            ("containerd.toml", containerd_config(&root)),
            // Our own daemon.json (never /etc/docker's); it also moves the
            // trust key 20.10 would create as /etc/docker/key.json.
            (
                "daemon.json",
                format!(
                    "{{\"deprecated-key-path\": \"{}\"}}\n",
                    root.join("key.json").display()
                ),
            ),
            ("run.sh", run_script(&root, &cgroup_parent, netns.is_none())),
        ];
        for (file, text) in files {
            let path = root.join(file);
            fs::write(&path, text).io_context(|| format!("writing {}", path.display()))?;
        }
        let out = File::create(&log).io_context(|| format!("creating {}", log.display()))?;
        let err = out
            .try_clone()
            .io_context(|| format!("duplicating the handle of {}", log.display()))?;
        let mut cmd = Command::new("unshare");
        match netns {
            None => cmd.arg("--net"),
            Some(ns) => netns::enter_before_exec(&mut cmd, ns),
        };
        let child = cmd
            .args(["--mount", "--propagation", "slave", "--", "sh"])
            .arg(root.join("run.sh"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .io_context(|| "running unshare … dockerd".to_string())?;
        let mut dockerd = Dockerd {
            dir: Some(dir),
            root,
            socket,
            data_root,
            log,
            cgroup_parent,
            child: Some(child),
        };
        dockerd.wait_ready()?;
        Ok(dockerd)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                let exited = child
                    .try_wait()
                    .io_context(|| "waiting for dockerd".to_string())?;
                if let Some(status) = exited {
                    self.child = None;
                    return Err(self.not_ready(format!("exited during startup ({status})")));
                }
            }
            if util::unix_http_get(&self.socket, "/_ping").is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if started.elapsed() >= START_TIMEOUT {
                return Err(self.not_ready(format!(
                    "did not answer GET /_ping on {} within {START_TIMEOUT:?}",
                    self.socket.display()
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn not_ready(&self, problem: String) -> HarnessError {
        let mut log = util::tail(&self.log, LOG_TAIL_LINES);
        for other in ["containerd.log", "registry.log"] {
            log.push_str(&format!("\n--- {other} ---\n"));
            log.push_str(&util::tail(&self.root.join(other), 10));
        }
        HarnessError::NotReady {
            program: "dockerd".to_string(),
            problem,
            log,
        }
    }

    /// The API socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The `--data-root` directory.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// The temp directory (data and exec roots, sockets, logs, configs).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The dockerd log (stdout and stderr of the start script and dockerd).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The cgroup parent of its containers (`/skiff-dkd-…`), the same in
    /// every hierarchy.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Stops dockerd and removes everything it left: processes, cgroups,
    /// mounts. Idempotent; [`Drop`] calls it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = util::stop_child(&mut child, STOP_GRACE);
        }
        cgroups::kill_members(&cgroups::dirs(&self.cgroup_parent));
        skiffd::kill_processes_under(&self.root);
        // Processes take a moment to leave their cgroups after SIGKILL.
        cgroups::clear(&self.cgroup_parent, Duration::from_secs(5));
        skiffd::unmount_under(&self.root);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if thread::panicking() {
            util::print_tail("dockerd log", &self.log, LOG_TAIL_LINES);
        }
        self.stop();
        if util::keep_tmp() {
            if let Some(dir) = self.dir.take() {
                eprintln!("skiff-e2e: keeping dockerd dir {}", dir.keep().display());
            }
        }
    }
}

fn registry_config(storage: &Path) -> String {
    format!(
        "version: 0.1\nlog:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: {MIRROR_IN_NAMESPACE}\n  secret: skiff-e2e\n",
        storage.display()
    )
}

fn containerd_config(root: &Path) -> String {
    let dir = root.join("containerd");
    format!(
        "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
         [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
         [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
        root = dir.join("root").display(),
        state = dir.join("state").display(),
        sock = root.join("ctr.sock").display(),
    )
}

/// The script run inside the new namespaces; it execs dockerd, so the
/// child's pid is dockerd's. `private_net`: the namespace is dockerd's
/// alone, so it needs no iptables rules or forwarding.
fn run_script(root: &Path, cgroup_parent: &str, private_net: bool) -> String {
    let r = root.display();
    let networking = if private_net {
        "--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false"
    } else {
        "--iptables=true --ip-forward=true --ip-masq=true"
    };
    format!(
        r#"set -eu
ip link set lo up
mount -t tmpfs -o mode=0755 skiff-dkd-run /run
{registry} serve {r}/registry.yml >{r}/registry.log 2>&1 </dev/null &
{containerd} --config {r}/containerd.toml >{r}/containerd.log 2>&1 </dev/null &
i=0
until [ -S {r}/ctr.sock ]; do
    i=$((i + 1))
    if [ "$i" -gt 600 ]; then echo "containerd did not create {r}/ctr.sock" >&2; exit 1; fi
    sleep 0.05
done
exec {dockerd} -H unix://{r}/docker.sock --config-file {r}/daemon.json \
    --data-root {r}/data --exec-root {r}/exec --pidfile {r}/dockerd.pid \
    --containerd {r}/ctr.sock --containerd-namespace skiff-diff \
    --containerd-plugins-namespace skiff-diff-plugins \
    --registry-mirror http://{mirror} --insecure-registry {mirror} \
    {networking} \
    --cgroup-parent {cgroup_parent} --exec-opt native.cgroupdriver=cgroupfs \
    --storage-driver overlay2 --shutdown-timeout 2
"#,
        registry = registry::registry_bin().display(),
        containerd = containerd_bin().display(),
        dockerd = dockerd_bin().display(),
        mirror = MIRROR_IN_NAMESPACE,
    )
}
