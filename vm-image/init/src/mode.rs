//! What this run of the binary is: PID 1 of the VM, the WSL2 guest side
//! (`--wsl`), the kernel's `modprobe`, or none of these.

use std::path::Path;

/// The mode `skiff-init` runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of the Skiff VM (QEMU, Virtualization.framework).
    Vm,
    /// `skiff-init --wsl`: inside a WSL2 distribution, started by the host
    /// through `wsl.exe --exec`; the relay runs on stdin/stdout.
    Wsl,
    /// Called as `modprobe` (the kernel's `request_module`, or a tool).
    Modprobe(Vec<String>),
    /// Not PID 1 and no mode asked for: print why and exit.
    Refuse(String),
}

/// The argument that selects [`Mode::Wsl`].
pub const WSL_FLAG: &str = "--wsl";

/// Picks the mode from the command line (`argv[0]` first) and this
/// process's PID. `argv[0]` named `modprobe` wins; `--wsl` as the first
/// argument comes next, whatever the PID; otherwise only PID 1 boots.
pub fn select(argv: &[String], pid: u32) -> Mode {
    let argv0 = argv.first().map(String::as_str).unwrap_or_default();
    if Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == "modprobe")
    {
        return Mode::Modprobe(argv[1..].to_vec());
    }
    match argv.get(1).map(String::as_str) {
        Some(WSL_FLAG) if argv.len() == 2 => Mode::Wsl,
        Some(WSL_FLAG) => Mode::Refuse(format!(
            "unexpected arguments after {WSL_FLAG}: {}",
            argv[2..].join(" ")
        )),
        _ if pid == 1 => Mode::Vm,
        _ => Mode::Refuse(
            "the init (PID 1) of the Skiff VM image; `skiff-init --wsl` runs the guest side in a WSL2 distribution".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn pid_one_boots_the_vm() {
        assert_eq!(select(&argv(&["/init"]), 1), Mode::Vm);
        // The kernel passes unknown command-line words to init as arguments.
        assert_eq!(select(&argv(&["/init", "quiet"]), 1), Mode::Vm);
    }

    #[test]
    fn wsl_flag_selects_wsl_mode_at_any_pid() {
        assert_eq!(
            select(&argv(&["/usr/bin/skiff-init", "--wsl"]), 4242),
            Mode::Wsl
        );
        assert_eq!(select(&argv(&["skiff-init", "--wsl"]), 1), Mode::Wsl);
        assert!(matches!(
            select(&argv(&["skiff-init", "--wsl", "extra"]), 7),
            Mode::Refuse(why) if why.contains("extra")
        ));
    }

    #[test]
    fn modprobe_by_name() {
        assert_eq!(
            select(&argv(&["/sbin/modprobe", "-q", "--", "fs-overlay"]), 77),
            Mode::Modprobe(argv(&["-q", "--", "fs-overlay"]))
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(matches!(
            select(&argv(&["skiff-init"]), 1234),
            Mode::Refuse(why) if why.contains("--wsl")
        ));
        assert!(matches!(select(&[], 99), Mode::Refuse(_)));
    }
}
