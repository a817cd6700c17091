//! A `linux.seccomp` filter compiled to BPF once, kept, and loaded with
//! `seccomp(2)`.
//!
//! libseccomp needs ~15 ms (release; ~35 ms in a debug build) to turn
//! docker's default profile into BPF for x86_64 + x86 + x32; youki's
//! libcontainer does it again for every container and never for an exec.
//! Instead, [`compiled`] compiles each distinct filter once per process
//! (skiffd keeps them), the bundle writer stores the program next to
//! `config.json` ([`FILE_NAME`]), and the shim loads it with [`install`].
//!
//! [`compile`] translates the OCI filter exactly as libcontainer 0.7's
//! `seccomp::initialize_seccomp` does (same libseccomp calls in the same
//! order: actions, `SCMP_CMP_MASKED_EQ` with `valueTwo` as the mask, rules
//! whose action is the default skipped, unknown system calls skipped, one
//! rule per condition when two conditions test the same argument), so a
//! bundle means the same whichever of the two compiles it.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::{Deserialize, Serialize};

use crate::error::FileError;

/// The compiled filter's file in a bundle, beside `config.json`.
pub const FILE_NAME: &str = "seccomp-bpf.json";

/// The kernel's limit on the length of one filter (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// Distinct filters kept by [`compiled`] before the cache starts over
/// (one per profile and capability set in use).
const CACHE_SIZE: usize = 32;

/// Why a filter cannot be compiled, stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// A rule sends calls to a seccomp agent, which skiff does not run.
    #[error("seccomp action SCMP_ACT_NOTIFY is not supported")]
    Notify,
    /// `SCMP_ACT_TRACE` takes a 16-bit value.
    #[error("seccomp errno {0} of SCMP_ACT_TRACE does not fit in 16 bits")]
    TraceErrno(u32),
    /// libseccomp refused a step.
    #[error("libseccomp failed to {op}: {source}")]
    Libseccomp {
        /// What was being done.
        op: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Getting the program out of libseccomp failed.
    #[error("failed to export the seccomp filter: {0}")]
    Export(#[source] std::io::Error),
    /// The kernel would refuse the program.
    #[error("seccomp filter of {0} instructions is longer than the kernel's limit of 4096")]
    TooLong(usize),
    /// Reading or writing the compiled filter's file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The compiled filter's file does not parse.
    #[error("invalid compiled seccomp filter {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// A filter as `seccomp(SECCOMP_SET_MODE_FILTER, flags, program)` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// `SECCOMP_FILTER_FLAG_*` (the profile's `flags`).
    pub flags: u32,
    /// The instructions, each `code | jt << 16 | jf << 24 | k << 32`.
    pub instructions: Vec<u64>,
}

impl Program {
    /// The instructions as the kernel reads them.
    pub fn sock_filters(&self) -> Vec<libc::sock_filter> {
        self.instructions
            .iter()
            .map(|&i| libc::sock_filter {
                code: (i & 0xffff) as u16,
                jt: ((i >> 16) & 0xff) as u8,
                jf: ((i >> 24) & 0xff) as u8,
                k: (i >> 32) as u32,
            })
            .collect()
    }

    fn from_bpf(bytes: &[u8], flags: u32) -> Result<Self, BpfError> {
        let instructions: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| {
                let code = u16::from_ne_bytes([c[0], c[1]]);
                let k = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
                u64::from(code) | u64::from(c[2]) << 16 | u64::from(c[3]) << 24 | u64::from(k) << 32
            })
            .collect();
        if bytes.len() % 8 != 0 || instructions.is_empty() {
            return Err(BpfError::Export(std::io::Error::other(format!(
                "libseccomp exported {} bytes, not whole instructions",
                bytes.len()
            ))));
        }
        if instructions.len() > MAX_INSTRUCTIONS {
            return Err(BpfError::TooLong(instructions.len()));
        }
        Ok(Program {
            flags,
            instructions,
        })
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn scmp_action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, BpfError> {
    let errno_value = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno_value),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno_value)
                .map_err(|_| BpfError::TraceErrno(errno.unwrap_or_default()))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActNotify => return Err(BpfError::Notify),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
    })
}

fn scmp_op(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// `seccomp(2)` flags of the profile's `flags` (`TSYNC` is moot: the
/// process is single-threaded when it loads the filter).
fn filter_flags(seccomp: &LinuxSeccomp) -> u32 {
    let mut flags = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG as u32,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync
            | LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    flags
}

fn lib_err(op: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> BpfError {
    let op = op.into();
    move |source| BpfError::Libseccomp { op, source }
}

/// Builds libseccomp's filter context the way libcontainer 0.7 does.
fn context(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext, BpfError> {
    let default = scmp_action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib_err("create a filter"))?;
    for &arch in seccomp.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(arch))
            .map_err(lib_err(format!("add architecture {arch:?}")))?;
    }
    ctx.set_ctl_nnp(false)
        .map_err(lib_err("clear SCMP_FLTATR_CTL_NNP"))?;
    for syscall in seccomp.syscalls().iter().flatten() {
        let action = scmp_action(syscall.action(), syscall.errno_ret())?;
        if action == default {
            continue;
        }
        for name in syscall.names() {
            // A call this libseccomp does not know: the kernel cannot have it.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let args = syscall.args().as_deref().unwrap_or_default();
            let cmps: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, scmp_op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
            indexes.sort_unstable();
            indexes.dedup();
            let op = || format!("add a rule for {name}");
            if cmps.is_empty() {
                ctx.add_rule(action, sc).map_err(lib_err(op()))?;
            } else if indexes.len() < cmps.len() {
                // libseccomp compares an argument once per rule.
                for cmp in &cmps {
                    ctx.add_rule_conditional(action, sc, std::slice::from_ref(cmp))
                        .map_err(lib_err(op()))?;
                }
            } else {
                ctx.add_rule_conditional(action, sc, &cmps)
                    .map_err(lib_err(op()))?;
            }
        }
    }
    Ok(ctx)
}

/// Compiles `seccomp` with libseccomp (every time; see [`compiled`]).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Program, BpfError> {
    let ctx = context(seccomp)?;
    // SAFETY: memfd_create with a valid C string; the result is checked and
    // owned right away.
    let fd = unsafe { libc::memfd_create(c"skiff-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(BpfError::Export(std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and nothing else owns it.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(lib_err("export the filter"))?;
    let mut bytes = Vec::new();
    file.rewind().map_err(BpfError::Export)?;
    file.read_to_end(&mut bytes).map_err(BpfError::Export)?;
    Program::from_bpf(&bytes, filter_flags(seccomp))
}

static CACHE: LazyLock<Mutex<HashMap<String, Arc<Program>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// [`compile`], once per distinct filter in this process.
pub fn compiled(seccomp: &LinuxSeccomp) -> Result<Arc<Program>, BpfError> {
    let key = serde_json::to_string(seccomp).map_err(|source| BpfError::Json {
        path: PathBuf::from("<seccomp>"),
        source,
    })?;
    if let Some(p) = CACHE.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(p);
    }
    let program = Arc::new(compile(seccomp)?);
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key, program.clone());
    }
    Ok(program)
}

/// The file: the filter as `config.json` has it, and its program.
#[derive(Serialize, Deserialize)]
struct Stored {
    seccomp: LinuxSeccomp,
    program: Program,
}

/// Writes `program`, compiled from `seccomp`, to `dir/`[`FILE_NAME`].
pub fn store(dir: &Path, seccomp: &LinuxSeccomp, program: &Program) -> Result<PathBuf, BpfError> {
    let path = dir.join(FILE_NAME);
    let stored = Stored {
        seccomp: seccomp.clone(),
        program: program.clone(),
    };
    let json = serde_json::to_vec(&stored).map_err(|source| BpfError::Json {
        path: path.clone(),
        source,
    })?;
    crate::paths::write_atomic(&path, &json).map_err(FileError::on("write", &path))?;
    Ok(path)
}

/// The program stored in `dir/`[`FILE_NAME`] if it was compiled from
/// `seccomp`; `None` when there is none or it is another filter's.
pub fn load_stored(dir: &Path, seccomp: &LinuxSeccomp) -> Result<Option<Program>, BpfError> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError {
                op: "read",
                path,
                source,
            }
            .into());
        }
    };
    let stored: Stored =
        serde_json::from_slice(&bytes).map_err(|source| BpfError::Json { path, source })?;
    Ok((stored.seccomp == *seccomp).then_some(stored.program))
}

/// Loads `program` into the calling thread with `seccomp(2)`. The caller
/// needs `no_new_privs` or `CAP_SYS_ADMIN`; the filter binds the process
/// and its descendants for good.
pub fn install(program: &Program) -> std::io::Result<()> {
    install_filters(program.flags, &program.sock_filters())
}

/// [`install`] of instructions already in the kernel's form (allocates
/// nothing: fine in a child forked from a multi-threaded process).
pub fn install_filters(flags: u32, filters: &[libc::sock_filter]) -> std::io::Result<()> {
    let len = u16::try_from(filters.len())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: filters.as_ptr().cast_mut(),
    };
    // SAFETY: fprog points at `len` initialised instructions that outlive the
    // call; the kernel only reads (copies) them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use oci_spec::runtime::LinuxSyscall;

    use super::*;
    use crate::bundle::DEFAULT_CAPABILITIES;
    use crate::seccomp::{Profile, Target};

    fn docker_default() -> LinuxSeccomp {
        Profile::docker_default()
            .resolve(&DEFAULT_CAPABILITIES, &Target::host())
            .expect("docker's profile resolves")
    }

    fn errno_filter(names: &[&str], errno: u32) -> LinuxSeccomp {
        let mut rule = LinuxSyscall::default();
        rule.set_names(names.iter().map(|n| (*n).to_owned()).collect());
        rule.set_action(LinuxSeccompAction::ScmpActErrno);
        rule.set_errno_ret(Some(errno));
        let mut s = LinuxSeccomp::default();
        s.set_default_action(LinuxSeccompAction::ScmpActAllow);
        s.set_syscalls(Some(vec![rule]));
        s
    }

    #[test]
    fn compiles_docker_default_once() {
        let seccomp = docker_default();
        let t = Instant::now();
        let first = compiled(&seccomp).expect("compiles");
        let compile_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let again = compiled(&seccomp).expect("cached");
        let cached_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(Arc::ptr_eq(&first, &again), "second call is the cached one");
        assert_eq!(first.flags, 0);
        assert!(
            first.instructions.len() > 100 && first.instructions.len() <= MAX_INSTRUCTIONS,
            "{} instructions",
            first.instructions.len()
        );
        // The first instruction loads the architecture (seccomp_data.arch).
        let f = first.sock_filters();
        assert_eq!((f[0].code, f[0].k), (0x20, 4), "{:?}", f[0]);
        eprintln!(
            "FIGURE seccomp: docker default compiled in {compile_ms:.1} ms \
             ({} instructions), cached lookup {cached_ms:.3} ms",
            first.instructions.len()
        );
    }

    #[test]
    fn x32_share_of_the_compile_cost() {
        let with = docker_default();
        let mut without = with.clone();
        without.set_architectures(Some(
            with.architectures()
                .iter()
                .flatten()
                .copied()
                .filter(|a| *a != Arch::ScmpArchX32)
                .collect(),
        ));
        let time = |s: &LinuxSeccomp| {
            let t = Instant::now();
            let p = compile(s).expect("compiles");
            (t.elapsed().as_secs_f64() * 1000.0, p.instructions.len())
        };
        let (_, _) = time(&with);
        let (ms_with, n_with) = time(&with);
        let (ms_without, n_without) = time(&without);
        eprintln!(
            "FIGURE seccomp: compile with x32 {ms_with:.1} ms ({n_with} insns), \
             without x32 {ms_without:.1} ms ({n_without} insns)"
        );
        if with
            .architectures()
            .iter()
            .flatten()
            .any(|a| *a == Arch::ScmpArchX32)
        {
            assert!(n_without < n_with);
        }
    }

    #[test]
    fn stored_program_is_used_only_for_its_own_filter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = errno_filter(&["getcwd"], 11);
        let b = errno_filter(&["getcwd"], 12);
        assert!(load_stored(dir.path(), &a).expect("no file").is_none());
        let program = compile(&a).expect("compiles");
        store(dir.path(), &a, &program).expect("stores");
        assert_eq!(load_stored(dir.path(), &a).expect("reads"), Some(program));
        assert_eq!(load_stored(dir.path(), &b).expect("reads"), None);
        std::fs::write(dir.path().join(FILE_NAME), b"{").expect("write");
        assert!(matches!(
            load_stored(dir.path(), &a),
            Err(BpfError::Json { .. })
        ));
    }

    #[test]
    fn notify_is_refused() {
        let mut s = errno_filter(&["getcwd"], 1);
        let mut rules = s.syscalls().clone().unwrap_or_default();
        rules[0].set_action(LinuxSeccompAction::ScmpActNotify);
        s.set_syscalls(Some(rules));
        assert!(matches!(compile(&s), Err(BpfError::Notify)));
    }

    /// Forks; the child loads a filter that makes getcwd fail with EAGAIN and
    /// reports what getcwd and /proc/self/status then say.
    #[test]
    fn installed_filter_applies() {
        let program = compile(&errno_filter(&["getcwd"], libc::EAGAIN as u32)).expect("compiles");
        let filters = program.sock_filters();
        let mut fds = [0; 2];
        // SAFETY: pipe fills the two-element array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only makes system calls (no allocation, no locks)
        // before _exit; the instructions were prepared before the fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let ok = install_filters(program.flags, &filters).is_ok();
                let mut buf = [0u8; 64];
                let cwd_failed = libc::getcwd(buf.as_mut_ptr().cast(), buf.len()).is_null();
                let errno = *libc::__errno_location();
                let report = [u8::from(ok), u8::from(cwd_failed), errno as u8];
                libc::write(fds[1], report.as_ptr().cast(), 3);
                libc::_exit(0);
            }
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(fds[1]) };
        let mut report = [0u8; 3];
        // SAFETY: reading 3 bytes into a 3-byte buffer.
        let n = unsafe { libc::read(fds[0], report.as_mut_ptr().cast(), 3) };
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe {
            libc::waitpid(pid, &mut status, 0);
            libc::close(fds[0]);
        }
        assert_eq!(n, 3);
        assert_eq!(
            report,
            [1, 1, libc::EAGAIN as u8],
            "loaded, getcwd failed, EAGAIN"
        );
    }
}
