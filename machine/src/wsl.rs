//! The WSL2 backend (Windows): the machine is a WSL distribution imported
//! from a root filesystem tar that `vm-image/build.sh --wsl-rootfs` builds
//! (the initramfs's tree as a tar: `skiff-init`, `skiffd`, `skiff-shim`,
//! their libraries, `mke2fs`; WSL's own kernel is used, so no `vmlinuz`).
//! The tar is the `files` entry of the image's `manifest.json` that
//! [`rootfs::tar_name`] picks, checked against its size and sha256.
//!
//! - create: `wsl --import skiff-<name> <machine dir>\wsl <rootfs.tar> --version 2`
//!   (nothing when `wsl -l -q` lists the distro already: idempotent;
//!   [`list_has`] reads that list)
//! - start: `wsl -d skiff-<name> -u root --exec /usr/bin/skiff-init --wsl`
//!   (not `/init`: WSL mounts its own init there)
//!   runs init's WSL mode (not PID 1: WSL's init is): it mounts what is
//!   missing, starts skiffd on `/run/skiff/docker.sock`, and serves the
//!   relay's guest half on its stdin/stdout. The host side serves the named
//!   pipe `\\.\pipe\skiff_engine` (`skiff_engine_<name>` for other machines)
//!   with the relay's host half over that child's stdio.
//! - stop: SIGTERM to skiff-init in the distro ([`graceful_stop_args`]:
//!   it stops skiffd and exits 0, ending the supervisor's `wsl.exe`), wait
//!   up to [`STOP_TIMEOUT`] for the pipe to go, then
//!   `wsl --terminate skiff-<name>` (the hard stop).
//! - rm: `wsl --unregister skiff-<name>` (deletes its virtual disk).
//!
//! The command lines are built here on every platform and unit-tested;
//! the driver that runs them exists on Windows only.

use std::path::Path;

pub mod rootfs;

/// Where the rootfs tar puts skiff-init (WSL shadows `/init` with its own).
pub const SKIFF_INIT: &str = "/usr/bin/skiff-init";

/// The WSL distribution of machine `name`.
pub fn distro_name(name: &str) -> String {
    format!("skiff-{name}")
}

/// The named pipe (without `\\.\pipe\`) of machine `name`.
pub fn pipe_name(name: &str) -> String {
    if name == crate::paths::DEFAULT_MACHINE {
        "skiff_engine".to_string()
    } else {
        format!("skiff_engine_{name}")
    }
}

/// The named pipe's full path (`\\.\pipe\skiff_engine` for `default`).
pub fn pipe_path(name: &str) -> String {
    format!(r"\\.\pipe\{}", pipe_name(name))
}

/// `wsl.exe` arguments importing the rootfs tar as the machine's distro.
pub fn import_args(name: &str, install_dir: &Path, rootfs_tar: &Path) -> Vec<String> {
    vec![
        "--import".into(),
        distro_name(name),
        install_dir.display().to_string(),
        rootfs_tar.display().to_string(),
        "--version".into(),
        "2".into(),
    ]
}

/// `wsl.exe` arguments running `argv` as root in the machine's distro,
/// without WSL's shell (`--exec`).
fn exec_as_root(name: &str, argv: &[&str]) -> Vec<String> {
    let head = ["-d", &distro_name(name), "-u", "root", "--exec"].map(String::from);
    head.into_iter()
        .chain(argv.iter().map(|a| a.to_string()))
        .collect()
}

/// `wsl.exe` arguments running the guest side (init's WSL mode, relay on
/// stdio).
pub fn run_args(name: &str) -> Vec<String> {
    exec_as_root(name, &[SKIFF_INIT, "--wsl"])
}

/// How long a graceful stop may take before `wsl --terminate`.
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// `wsl.exe` arguments asking init's WSL mode to stop (SIGTERM, with the
/// image's busybox).
pub fn graceful_stop_args(name: &str) -> Vec<String> {
    exec_as_root(
        name,
        &["/usr/bin/busybox", "killall", "-TERM", "skiff-init"],
    )
}

/// `wsl.exe` arguments stopping the distro at once.
pub fn terminate_args(name: &str) -> Vec<String> {
    vec!["--terminate".into(), distro_name(name)]
}

/// `wsl.exe` arguments deleting the distro.
pub fn unregister_args(name: &str) -> Vec<String> {
    vec!["--unregister".into(), distro_name(name)]
}

/// Whether `wsl -l -q` output (UTF-16LE, as wsl.exe writes it) lists the
/// machine's distro.
pub fn list_has(output: &[u8], name: &str) -> bool {
    let units: Vec<u16> = output
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16_lossy(&units);
    let want = distro_name(name);
    text.lines()
        .any(|l| l.trim().trim_start_matches('\u{feff}') == want)
}

#[cfg(windows)]
mod driver;
#[cfg(windows)]
pub mod supervisor;
#[cfg(windows)]
pub use driver::WslDriver;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(
            import_args(
                "default",
                Path::new("C:/u/.skiff/machines/default/wsl"),
                Path::new("C:/s/rootfs.tar")
            ),
            [
                "--import",
                "skiff-default",
                "C:/u/.skiff/machines/default/wsl",
                "C:/s/rootfs.tar",
                "--version",
                "2"
            ]
        );
        assert_eq!(
            run_args("dev"),
            [
                "-d",
                "skiff-dev",
                "-u",
                "root",
                "--exec",
                "/usr/bin/skiff-init",
                "--wsl"
            ]
        );
        assert_eq!(terminate_args("dev"), ["--terminate", "skiff-dev"]);
        assert_eq!(
            graceful_stop_args("dev"),
            [
                "-d",
                "skiff-dev",
                "-u",
                "root",
                "--exec",
                "/usr/bin/busybox",
                "killall",
                "-TERM",
                "skiff-init"
            ]
        );
        assert_eq!(unregister_args("dev"), ["--unregister", "skiff-dev"]);
        assert_eq!(pipe_name("default"), "skiff_engine");
        assert_eq!(pipe_name("dev"), "skiff_engine_dev");
        assert_eq!(pipe_path("default"), r"\\.\pipe\skiff_engine");
    }

    #[test]
    fn parses_wsl_list_output() {
        let text = "\u{feff}Debian\r\nskiff-default\r\n";
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(list_has(&bytes, "default"));
        assert!(!list_has(&bytes, "dev"));
    }
}
