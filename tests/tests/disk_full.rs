//! A full disk (issue 19 §4): skiffd's data root on a small tmpfs. A pull
//! larger than the space, a `docker cp` of a file larger than it and a
//! container that logs until the disk is full each fail with docker's
//! `no space left on device`, the daemon keeps answering, `skiffd check`
//! finds the stores consistent after each, and everything works again once
//! space is freed.

use std::process::Command;
use std::time::{Duration, Instant};

use skiff_e2e::util::wait_until;
use skiff_e2e::{Skiffd, SkiffdOpts};

/// The tmpfs size: room for busybox and a little more, not for `big`
/// (5 × 20 MiB).
const SMALL: &str = "size=40m";

fn mount_tmpfs(target: &std::path::Path, options: &str) {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "skiff-disk-full"])
        .arg(target)
        .status()
        .expect("mount");
    assert!(
        status.success(),
        "mount -t tmpfs {options} {}",
        target.display()
    );
}

fn remount(target: &std::path::Path, options: &str) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,{options}")])
        .arg(target)
        .status()
        .expect("mount -o remount");
    assert!(status.success(), "remount {options}");
}

/// Free bytes of the filesystem at `path`.
fn free_bytes(path: &std::path::Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).expect("statvfs");
    st.blocks_available() * st.fragment_size()
}

#[test]
fn a_full_data_root_fails_cleanly_and_recovers() {
    let mut d = Skiffd::start(SkiffdOpts::default().stopped());
    let root = d.data_root().to_path_buf();
    mount_tmpfs(&root, SMALL);
    d.restart();
    d.docker_ok(&["pull", "-q", "busybox"]);

    // A pull that does not fit.
    let (code, err) = d.docker_fail(&["pull", "big"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{err}"
    );
    assert!(d.ping(), "the daemon still answers");
    // The other layers' downloads end with the pull (their temporaries,
    // which hold the space, removed) shortly after the client's error.
    wait_until(
        "the failed pull's temporaries to go",
        Duration::from_secs(30),
        || !d.check_report().1.lines().any(|l| l.starts_with("note: ")),
    );
    d.assert_consistent_and_swept();
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(images.trim(), "busybox", "no partial image is listed");

    // docker cp of a file larger than the free space.
    d.docker_ok(&["create", "--name", "box", "busybox", "true"]);
    let host = tempfile::tempdir().expect("tempdir");
    let big = host.path().join("big.bin");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(free_bytes(&root) + (8 << 20))
        .expect("set_len");
    drop(file);
    let (code, err) = d.docker_fail(&["cp", big.to_str().expect("utf8"), "box:/big.bin"]);
    assert_ne!(code, 0);
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{err}"
    );
    d.docker_ok(&["rm", "box"]);
    d.assert_consistent();

    // A container that logs until the disk is full: the daemon keeps
    // answering, and removing the container gives the space back.
    let before = free_bytes(&root);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while free_bytes(&root) > (1 << 20) {
        assert!(
            Instant::now() < deadline,
            "the log did not fill the disk: {} bytes free",
            free_bytes(&root)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(d.ping(), "the daemon answers with the disk full");
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(ps.contains("chatty"), "{ps}");
    d.docker_ok(&["rm", "-f", "chatty"]);
    // The removed directory is deleted off the request path
    // (`containers/trash.rs`): the space comes back shortly after `rm`.
    wait_until(
        "removing the container to free its log",
        Duration::from_secs(30),
        || free_bytes(&root) + (1 << 20) >= before,
    );
    d.assert_consistent();

    // Space freed (the filesystem grows): the same pull now completes.
    remount(&root, "size=400m");
    let out = d.docker_ok(&["pull", "big"]);
    assert!(
        out.contains("Downloaded newer image for big:latest"),
        "{out}"
    );
    d.assert_consistent();
    // A start drops whatever a write on the full disk could not record.
    d.restart();
    d.assert_consistent_and_swept();
}
