//! Powering off: stopping what is left after skiffd, syncing, unmounting
//! the data disk, `reboot(RB_POWER_OFF)`; and the ACPI power button (the
//! `button` driver reports it as KEY_POWER on an evdev device).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::reboot::{RebootMode, reboot};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::mpsc;

use crate::reaper::Reaper;
use crate::say;

/// `EV_KEY` from `<linux/input-event-codes.h>`.
const EV_KEY: u16 = 1;
/// `KEY_POWER`.
const KEY_POWER: u16 = 116;
/// `struct input_event` on 64-bit Linux: timeval (16) + type + code + value.
pub const INPUT_EVENT_SIZE: usize = 24;

/// Whether an input event is the power key being pressed.
pub fn is_power_press(event: &[u8; INPUT_EVENT_SIZE]) -> bool {
    let kind = u16::from_ne_bytes([event[16], event[17]]);
    let code = u16::from_ne_bytes([event[18], event[19]]);
    let value = i32::from_ne_bytes([event[20], event[21], event[22], event[23]]);
    kind == EV_KEY && code == KEY_POWER && value == 1
}

/// The evdev nodes of power buttons, from `sysfs_input` (normally
/// `/sys/class/input`).
pub fn power_buttons(sysfs_input: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(sysfs_input) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("event"))
        .filter(|e| {
            std::fs::read_to_string(e.path().join("device/name"))
                .is_ok_and(|n| n.trim() == "Power Button")
        })
        .map(|e| Path::new("/dev/input").join(e.file_name()))
        .collect();
    found.sort();
    found
}

/// Watches every power button on a thread each; a press sends `()`.
pub fn watch_power_buttons(tx: mpsc::UnboundedSender<()>) -> usize {
    let buttons = power_buttons(Path::new("/sys/class/input"));
    for device in &buttons {
        let path = device.clone();
        let tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("power-button".into())
            .spawn(move || {
                let Ok(mut f) = std::fs::File::open(&path) else {
                    say!("cannot open {}", path.display());
                    return;
                };
                let mut event = [0u8; INPUT_EVENT_SIZE];
                while f.read_exact(&mut event).is_ok() {
                    if is_power_press(&event) && tx.send(()).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            say!("watching {}: {e}", device.display());
        }
    }
    buttons.len()
}

/// Whether `/proc/<pid>/stat` describes a kernel thread (PF_KTHREAD in
/// the flags, the 9th field).
pub fn is_kernel_thread(stat: &str) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    // The command (2nd field) is in parentheses and may hold spaces.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    after
        .split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// The user-space processes other than this one.
pub fn other_processes() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !is_kernel_thread(&s) && !s.contains(") Z "))
        })
        .collect()
}

/// Signals every process but init, waits until all are gone (reaping
/// them), SIGKILL after `grace`.
pub fn kill_everything(reaper: &Reaper, grace: Duration) {
    for (signal, wait) in [
        (Signal::SIGTERM, grace),
        (Signal::SIGKILL, Duration::from_secs(2)),
    ] {
        reaper.reap();
        if other_processes().is_empty() {
            return;
        }
        // kill(-1) reaches every process but init (kernel threads ignore it).
        let _ = kill(Pid::from_raw(-1), signal);
        let start = Instant::now();
        while start.elapsed() < wait {
            reaper.reap_all();
            if other_processes().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if signal == Signal::SIGTERM {
            say!(
                "{} process(es) still running after {} ms: SIGKILL",
                other_processes().len(),
                grace.as_millis()
            );
        }
    }
}

/// The end: every other process stopped, data synced, the data disk
/// unmounted, power off. Never returns.
pub fn power_off(reaper: &Reaper) -> ! {
    kill_everything(reaper, Duration::from_secs(3));
    nix::unistd::sync();
    match crate::mounts::unmount_below(Path::new(crate::disk::MOUNT_POINT)) {
        Ok(n) => say!(
            "unmounted {n} filesystem(s) under {}",
            crate::disk::MOUNT_POINT
        ),
        Err(e) => say!("unmounting {}: {e}", crate::disk::MOUNT_POINT),
    }
    nix::unistd::sync();
    say!("power off");
    let err = reboot(RebootMode::RB_POWER_OFF);
    say!("power off failed: {err:?}");
    // PID 1 exiting panics the kernel, which (panic=-1 -no-reboot) stops the VM.
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, code: u16, value: i32) -> [u8; INPUT_EVENT_SIZE] {
        let mut e = [0u8; INPUT_EVENT_SIZE];
        e[16..18].copy_from_slice(&kind.to_ne_bytes());
        e[18..20].copy_from_slice(&code.to_ne_bytes());
        e[20..24].copy_from_slice(&value.to_ne_bytes());
        e
    }

    #[test]
    fn power_key_presses() {
        assert!(is_power_press(&event(EV_KEY, KEY_POWER, 1)));
        assert!(!is_power_press(&event(EV_KEY, KEY_POWER, 0)), "release");
        assert!(!is_power_press(&event(EV_KEY, 30, 1)), "another key");
        assert!(!is_power_press(&event(0, 0, 0)), "sync event");
        assert_eq!(INPUT_EVENT_SIZE, std::mem::size_of::<libc::input_event>());
    }

    #[test]
    fn kernel_threads_by_flags() {
        let kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0";
        let user = "96 (skiff d) S 1 96 96 0 -1 4194560 500 0 0 0 3 1 0 0 20 0 4 0 900 0 0";
        assert!(is_kernel_thread(kthread));
        assert!(!is_kernel_thread(user));
        assert!(!is_kernel_thread("garbage"));
        // This test process is no kernel thread, and sees itself excluded.
        let me = std::process::id() as i32;
        assert!(!other_processes().contains(&me));
    }

    #[test]
    fn finds_power_buttons_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (ev, name) in [
            ("event0", "Power Button\n"),
            ("event1", "AT Translated Set 2 keyboard\n"),
            ("event2", "Power Button\n"),
        ] {
            std::fs::create_dir_all(dir.path().join(ev).join("device")).expect("mkdir");
            std::fs::write(dir.path().join(ev).join("device/name"), name).expect("write");
        }
        std::fs::create_dir_all(dir.path().join("input3")).expect("mkdir");
        assert_eq!(
            power_buttons(dir.path()),
            vec![
                PathBuf::from("/dev/input/event0"),
                PathBuf::from("/dev/input/event2")
            ]
        );
        assert!(power_buttons(&dir.path().join("absent")).is_empty());
    }
}
