//! kill -9 of skiffd in the middle of a pull, at several points: after the
//! restart nothing is half-listed, `skiffd check` finds the stores
//! consistent (every stored blob matches its digest, every layer of every
//! image unpacked, no orphan, no temporary left), and the next pull
//! completes.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use skiff_e2e::{Skiffd, SkiffdOpts};

/// Bytes under `dir`, recursively (files only).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[test]
fn kill9_during_pull_leaves_no_partial_image_and_the_next_pull_completes() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    // Stop points, in bytes written under the data root (the image is 5 × 20 MiB
    // of incompressible data, stored as blobs and unpacked snapshots).
    for threshold in [2u64 << 20, 60 << 20, 150 << 20] {
        let mut pull = d
            .docker()
            .command(&["pull", "big"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker pull");
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut finished = false;
        while bytes_under(d.data_root()) < threshold {
            if let Ok(Some(_)) = pull.try_wait() {
                finished = true;
                break;
            }
            assert!(Instant::now() < deadline, "pull made no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!(
            "stop point {threshold}: pull finished first: {finished}; {} bytes in the data root",
            bytes_under(d.data_root())
        );
        d.kill9();
        let _ = pull.kill();
        let _ = pull.wait();
        d.restart();

        let listed = d.docker_ok(&["images", "--format", "{{.Repository}}"]);
        if finished {
            // The pull beat the stop point: then it must be complete.
            assert_eq!(listed.trim(), "big");
            d.docker_ok(&["rmi", "big"]);
        } else {
            assert_eq!(
                listed.trim(),
                "",
                "killed at {threshold} bytes: nothing may be listed"
            );
        }
        d.assert_consistent_and_swept();
    }

    let out = d.docker_ok(&["pull", "big"]);
    assert!(
        out.contains("Status: Downloaded newer image for big:latest"),
        "{out}"
    );
    let layers = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        "big",
    ]);
    assert_eq!(layers.trim(), "5");
    d.assert_consistent_and_swept();
    // And it is all still there after one more crash.
    d.kill9();
    d.restart();
    assert_eq!(
        d.docker_ok(&["images", "--format", "{{.Repository}}"])
            .trim(),
        "big"
    );
    d.assert_consistent_and_swept();
}
