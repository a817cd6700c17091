//! The VM killed mid-write (issue 19 §4), checked in the one boot of
//! `machine_e2e` that already ends with a QEMU SIGKILL: the kill now lands
//! while a container writes to a volume (fsync after every file) and
//! `docker pull big` (5 × 20 MiB layers) is under way. The next `skiff
//! machine start` says the machine was not shut down cleanly and that the
//! data disk was recovered (its ext4 journal, replayed at mount), `skiffd
//! check` in the VM finds the data root consistent, a write acknowledged
//! (synced) before the kill is still in the volume, and the pull, redone,
//! completes.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use skiff_e2e::DockerCli;

/// The volume the writer fills.
const VOLUME: &str = "crash-vol";

/// Writes in flight when QEMU is killed: the pull (the `docker pull`
/// process) and the volume writer (a detached container).
pub struct Writes {
    pull: Child,
}

/// Starts the writes and returns once both are under way: the writer has
/// synced a few files, the pull has started downloading.
pub fn start(docker: &DockerCli) -> Writes {
    docker.ok(&["volume", "create", VOLUME]);
    let bind = format!("{VOLUME}:/data");
    // Acknowledged before the kill: written and synced.
    docker.ok(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/acked && sync",
    ]);
    docker.ok(&[
        "run",
        "-d",
        "--name",
        "crash-writer",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do dd if=/dev/urandom of=/data/f$i bs=64k count=16 conv=fsync 2>/dev/null; i=$((i+1)); done",
    ]);
    let pull = docker
        .command(&["pull", "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker pull big");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let files = docker.ok(&["exec", "crash-writer", "sh", "-c", "ls /data | wc -l"]);
        let files: u32 = files.trim().parse().unwrap_or(0);
        if files >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the writer wrote {files} files");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Into the download (under TCG it lasts tens of seconds).
    std::thread::sleep(Duration::from_secs(2));
    Writes { pull }
}

impl Writes {
    /// After the kill: the pull's client ended (its connection broke).
    pub fn pull_ended(mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.pull.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "docker pull still runs");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// After the next start (its progress on stderr: `progress`): what it said,
/// the checker inside the VM, the acknowledged write, the pull redone.
pub fn recovered(
    skiff: impl Fn(&[&str]) -> std::process::Output,
    docker: &DockerCli,
    progress: &str,
) {
    assert!(
        progress.contains("the machine was not shut down cleanly last time"),
        "{progress}"
    );
    assert!(
        progress.contains("the data disk was recovered"),
        "{progress}"
    );
    for line in progress
        .lines()
        .filter(|l| l.contains("cleanly") || l.contains("recovered"))
    {
        eprintln!("start after the kill: {line}");
    }
    check_clean(&skiff, "after the kill");
    eprintln!("skiffd check in the VM after the kill: clean");
    let bind = format!("{VOLUME}:/data");
    let acked = docker.ok(&["run", "--rm", "-v", &bind, "busybox", "cat", "/data/acked"]);
    assert_eq!(acked, "kept\n", "a synced write lost");
    let out = docker.ok(&["pull", "big"]);
    assert!(out.contains("Status: "), "{out}");
    let layers = docker.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", "big"]);
    assert_eq!(layers.trim(), "5");
    docker.ok(&["rm", "-f", "crash-writer"]);
    docker.ok(&["volume", "rm", VOLUME]);
    docker.ok(&["rmi", "big"]);
    // The checker once more, with the redone pull and the removals.
    check_clean(&skiff, "after the redone pull and the removals");
}

/// `skiffd check` in the VM (through `skiff machine shell`) exits 0 and
/// reports `clean`; `when` names the moment in the failure message.
fn check_clean(skiff: &impl Fn(&[&str]) -> std::process::Output, when: &str) {
    let check = skiff(&[
        "machine",
        "shell",
        "--",
        "skiffd",
        "check",
        "--data-root",
        "/var/lib/skiff",
    ]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.lines().any(|l| l == "clean"),
        "skiffd check in the VM {when}:\n{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
