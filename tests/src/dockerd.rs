//! A reference dockerd (Debian's `docker.io`) for differential tests, shut
//! off from the host's own Docker, network and `/run`.
//!
//! [`RefDockerd::start`] runs dockerd with everything under a directory of
//! its own, in namespaces of its own (`unshare --net --mount`):
//! - a network namespace with only a loopback (brought up): `--bridge=none`
//!   makes dockerd delete any `docker0` it sees, which here is none of the
//!   host's; `--iptables=false --ip6tables=false --ip-forward=false
//!   --ip-masq=false` on top;
//! - a mount namespace (private propagation) with a tmpfs on `/run`: what
//!   dockerd, its containerd and runc put under `/run` by default
//!   (`/run/docker/plugins`, `/run/containerd/runc`) and every mount they
//!   make stay out of the host's, and dockerd finds no system containerd on
//!   `/run/containerd/containerd.sock`, so it supervises a private one
//!   (state under its data and exec roots, stopped with it);
//! - its own socket, data root, exec root, pidfile, `daemon.json` (never
//!   `/etc/docker/daemon.json`; the trust key goes under the directory, not
//!   to `/etc/docker/key.json`) and a cgroup parent named after the
//!   directory instead of the shared `/docker`.
//!
//! Dropping it stops dockerd (SIGTERM, then SIGKILL), kills any process
//! still naming its directory (its containerd, shims) and removes the
//! cgroup parent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::docker::DockerCli;
use crate::error::{HarnessError, IoContext, Result};
use crate::util;

/// Time dockerd gets to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Time dockerd gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Lines of dockerd's log shown when it does not come up.
const LOG_TAIL_LINES: usize = 40;

/// A dockerd (and the containerd it supervises) owned by one test.
#[derive(Debug)]
pub struct RefDockerd {
    dockerd: Option<Child>,
    dir: PathBuf,
    cgroup_parent: String,
    cli: DockerCli,
}

impl RefDockerd {
    /// Starts dockerd with its state in `parent/ref-dockerd` (`parent` must
    /// exist; keep it short: the directory holds dockerd's unix sockets)
    /// and waits until `docker version` answers.
    pub fn start(parent: &Path) -> Result<RefDockerd> {
        let dir = parent.join("ref-dockerd");
        fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        let name = parent
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dir".to_string());
        let mut this = RefDockerd {
            dockerd: None,
            cgroup_parent: format!("skiff-e2e-dockerd-{name}"),
            cli: DockerCli::new(
                format!("unix://{}", dir.join("dockerd.sock").display()),
                dir.join("cli"),
            ),
            dir,
        };
        this.spawn()?;
        Ok(this)
    }

    /// The docker CLI bound to this dockerd.
    pub fn cli(&self) -> &DockerCli {
        &self.cli
    }

    /// The directory holding dockerd's state and `dockerd.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn spawn(&mut self) -> Result<()> {
        let dir = &self.dir;
        let config = dir.join("daemon.json");
        let json = serde_json::json!({ "deprecated-key-path": dir.join("key.json") });
        fs::write(&config, json.to_string())
            .io_context(|| format!("writing {}", config.display()))?;
        let log = dir.join("dockerd.log");
        // The shell runs in the new namespaces: a tmpfs on /run (-n: no
        // utab in the host's /run/mount), lo up, then it becomes dockerd.
        let child = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", SETUP_AND_EXEC, "dockerd"])
            .arg("-H")
            .arg(self.cli.host())
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.cgroup_parent))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).io_context(|| format!("creating {}", log.display()))?)
            .spawn()
            .io_context(|| "running unshare … dockerd (util-linux, docker.io)".to_string())?;
        self.dockerd = Some(child);
        let started = Instant::now();
        while !self.cli.run(&["version"]).success() {
            let problem = match self.dockerd.as_mut().map(Child::try_wait) {
                Some(Ok(None)) if started.elapsed() < START_TIMEOUT => {
                    thread::sleep(Duration::from_millis(200));
                    continue;
                }
                Some(Ok(None)) => format!("did not answer within {START_TIMEOUT:?}"),
                Some(Ok(Some(status))) => format!("exited during startup ({status})"),
                Some(Err(err)) => format!("cannot be waited for: {err}"),
                None => "is not running".to_string(),
            };
            return Err(HarnessError::NotReady {
                program: "dockerd".to_string(),
                problem,
                log: util::tail(&log, LOG_TAIL_LINES),
            });
        }
        Ok(())
    }
}

/// Run by `sh -c` inside the new namespaces; `$0 "$@"` is dockerd's command.
const SETUP_AND_EXEC: &str = "mount -n -t tmpfs -o mode=0755,size=64m skiff-e2e-run /run \
     && ip link set lo up && exec \"$0\" \"$@\"";

impl Drop for RefDockerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.dockerd.take() {
            let _ = util::stop_child(&mut child, STOP_GRACE);
        }
        // Its containerd (and shims) if dockerd had to be SIGKILLed.
        crate::skiffd::kill_processes_under(&self.dir);
        // dockerd creates its cgroup parent in every hierarchy once it runs
        // a container; empty by now.
        let base = Path::new("/sys/fs/cgroup");
        if let Ok(hierarchies) = fs::read_dir(base) {
            for h in hierarchies.flatten() {
                let _ = fs::remove_dir(h.path().join(&self.cgroup_parent));
            }
        }
        let _ = fs::remove_dir(base.join(&self.cgroup_parent));
    }
}
