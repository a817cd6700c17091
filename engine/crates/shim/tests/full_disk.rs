//! A container that logs onto a full disk: its log drops lines, the shim
//! keeps serving (a failed write must never become a panic — tracing's own
//! report of it went to the same full file and panicked the shim).
//! Alone in its binary: it mounts a tmpfs over the world's state root.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{alive, eventually, world};
use skiff_shim::ShimHandle;

/// A small tmpfs over `dir`; on drop the shim whose state lives there is
/// force-deleted first, then the tmpfs is detached (also when the test
/// fails midway).
struct SmallDisk {
    dir: PathBuf,
    shim_state: PathBuf,
}

impl SmallDisk {
    fn mount(dir: PathBuf, shim_state: PathBuf) -> SmallDisk {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "skiff-shim-full"])
            .arg(&dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        SmallDisk { dir, shim_state }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Ok(shim) = ShimHandle::connect(&self.shim_state) {
            let _ = shim.delete(true);
        }
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
fn a_container_logging_onto_a_full_disk_keeps_its_shim() {
    let Some(w) = world() else { return };
    let disk = SmallDisk::mount(
        w.dir.path().join("state"),
        w.dir.path().join("state/chatty"),
    );
    let shim = w.spawn(
        "chatty",
        &["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz"],
    );
    let log = skiff_shim::paths::container_log(shim.state_dir());
    // The log grows until the 2 MiB are used up.
    assert!(eventually(Duration::from_secs(30), || {
        nix::sys::statvfs::statvfs(&disk.dir)
            .is_ok_and(|s| s.blocks_available() * s.fragment_size() < 64 << 10)
    }));
    std::thread::sleep(Duration::from_millis(500));
    let state = shim.state().expect("the shim still answers");
    assert!(alive(state.pid), "the container still runs");
    assert!(std::fs::metadata(&log).expect("log").len() > 1 << 20);
    let exit = shim
        .kill(9)
        .and_then(|()| shim.wait())
        .expect("kill and wait");
    assert_eq!(exit.exit_code, 137);
    shim.delete(false).expect("delete");
}
