//! The guest kernel's command line (the contract's `skiff.*` keys).

use crate::config::MachineConfig;
use crate::shares::ShareDevice;

/// The guest's address for the host's registry mirror (a QEMU `guestfwd`).
pub const GUEST_MIRROR_IP: &str = "10.0.2.100";
/// The port the guest uses for the mirror.
pub const GUEST_MIRROR_PORT: u16 = 5000;
/// The guest's address (QEMU user networking).
pub const GUEST_IP: &str = "10.0.2.15/24";
/// The guest's gateway (QEMU user networking).
pub const GUEST_GW: &str = "10.0.2.2";

/// The kernel command line for `config`, with the console on `console`
/// (`ttyS0` under QEMU, `hvc0` under Virtualization.framework), the
/// guest clock set from `now` (unix seconds) and a `skiff.share=` key per
/// shared folder (`shares`, see [`crate::shares`]).
pub fn kernel_cmdline(
    config: &MachineConfig,
    console: &str,
    now: u64,
    shares: &[ShareDevice],
) -> String {
    let mut args = vec![
        format!("console={console}"),
        "panic=-1".to_string(),
        "quiet".to_string(),
        "skiff.data=/dev/vda".to_string(),
    ];
    if config.registry_mirror.is_some() {
        args.push(format!(
            "skiff.mirror=http://{GUEST_MIRROR_IP}:{GUEST_MIRROR_PORT}"
        ));
        args.push(format!(
            "skiff.insecure={GUEST_MIRROR_IP}:{GUEST_MIRROR_PORT}"
        ));
    }
    args.push(format!("skiff.time={now}"));
    args.push(format!("skiff.ip={GUEST_IP}"));
    args.push(format!("skiff.gw={GUEST_GW}"));
    args.extend(shares.iter().map(ShareDevice::cmdline_arg));
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_contract() {
        let mut config = MachineConfig::new("default");
        assert_eq!(
            kernel_cmdline(&config, "ttyS0", 1700000000, &[]),
            "console=ttyS0 panic=-1 quiet skiff.data=/dev/vda skiff.time=1700000000 skiff.ip=10.0.2.15/24 skiff.gw=10.0.2.2"
        );
        config.registry_mirror = Some("http://127.0.0.1:41234".into());
        assert_eq!(
            kernel_cmdline(&config, "hvc0", 5, &[]),
            "console=hvc0 panic=-1 quiet skiff.data=/dev/vda skiff.mirror=http://10.0.2.100:5000 skiff.insecure=10.0.2.100:5000 skiff.time=5 skiff.ip=10.0.2.15/24 skiff.gw=10.0.2.2"
        );
        let share = ShareDevice {
            tag: "skiff0".into(),
            host: "/home/me".into(),
            guest: "/home/me".into(),
            read_only: false,
        };
        assert!(
            kernel_cmdline(&config, "ttyS0", 5, &[share])
                .ends_with(" skiff.gw=10.0.2.2 skiff.share=skiff0:/home/me")
        );
    }
}
