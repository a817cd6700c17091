//! Does KVM really work here? `/dev/kvm` may exist while guests hang (nested
//! virtualisation without the CPU's help, e.g. PVM), so the probe runs a
//! vCPU through a 50-million-iteration loop and a `hlt`, and expects
//! `KVM_EXIT_HLT` within [`PROBE_TIMEOUT`]: natively that takes
//! milliseconds, where guest code is emulated it takes minutes. (A lone
//! `hlt` is not enough: it exits at once even where real guests hang.) The probe runs in
//! a child process (`skiff machine probe-kvm`), killed if it does not
//! answer in time, so a vCPU stuck in `KVM_RUN` never lingers.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the probe's loop and `hlt` may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Runs the probe in this process: `Ok` when the vCPU's loop ends in
/// `KVM_EXIT_HLT`.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub fn probe_in_process() -> Result<(), String> {
    use kvm_bindings::kvm_userspace_memory_region;
    use kvm_ioctls::{Kvm, VcpuExit};

    const MEM_SIZE: usize = 0x4000;
    // Real mode: count ECX down from 50 million, then `hlt`. Native
    // execution takes milliseconds; a KVM that emulates guest code (nested
    // without hardware help: /dev/kvm exists, real guests crawl or hang)
    // cannot finish within the probe's timeout.
    const PROGRAM: [u8; 11] = [
        0x66, 0xb9, 0x80, 0xf0, 0xfa, 0x02, // mov ecx, 50_000_000
        0x66, 0x49, // dec ecx
        0x75, 0xfc, // jnz -4
        0xf4, // hlt
    ];
    const GUEST_ADDR: u64 = 0x1000;
    let kvm = Kvm::new().map_err(|e| format!("opening /dev/kvm: {e}"))?;
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    // SAFETY: an anonymous private mapping with no address hint; the result
    // is checked against MAP_FAILED before use.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MEM_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_ANONYMOUS | libc::MAP_PRIVATE | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `mem` is a live mapping of MEM_SIZE bytes, and the program
    // is shorter than that.
    unsafe { std::ptr::copy_nonoverlapping(PROGRAM.as_ptr(), mem as *mut u8, PROGRAM.len()) };
    let region = kvm_userspace_memory_region {
        slot: 0,
        guest_phys_addr: GUEST_ADDR,
        memory_size: MEM_SIZE as u64,
        userspace_addr: mem as u64,
        flags: 0,
    };
    // SAFETY: the region points at our mapping, which lives until the
    // process exits (the probe process exits right after).
    unsafe { vm.set_user_memory_region(region) }
        .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
    let mut vcpu = vm
        .create_vcpu(0)
        .map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    let mut sregs = vcpu
        .get_sregs()
        .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_sregs(&sregs)
        .map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
    let mut regs = vcpu.get_regs().map_err(|e| format!("KVM_GET_REGS: {e}"))?;
    regs.rip = GUEST_ADDR;
    regs.rflags = 2;
    vcpu.set_regs(&regs)
        .map_err(|e| format!("KVM_SET_REGS: {e}"))?;
    match vcpu.run() {
        Ok(VcpuExit::Hlt) => Ok(()),
        Ok(other) => Err(format!("the vCPU exited with {other:?} instead of HLT")),
        Err(e) => Err(format!("KVM_RUN: {e}")),
    }
}

/// KVM is only probed on x86_64 Linux.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
pub fn probe_in_process() -> Result<(), String> {
    Err("the KVM probe runs on x86_64 Linux only".into())
}

/// Runs `skiff_bin machine probe-kvm` and waits up to [`PROBE_TIMEOUT`]:
/// `Ok` when KVM works, else why not (missing device, no permission, or a
/// vCPU that never exits).
pub fn probe(skiff_bin: &Path) -> Result<(), String> {
    if !Path::new("/dev/kvm").exists() {
        return Err("/dev/kvm does not exist".into());
    }
    let mut child = Command::new(skiff_bin)
        .args(["machine", "probe-kvm"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {} machine probe-kvm: {e}", skiff_bin.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use std::io::Read;
                    let _ = stderr.read_to_string(&mut err);
                }
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("KVM probe failed: {}", err.trim()))
                };
            }
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "a KVM vCPU did not finish a short loop within {} ms: guest code is not running natively",
                    PROBE_TIMEOUT.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the KVM probe: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_a_clear_no() {
        if !Path::new("/dev/kvm").exists() {
            let err = probe(Path::new("/nonexistent/skiff")).expect_err("no kvm");
            assert!(err.contains("/dev/kvm"), "{err}");
            return;
        }
        let err = probe(Path::new("/nonexistent/skiff")).expect_err("no binary");
        assert!(err.contains("/nonexistent/skiff"), "{err}");
    }
}
