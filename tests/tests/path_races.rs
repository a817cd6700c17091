//! Path safety under a symlink-swap race (CVE-2018-15664; issue 19 §2):
//! while directories of a container flip, atomically and in a loop, between
//! a real directory and a symlink to a host directory (a canary), `docker
//! cp` both ways, the archive API (`HEAD`/`GET`/`PUT`), `docker export` and
//! `docker diff` run again and again. Nothing outside the container may be
//! read (the canary's secret never appears in an answer, its size never in
//! a stat, its names never in a diff) or written (the canary directory
//! never changes).
//!
//! The swaps are made from the host in the container's filesystem (its
//! mounted rootfs while it runs, its writable layer when stopped) with
//! `renameat2(RENAME_EXCHANGE)`: what a process in the container can do,
//! only faster than a shell loop, so the race is won often. One daemon
//! serves every case.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use skiff_e2e::util::{HttpResponse, unix_http};
use skiff_e2e::{Skiffd, SkiffdOpts};

/// Flipping directories in the container (`/w/d<i>` ⇄ `/w/l<i>`).
const FLIPS: usize = 16;
/// Rounds of every operation while the container runs, then while it is
/// stopped (an unsafe walk lost within the first round or two; these
/// bound the test's time).
const RUNNING_ROUNDS: usize = 30;
const STOPPED_ROUNDS: usize = 12;

/// The host canary: a directory whose secret must never be read and into
/// which nothing may be written.
struct Canary {
    dir: tempfile::TempDir,
    secret: String,
    only: String,
}

impl Canary {
    fn new() -> Canary {
        let dir = tempfile::Builder::new()
            .prefix("skiff-canary-")
            .tempdir_in("/tmp")
            .expect("canary dir");
        let unique = dir
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        // A length no container file of the test has (for stat answers).
        let secret = format!("HOST-SECRET-{unique}-{}\n", "s".repeat(61));
        let only = format!("host-only-{unique}");
        std::fs::write(dir.path().join("secret"), &secret).expect("secret");
        std::fs::write(dir.path().join(&only), "x").expect("host-only");
        Canary { dir, secret, only }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Panics unless the canary directory holds exactly what it was made
    /// with.
    fn assert_untouched(&self, after: &str) {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .expect("canary")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = vec!["secret".to_owned(), self.only.clone()];
        expected.sort();
        assert_eq!(names, expected, "written outside the container ({after})");
        assert_eq!(
            std::fs::read_to_string(self.path().join("secret")).expect("secret"),
            self.secret,
            "the canary changed ({after})"
        );
    }

    /// Panics if `bytes` hold the secret or the host-only name.
    fn assert_absent(&self, bytes: &[u8], what: &str) {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(self.secret.trim_end()) && !text.contains(&self.only),
            "{what} read outside the container"
        );
    }
}

/// Swaps `<base>/d<i>` and `<base>/l<i>` atomically in a loop until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Swapper {
    fn start(base: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let pairs: Vec<(CString, CString)> = (0..FLIPS)
            .map(|i| {
                let c = |p: PathBuf| {
                    CString::new(p.into_os_string().into_encoded_bytes()).expect("path")
                };
                (c(base.join(format!("d{i}"))), c(base.join(format!("l{i}"))))
            })
            .collect();
        let thread = {
            let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (a, b) in &pairs {
                        // SAFETY: both are valid NUL-terminated paths that
                        // outlive the call; renameat2 retains neither.
                        let rc = unsafe {
                            libc::renameat2(
                                libc::AT_FDCWD,
                                a.as_ptr(),
                                libc::AT_FDCWD,
                                b.as_ptr(),
                                libc::RENAME_EXCHANGE,
                            )
                        };
                        assert_eq!(rc, 0, "swap: {}", std::io::Error::last_os_error());
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Swapper {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let ok = t.join().is_ok();
            if !std::thread::panicking() {
                assert!(ok, "the swapper failed");
            }
        }
    }
}

fn api(d: &Skiffd, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    unix_http(d.socket(), method, path, body).expect("api request")
}

/// A tar of one file `name`.
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).expect("tar");
    b.into_inner().expect("tar")
}

/// Outcomes of one round of operations.
#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    ok: u64,
    refused: u64,
}

/// One round of every operation against container `c` through flipping
/// directory `i`; every answer checked against the canary.
fn round(d: &Skiffd, c: &str, i: usize, n: usize, canary: &Canary, t: &mut Tally) {
    let secret_len = canary.secret.len() as u64;
    let mut count = |ok: bool| {
        t.ops += 1;
        if ok {
            t.ok += 1;
        } else {
            t.refused += 1;
        }
    };
    // cp out: stat, then the tar.
    let r = api(
        d,
        "HEAD",
        &format!("/containers/{c}/archive?path=/w/d{i}/secret"),
        b"",
    );
    if let Some(stat) = r.header("x-docker-container-path-stat") {
        canary.assert_absent(stat.as_bytes(), "HEAD archive");
        let json = base64_decode(stat);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        assert_ne!(
            v["size"].as_u64(),
            Some(secret_len),
            "HEAD archive stat'ed the host file: {v}"
        );
    }
    count(r.status == 200);
    let r = api(
        d,
        "GET",
        &format!("/containers/{c}/archive?path=/w/d{i}"),
        b"",
    );
    canary.assert_absent(&r.body, "GET archive");
    count(r.status == 200);
    // cp in.
    let name = format!("planted-{n}");
    let r = api(
        d,
        "PUT",
        &format!("/containers/{c}/archive?path=/w/d{i}"),
        &tar_of(&name, b"planted"),
    );
    count(r.status == 200);
    canary.assert_untouched(&format!("PUT archive {name}"));
    // diff.
    let r = api(d, "GET", &format!("/containers/{c}/changes"), b"");
    canary.assert_absent(&r.body, "diff");
    count(r.status == 200);
}

/// Export of `c`, checked.
fn export(d: &Skiffd, c: &str, canary: &Canary, t: &mut Tally) {
    let r = api(d, "GET", &format!("/containers/{c}/export"), b"");
    canary.assert_absent(&r.body, "export");
    t.ops += 1;
    if r.status == 200 {
        t.ok += 1;
    } else {
        t.refused += 1;
    }
}

/// `docker cp` both ways through flipping directory `i`.
fn docker_cp(d: &Skiffd, c: &str, i: usize, n: usize, canary: &Canary, host: &Path, t: &mut Tally) {
    let out = d
        .docker()
        .command(&["cp", &format!("{c}:/w/d{i}/secret"), "-"])
        .output()
        .expect("docker cp");
    canary.assert_absent(&out.stdout, "docker cp out");
    t.ops += 1;
    if out.status.success() {
        t.ok += 1;
    } else {
        t.refused += 1;
    }
    let src = host.join(format!("cli-planted-{n}"));
    std::fs::write(&src, "planted").expect("write");
    let out = d.docker_run(&["cp", src.to_str().expect("utf8"), &format!("{c}:/w/d{i}/")]);
    t.ops += 1;
    if out.code == 0 {
        t.ok += 1;
    } else {
        t.refused += 1;
    }
    canary.assert_untouched(&format!("docker cp in {n}"));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

#[test]
fn symlink_swaps_never_reach_the_host() {
    let canary = Canary::new();
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    let cpath = canary.path().display().to_string();
    // In the container: /w/d<i> real directories with a file, /w/l<i>
    // symlinks to the canary's host path, and that path made inside too
    // (where the symlink must lead).
    let script = format!(
        "mkdir -p {cpath} && echo inside > {cpath}/secret && \
         for i in $(seq 0 {last}); do mkdir -p /w/d$i && echo dir > /w/d$i/secret && ln -s {cpath} /w/l$i; done && \
         echo ready && exec sleep 100000",
        last = FLIPS - 1
    );
    let id = d
        .docker_ok(&[
            "run", "-d", "--name", "racer", "busybox", "sh", "-c", &script,
        ])
        .trim()
        .to_owned();
    skiff_e2e::util::wait_until(
        "the container's setup",
        std::time::Duration::from_secs(60),
        || d.docker_ok(&["logs", "racer"]).contains("ready"),
    );
    let host = tempfile::tempdir().expect("tempdir");
    let container_dir = d.data_root().join("containers").join(&id);
    let mut t = Tally::default();

    // Running: the swaps happen in its mounted root.
    let swapper = Swapper::start(container_dir.join("rootfs/w"));
    for n in 0..RUNNING_ROUNDS {
        round(&d, "racer", n % FLIPS, n, &canary, &mut t);
        if n % 10 == 0 {
            export(&d, "racer", &canary, &mut t);
            docker_cp(&d, "racer", n % FLIPS, n, &canary, host.path(), &mut t);
        }
    }
    let running_swaps = swapper.swaps();
    drop(swapper);

    // Stopped: cp and export mount its overlay privately, diff walks the
    // writable layer; the swaps happen in that layer.
    d.docker_ok(&["stop", "-t", "0", "racer"]);
    let swapper = Swapper::start(container_dir.join("rw/upper/w"));
    for n in RUNNING_ROUNDS..RUNNING_ROUNDS + STOPPED_ROUNDS {
        round(&d, "racer", n % FLIPS, n, &canary, &mut t);
        if n % 6 == 0 {
            export(&d, "racer", &canary, &mut t);
            docker_cp(&d, "racer", n % FLIPS, n, &canary, host.path(), &mut t);
        }
    }
    let stopped_swaps = swapper.swaps();
    drop(swapper);

    canary.assert_untouched("the end");
    assert!(d.ping());
    eprintln!(
        "path races: {} operations ({} answered, {} refused) during {running_swaps} swaps running and {stopped_swaps} stopped; nothing outside the container read or written",
        t.ops, t.ok, t.refused
    );
    // The operations did work, not only fail.
    assert!(t.ok > t.ops / 2, "{t:?}");
    d.docker_ok(&["rm", "-f", "racer"]);
}
