//! The seccomp filter reaches the container's init and its execs (which
//! youki's libcontainer alone would leave unfiltered), without leaving them
//! the `CAP_SYS_ADMIN` the shim lends to load it; unconfined containers stay
//! unconfined.

mod common;

use common::{World, exec_request, world};
use skiff_shim::protocol::AttachRequest;
use skiff_shim::{Shim, ShimHandle};

/// docker's 14 default capabilities as a `/proc/<pid>/status` mask.
const DOCKER_CAPS: &str = "00000000a80425fb";

fn stdout_only() -> AttachRequest {
    AttachRequest {
        stdout: true,
        stderr: true,
        ..Default::default()
    }
}

/// Runs `args` in the container; returns (exit code, stdout).
fn exec(shim: &ShimHandle, args: &[&str], uid: u32) -> (i32, String) {
    let (_, attach) = shim
        .exec_attach(exec_request(args, uid), stdout_only())
        .expect("exec");
    let got = attach.collect().expect("collect");
    let code = got.exit.as_ref().map_or(-1, |e| e.exit_code);
    (code, String::from_utf8_lossy(&got.stdout).into_owned())
}

/// A field of a `/proc/<pid>/status` text.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
        .map_or("", str::trim)
}

/// What the container's init prints (attached before it starts).
fn init_output(w: &World, id: &str, args: &[&str]) -> String {
    let (shim, _) = w.spawn_created(&w.config(id, args), false);
    let attach = shim.attach(stdout_only()).expect("attach");
    shim.start().expect("start");
    let got = attach.collect().expect("collect");
    assert_eq!(got.exit.as_ref().map(|e| e.exit_code), Some(0));
    shim.delete(false).expect("delete");
    String::from_utf8_lossy(&got.stdout).into_owned()
}

#[test]
fn init_and_execs_are_filtered_without_keeping_sys_admin() {
    let Some(w) = world() else { return };

    // The init process.
    let status = init_output(
        &w,
        "sc-init",
        &[
            "sh",
            "-c",
            "cat /proc/self/status; busybox unshare -U true && echo UNSHARED || echo BLOCKED",
        ],
    );
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(field(&status, "NoNewPrivs"), "0", "{status}");
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(field(&status, set), DOCKER_CAPS, "{set}: {status}");
    }
    assert!(
        status.contains("BLOCKED") && !status.contains("UNSHARED"),
        "unshare -U must fail: {status}"
    );

    // Execs, as root and as another user.
    let shim = w.spawn("sc-exec", &["sleep", "100"]);
    let (code, status) = exec(&shim, &["cat", "/proc/self/status"], 0);
    assert_eq!(code, 0);
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(field(&status, "NoNewPrivs"), "0", "{status}");
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(field(&status, set), DOCKER_CAPS, "{set}: {status}");
    }
    let (code, _) = exec(&shim, &["busybox", "unshare", "-U", "true"], 0);
    assert_ne!(code, 0, "unshare -U must fail in an exec");
    let (code, status) = exec(&shim, &["cat", "/proc/self/status"], 1000);
    assert_eq!(code, 0);
    assert_eq!(
        field(&status, "Uid").split_whitespace().next(),
        Some("1000")
    );
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(field(&status, "CapEff"), "0000000000000000", "{status}");
    shim.delete(true).expect("delete");
}

#[test]
fn no_new_privileges_containers_are_filtered_too() {
    let Some(w) = world() else { return };
    let mut cfg = w.config("sc-nnp", &["sleep", "100"]);
    cfg.no_new_privileges = true;
    let shim = Shim::spawn(&w.options(&cfg)).expect("spawn");
    let (code, status) = exec(&shim, &["cat", "/proc/self/status"], 0);
    assert_eq!(code, 0);
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    assert_eq!(field(&status, "CapEff"), DOCKER_CAPS, "{status}");
    let pid = shim.state().expect("state").pid;
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("init status");
    assert_eq!(field(&init, "Seccomp"), "2", "{init}");
    shim.delete(true).expect("delete");
}

#[test]
fn unconfined_containers_and_their_execs_stay_unconfined() {
    let Some(w) = world() else { return };
    let mut cfg = w.config("sc-none", &["sleep", "100"]);
    cfg.seccomp = None;
    let opts = w.options(&cfg);
    let shim = Shim::spawn(&opts).expect("spawn");
    let pid = shim.state().expect("state").pid;
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("init status");
    assert_eq!(field(&init, "Seccomp"), "0", "{init}");
    assert_eq!(field(&init, "CapEff"), DOCKER_CAPS, "{init}");
    let (code, status) = exec(&shim, &["cat", "/proc/self/status"], 0);
    assert_eq!(code, 0);
    assert_eq!(field(&status, "Seccomp"), "0", "{status}");
    // What the filter refuses elsewhere works here (so its refusal there is
    // the filter's).
    let (code, _) = exec(&shim, &["busybox", "unshare", "-U", "true"], 0);
    assert_eq!(code, 0, "unshare -U without a filter");
    assert!(
        !opts.state_dir.join("bundle").exists(),
        "the original bundle is used as is"
    );
    shim.delete(true).expect("delete");
}
