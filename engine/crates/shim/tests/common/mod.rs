//! Shared helpers of the shim's integration tests: a busybox rootfs, bundles,
//! spawning shims. The tests need root (namespaces, cgroups, mounts); as
//! another user they print why and pass without doing anything.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use skiff_shim::bundle::BundleConfig;
use skiff_shim::{Shim, ShimHandle, SpawnOptions};

/// The shim binary built with these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_skiff-shim");

/// Busybox applets linked into the test rootfs.
const APPLETS: &[&str] = &[
    "sh", "echo", "true", "false", "cat", "sleep", "id", "hostname", "tty", "stty", "ls", "ps",
    "ip", "env", "head", "wc", "yes", "dd",
];

/// Whether the tests can run (root, busybox present); prints why not.
pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: the shim tests need root");
        return false;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipping: /bin/busybox (busybox-static) is missing");
        return false;
    }
    true
}

/// A fresh [`World`] when the tests can run here (see [`can_run`]).
pub fn world() -> Option<World> {
    can_run().then(World::new)
}

/// An exec of `args` as `uid:uid` with `PATH=/bin` in `/`, without rlimits,
/// capabilities or `noNewPrivileges` (the shim fills those in), unattached.
pub fn exec_request(args: &[&str], uid: u32) -> skiff_shim::protocol::ExecRequest {
    use oci_spec::runtime::{ProcessBuilder, UserBuilder};
    let mut process = ProcessBuilder::default()
        .args(args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .env(vec!["PATH=/bin".to_owned()])
        .cwd("/")
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(uid)
                .build()
                .expect("user"),
        )
        .build()
        .expect("process");
    process.set_rlimits(None);
    process.set_capabilities(None);
    process.set_no_new_privileges(None);
    skiff_shim::protocol::ExecRequest {
        exec_id: None,
        process,
        tty: false,
        stdin: false,
        attach: None,
    }
}

/// A directory with a shared busybox rootfs and room for bundles and state
/// directories.
pub struct World {
    pub dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    /// Cgroup parent for this world's containers, e.g. `/skiff-test-1234`.
    pub cgroup_parent: String,
    /// State directories handed out, to clean up after a failed test.
    state_dirs: Mutex<Vec<PathBuf>>,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("skiff-shim-test")
            .tempdir()
            .expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy busybox");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink applet");
        }
        for d in ["proc", "dev", "sys", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
        }
        let cgroup_parent = format!(
            "/skiff-test-{}-{}",
            std::process::id(),
            dir.path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
                .trim_start_matches("skiff-shim-test")
        );
        World {
            dir,
            rootfs,
            cgroup_parent,
            state_dirs: Mutex::new(Vec::new()),
        }
    }

    /// A bundle config running `args` in the shared rootfs.
    pub fn config(&self, id: &str, args: &[&str]) -> BundleConfig {
        let mut cfg = BundleConfig::new(
            id,
            self.rootfs.clone(),
            args.iter().map(|s| (*s).to_owned()).collect(),
        );
        cfg.env = vec!["PATH=/bin".into(), "HOME=/root".into()];
        cfg.cgroups_path = Some(format!("{}/{id}", self.cgroup_parent));
        cfg.hostname = Some(id.to_owned());
        cfg
    }

    /// Writes the bundle of `cfg`; returns (bundle dir, state dir).
    pub fn write(&self, cfg: &BundleConfig) -> (PathBuf, PathBuf) {
        let bundle = self.dir.path().join("bundles").join(&cfg.id);
        cfg.write(&bundle).expect("write bundle");
        let state = self.dir.path().join("state").join(&cfg.id);
        if let Ok(mut dirs) = self.state_dirs.lock() {
            dirs.push(state.clone());
        }
        (bundle, state)
    }

    /// Records a state directory used outside [`World::write`], so that a
    /// failed test still cleans up its shim.
    pub fn track(&self, state_dir: &Path) {
        if let Ok(mut dirs) = self.state_dirs.lock() {
            dirs.push(state_dir.to_path_buf());
        }
    }

    /// Spawn options for `cfg` (bundle written).
    pub fn options(&self, cfg: &BundleConfig) -> SpawnOptions {
        let (bundle, state) = self.write(cfg);
        let mut opts = SpawnOptions::new(BIN, cfg.id.clone(), bundle, state);
        opts.timeout = Duration::from_secs(30);
        opts
    }

    /// Spawns a shim for `cfg` whose container is created but not started,
    /// so the test can attach before it prints; `stdin` keeps the
    /// container's stdin open. Returns the options too (for the state dir).
    pub fn spawn_created(&self, cfg: &BundleConfig, stdin: bool) -> (ShimHandle, SpawnOptions) {
        let mut opts = self.options(cfg);
        opts.stdin = stdin;
        opts.defer_start = true;
        let shim = Shim::spawn(&opts).expect("spawn");
        (shim, opts)
    }

    /// Spawns a shim for `args` and returns its handle.
    pub fn spawn(&self, id: &str, args: &[&str]) -> ShimHandle {
        let cfg = self.config(id, args);
        Shim::spawn(&self.options(&cfg)).expect("spawn shim")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A test that failed midway leaves shims running: force-delete them
        // (container killed, cgroup removed, shim gone) before the temporary
        // directory disappears.
        let dirs = self
            .state_dirs
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        for dir in dirs {
            if let Ok(shim) = ShimHandle::connect(&dir) {
                let _ = shim.delete(true);
            }
        }
        // Best effort: remove the (empty) cgroup parents this world used.
        for ctrl in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = ctrl.path().join(self.cgroup_parent.trim_start_matches('/'));
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// Pids of live processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Number of open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Parent pid of a process.
pub fn ppid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

/// Polls `f` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
