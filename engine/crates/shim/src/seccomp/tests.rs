//! Tests of profile parsing, resolution per target, and docker's default profile.

use super::*;
use crate::bundle::DEFAULT_CAPABILITIES;

fn amd64() -> Target {
    Target {
        arch: Some(Arch::ScmpArchX86_64),
        go_arch: "amd64",
        kernel: (6, 1),
    }
}

/// The action the filter gives `name` when no argument condition applies
/// (`None`: the default action).
fn plain_action(s: &LinuxSeccomp, name: &str) -> Option<(LinuxSeccompAction, Option<u32>)> {
    s.syscalls()
        .iter()
        .flatten()
        .filter(|c| c.args().is_none() && c.names().iter().any(|n| n == name))
        .map(|c| (c.action(), c.errno_ret()))
        .next()
}

fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
    plain_action(s, name).is_some_and(|(a, _)| a == LinuxSeccompAction::ScmpActAllow)
}

#[test]
fn default_profile_denies_with_eperm_and_allows_ordinary_calls() -> Result<(), SeccompError> {
    let s = Profile::docker_default().resolve(&DEFAULT_CAPABILITIES, &amd64())?;
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(s.default_errno_ret(), Some(1));
    assert_eq!(
        s.architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
    );
    for name in [
        "read",
        "write",
        "execve",
        "openat",
        "fork",
        "wait4",
        "arch_prctl",
        "chroot",
    ] {
        assert!(allowed(&s, name), "{name} should be allowed");
    }
    // ptrace came with kernel 4.8's seccomp fix; CAP_SYS_CHROOT is a default cap.
    assert!(allowed(&s, "ptrace"));
    for name in [
        "kexec_load",
        "add_key",
        "keyctl",
        "request_key",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "reboot",
        "init_module",
        "bpf",
        "perf_event_open",
        "swapon",
        "pivot_root",
        "open_by_handle_at",
        "settimeofday",
        "syslog",
        "sethostname",
        "set_tls",
    ] {
        assert!(!allowed(&s, name), "{name} should be denied");
    }
    // clone3 answers ENOSYS, so libc falls back to clone…
    assert_eq!(
        plain_action(&s, "clone3"),
        Some((LinuxSeccompAction::ScmpActErrno, Some(38)))
    );
    // …which is allowed without namespace flags (mask and value swapped
    // for libcontainer).
    let clone: Vec<_> = s
        .syscalls()
        .iter()
        .flatten()
        .filter(|c| c.names() == &["clone".to_owned()])
        .collect();
    assert_eq!(clone.len(), 1, "{clone:?}");
    let arg = clone[0].args().as_deref().unwrap_or_default()[0];
    assert_eq!(
        (arg.index(), arg.value(), arg.value_two(), arg.op()),
        (
            0,
            0,
            Some(0x7E02_0000),
            LinuxSeccompOperator::ScmpCmpMaskedEq
        )
    );
    // socket: anything but AF_VSOCK.
    let socket = s
        .syscalls()
        .iter()
        .flatten()
        .find(|c| c.names() == &["socket".to_owned()])
        .and_then(|c| c.args().clone())
        .unwrap_or_default();
    assert_eq!(socket[0].value(), 40);
    assert_eq!(socket[0].op(), LinuxSeccompOperator::ScmpCmpNe);
    Ok(())
}

#[test]
fn capabilities_unlock_their_calls() -> Result<(), SeccompError> {
    let mut caps = DEFAULT_CAPABILITIES.to_vec();
    caps.extend([
        Capability::SysAdmin,
        Capability::SysTime,
        Capability::SysModule,
    ]);
    let s = Profile::docker_default().resolve(&caps, &amd64())?;
    for name in [
        "mount",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "settimeofday",
        "init_module",
    ] {
        assert!(allowed(&s, name), "{name} should be allowed with the caps");
    }
    // No ENOSYS clone3 rule and no flag-restricted clone with CAP_SYS_ADMIN.
    assert!(
        !s.syscalls()
            .iter()
            .flatten()
            .any(|c| c.args().is_some() && c.names().iter().any(|n| n == "clone"))
    );
    assert!(!allowed(&s, "reboot"));
    // Without CAP_SYS_CHROOT, chroot is denied.
    let fewer: Vec<_> = DEFAULT_CAPABILITIES
        .iter()
        .copied()
        .filter(|c| *c != Capability::SysChroot)
        .collect();
    let s = Profile::docker_default().resolve(&fewer, &amd64())?;
    assert!(!allowed(&s, "chroot"));
    Ok(())
}

#[test]
fn arches_and_kernels_select_rules() -> Result<(), SeccompError> {
    let arm = Target {
        arch: Some(Arch::ScmpArchAarch64),
        go_arch: "arm64",
        kernel: (4, 4),
    };
    let s = Profile::docker_default().resolve(&DEFAULT_CAPABILITIES, &arm)?;
    assert_eq!(
        s.architectures().as_deref(),
        Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
    );
    assert!(allowed(&s, "set_tls"));
    assert!(!allowed(&s, "arch_prctl"));
    // Kernel 4.4 is older than the 4.8 the unconditional ptrace rule needs.
    assert!(!allowed(&s, "ptrace"));
    assert_eq!(parse_kernel("6.18.44-fc-v669"), Some((6, 18)));
    assert_eq!(parse_kernel("5.10"), Some((5, 10)));
    assert_eq!(parse_kernel("x"), None);
    assert!(min_kernel("4.x").is_err());
    Ok(())
}

#[test]
fn custom_profiles_parse_in_dockers_format() -> Result<(), SeccompError> {
    let json = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "args": null},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}}
        ]
    }"#;
    let p = Profile::from_json(json)?;
    let s = p.resolve(&DEFAULT_CAPABILITIES, &amd64())?;
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
    assert_eq!(
        s.architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchAarch64][..])
    );
    let calls = s.syscalls().clone().unwrap_or_default();
    assert_eq!(calls.len(), 2, "reboot needs CAP_SYS_BOOT: {calls:?}");
    assert_eq!(calls[0].names(), &["mkdir".to_owned()]);
    assert_eq!(calls[1].errno_ret(), Some(13));
    let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#;
    assert!(matches!(
        Profile::from_json(both)?.resolve(&[], &amd64()),
        Err(SeccompError::NameAndNames)
    ));
    let arches = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]}"#;
    assert!(matches!(
        Profile::from_json(arches)?.resolve(&[], &amd64()),
        Err(SeccompError::ArchitecturesAndArchMap)
    ));
    assert!(Profile::from_json("{\"syscalls\": 3}").is_err());
    Ok(())
}
