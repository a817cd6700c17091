//! `skiff machine` run by a user rather than root (issue 15, "Ownership"):
//! files a container writes through a shared folder belong on the host to
//! the user who runs skiff, with the modes the container gave them —
//! written as root (after a `chown` too) or as the user's own uid, while
//! the container sees the host's owners as a native engine shows them
//! (`docker run --user "$(id -u)"` writes where the user may, another uid
//! is refused as natively). The machine (supervisor, QEMU, the Rust
//! virtiofsd) runs as `nobody` (`setpriv`), under TCG; the docker CLI
//! talks to its socket as this test (root). Its own boot, kept short: one
//! pull from the test registry, two containers.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{Env, VM, image_dir};
use skiff_e2e::Registry;

/// `nobody`: a user without a home, a login or a group of interest.
const UID: u32 = 65534;
const GID: u32 = 65534;

#[test]
fn files_containers_write_belong_to_the_user_who_runs_skiff() {
    let _vm = VM.lock().unwrap_or_else(|e| e.into_inner());
    let image = image_dir();
    let registry = Registry::start();
    let mut env = Env::new();
    env.user = Some((UID, GID));
    let tmp = env.home.parent().expect("tmp").to_path_buf();
    let share = tmp.join("share");
    std::fs::create_dir_all(&share).expect("mkdir share");
    for dir in [&tmp, &share, &env.docker_config] {
        std::os::unix::fs::chown(dir, Some(UID), Some(GID)).expect("chown");
    }
    let (image_arg, share_arg) = (image.display().to_string(), share.display().to_string());
    env.create("1024", "4", &registry.url(), &image_arg, &share_arg);
    let start = env.skiff(&["machine", "start"]);
    let progress = String::from_utf8_lossy(&start.stderr);
    if !start.status.success() {
        env.dump();
        panic!("start as uid {UID} failed: {progress}");
    }
    assert!(!progress.contains("not shared"), "{progress}");
    let docker = env.docker();
    docker.ok(&["pull", "-q", "busybox"]);

    // As the container's root: a file, a mode, a chown to another uid.
    let bind = format!("{}:/src", share.display());
    let script = "echo x > /src/root.txt && chmod 640 /src/root.txt \
                  && touch /src/given.txt && chown 1000:1000 /src/given.txt \
                  && mkdir -m 750 /src/dir && stat -c '%u:%g %a' /src/root.txt /src/dir";
    let out = docker.ok(&["run", "--rm", "-v", &bind, "busybox", "sh", "-c", script]);
    // The host's owner, as a native engine shows it.
    assert_eq!(out, format!("{UID}:{GID} 640\n{UID}:{GID} 750\n"));
    // As the user's own uid (`--user "$(id -u):$(id -g)"`), and as
    // another one, refused by the share's 0755 as it is natively.
    let user = format!("{UID}:{GID}");
    docker.ok(&[
        "run",
        "--rm",
        "--user",
        &user,
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo y > /src/user.txt && chmod 604 /src/user.txt",
    ]);
    let (_, stderr) = docker.fail(&[
        "run",
        "--rm",
        "--user",
        "1000:1000",
        "-v",
        &bind,
        "busybox",
        "touch",
        "/src/no",
    ]);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!share.join("no").exists());
    for (name, mode) in [
        ("root.txt", 0o640),
        ("given.txt", 0o644),
        ("dir", 0o750),
        ("user.txt", 0o604),
    ] {
        let meta = std::fs::metadata(share.join(name))
            .unwrap_or_else(|e| panic!("{name} on the host: {e}"));
        assert_eq!(
            (meta.uid(), meta.gid()),
            (UID, GID),
            "owner of {name} on the host"
        );
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "mode of {name}");
    }
    assert_eq!(
        std::fs::read_to_string(share.join("user.txt")).expect("read"),
        "y\n"
    );
    env.skiff_ok(&["machine", "stop"]);
    env.skiff_ok(&["machine", "rm"]);
}
