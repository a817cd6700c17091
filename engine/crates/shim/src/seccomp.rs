//! Seccomp profiles in docker's format, and docker's default one.
//!
//! A docker profile is an OCI `linux.seccomp` plus conditions: a rule may
//! apply only when the container has (`includes.caps`) or lacks
//! (`excludes.caps`) capabilities, only on some architectures, or only from
//! some kernel version on; and `archMap` lists, per native architecture, the
//! compat architectures the filter also covers. [`Profile::resolve`] turns a
//! profile into the OCI filter for one container, as dockerd's
//! `setupSeccomp` does: with the container's capabilities (bounding set), the
//! machine's architecture and the running kernel.
//!
//! [`Profile::docker_default`] is docker's built-in profile (moby's
//! `profiles/seccomp/default.json`): everything is denied with `EPERM`
//! except an allow list of about 370 ordinary system calls; namespace,
//! mount, module, clock, reboot, tracing and BPF calls are allowed only with
//! the capability that governs them; `clone` is allowed without namespace
//! flags, and `clone3` answers `ENOSYS` (so libc falls back to `clone`)
//! unless the container has `CAP_SYS_ADMIN`.
//!
//! [`bpf`] compiles the resolved filter once and loads it.

pub mod bpf;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Deserializer};

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The JSON is not a seccomp profile.
    #[error("decoding seccomp profile failed: {0}")]
    Decode(#[from] serde_json::Error),
    /// A profile that names its architectures both ways.
    #[error(
        "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'"
    )]
    ArchitecturesAndArchMap,
    /// A rule with both `name` and `names`.
    #[error(
        "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'"
    )]
    NameAndNames,
    /// A rule's `minKernel` is not a kernel version.
    #[error("invalid minKernel {0:?} in the seccomp profile")]
    MinKernel(String),
}

/// A seccomp profile in docker's JSON format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// What a call no rule matches gets.
    pub default_action: LinuxSeccompAction,
    /// The errno of a default `SCMP_ACT_ERRNO` (libseccomp's default: `EPERM`).
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Architectures, the old way (the native one is always included).
    #[serde(default, deserialize_with = "nullable")]
    pub architectures: Vec<Arch>,
    /// Per native architecture, the compat architectures to cover too.
    #[serde(default, deserialize_with = "nullable")]
    pub arch_map: Vec<ArchMap>,
    /// Filter flags.
    #[serde(default, deserialize_with = "nullable")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// The rules, in order.
    #[serde(default, deserialize_with = "nullable")]
    pub syscalls: Vec<Rule>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// A native architecture.
    pub architecture: Arch,
    /// What else the filter covers on it.
    #[serde(default, deserialize_with = "nullable")]
    pub sub_architectures: Vec<Arch>,
}

/// One rule: an action for some calls, maybe only for some arguments, maybe
/// only under conditions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// A single call (old format).
    #[serde(default)]
    pub name: Option<String>,
    /// The calls.
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    /// What they get.
    pub action: LinuxSeccompAction,
    /// The errno of `SCMP_ACT_ERRNO`.
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// Argument conditions, runc's way (for `SCMP_CMP_MASKED_EQ`, `value`
    /// is the mask and `valueTwo` the value the masked argument must equal).
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<LinuxSeccompArg>,
    /// The rule applies only if all of these hold.
    #[serde(default, deserialize_with = "nullable")]
    pub includes: Filter,
    /// The rule does not apply if any of these holds.
    #[serde(default, deserialize_with = "nullable")]
    pub excludes: Filter,
}

/// A rule's condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (`CAP_…`).
    #[serde(default, deserialize_with = "nullable")]
    pub caps: Vec<String>,
    /// Architectures, Go's names (`amd64`, `arm64`, …).
    #[serde(default, deserialize_with = "nullable")]
    pub arches: Vec<String>,
    /// A kernel version (`4.8`).
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// `null` reads as the empty value (docker's profiles say `"args": null`).
fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// The machine a profile is resolved for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The native seccomp architecture (`None` when libseccomp's native one
    /// is all docker's tables know of it).
    pub arch: Option<Arch>,
    /// Go's name of the architecture, as profiles' `arches` use.
    pub go_arch: &'static str,
    /// The running kernel's `major.minor`.
    pub kernel: (u32, u32),
}

impl Target {
    /// This machine: the architecture skiffd was built for, and the running
    /// kernel (`0.0` when unreadable, which fails every `minKernel`).
    pub fn host() -> Self {
        let (arch, go_arch) = match std::env::consts::ARCH {
            "x86_64" => (Some(Arch::ScmpArchX86_64), "amd64"),
            "x86" => (Some(Arch::ScmpArchX86), "386"),
            "aarch64" => (Some(Arch::ScmpArchAarch64), "arm64"),
            "arm" => (Some(Arch::ScmpArchArm), "arm"),
            "riscv64" => (Some(Arch::ScmpArchRiscv64), "riscv64"),
            "s390x" => (Some(Arch::ScmpArchS390x), "s390x"),
            "powerpc64" if cfg!(target_endian = "little") => {
                (Some(Arch::ScmpArchPpc64le), "ppc64le")
            }
            "powerpc64" => (Some(Arch::ScmpArchPpc64), "ppc64"),
            "loongarch64" => (Some(Arch::ScmpArchLoongarch64), "loong64"),
            other => (None, other),
        };
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| parse_kernel(&r))
            .unwrap_or((0, 0));
        Target {
            arch,
            go_arch,
            kernel,
        }
    }
}

/// `major.minor` of a kernel release (`6.1.0-18-amd64` → `(6, 1)`).
fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor))
}

/// docker's name of a capability (`CAP_SYS_ADMIN`).
pub fn cap_name(cap: Capability) -> String {
    format!("CAP_{cap}")
}

impl Profile {
    /// Parse a profile in docker's JSON format (what `docker run
    /// --security-opt seccomp=profile.json` sends).
    pub fn from_json(json: &str) -> Result<Self, SeccompError> {
        Ok(serde_json::from_str(json)?)
    }

    /// The OCI filter of this profile for a container with `caps` (its
    /// bounding set) on `target`.
    pub fn resolve(
        &self,
        caps: &[Capability],
        target: &Target,
    ) -> Result<LinuxSeccomp, SeccompError> {
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(SeccompError::ArchitecturesAndArchMap);
        }
        let caps: Vec<String> = caps.iter().copied().map(cap_name).collect();
        let mut arches = self.architectures.clone();
        if let Some(native) = target.arch {
            for m in self.arch_map.iter().filter(|m| m.architecture == native) {
                arches.push(m.architecture);
                arches.extend(m.sub_architectures.iter().copied());
            }
        }
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            if rule.name.is_some() && !rule.names.is_empty() {
                return Err(SeccompError::NameAndNames);
            }
            if !rule.applies(&caps, target)? {
                continue;
            }
            let names = match &rule.name {
                Some(n) => vec![n.clone()],
                None => rule.names.clone(),
            };
            let mut syscall = LinuxSyscall::default();
            syscall.set_names(names);
            syscall.set_action(rule.action);
            syscall.set_errno_ret(rule.errno_ret);
            if !rule.args.is_empty() {
                syscall.set_args(Some(rule.args.iter().map(libcontainer_arg).collect()));
            }
            syscalls.push(syscall);
        }
        let mut seccomp = LinuxSeccomp::default();
        seccomp.set_default_action(self.default_action);
        seccomp.set_default_errno_ret(self.default_errno_ret);
        seccomp.set_architectures((!arches.is_empty()).then_some(arches));
        seccomp.set_flags((!self.flags.is_empty()).then(|| self.flags.clone()));
        seccomp.set_syscalls(Some(syscalls));
        Ok(seccomp)
    }
}

impl Rule {
    fn new(names: &[&str], action: LinuxSeccompAction) -> Self {
        Rule {
            name: None,
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            action,
            errno_ret: None,
            args: Vec::new(),
            includes: Filter::default(),
            excludes: Filter::default(),
        }
    }

    /// Whether the rule applies to a container with `caps` on `target`
    /// (dockerd's order: excludes first, then includes).
    fn applies(&self, caps: &[String], target: &Target) -> Result<bool, SeccompError> {
        let ex = &self.excludes;
        if ex.arches.iter().any(|a| a == target.go_arch) || ex.caps.iter().any(|c| caps.contains(c))
        {
            return Ok(false);
        }
        if let Some(min) = &ex.min_kernel {
            if target.kernel >= min_kernel(min)? {
                return Ok(false);
            }
        }
        let inc = &self.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.go_arch) {
            return Ok(false);
        }
        if !inc.caps.iter().all(|c| caps.contains(c)) {
            return Ok(false);
        }
        if let Some(min) = &inc.min_kernel {
            if target.kernel < min_kernel(min)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn errno(mut self, errno: i32) -> Self {
        self.errno_ret = u32::try_from(errno).ok();
        self
    }

    fn arg(mut self, index: usize, value: u64, op: LinuxSeccompOperator) -> Self {
        self.args.push(seccomp_arg(index, value, None, op));
        self
    }

    fn with_caps(mut self, caps: &[Capability]) -> Self {
        self.includes.caps = caps.iter().copied().map(cap_name).collect();
        self
    }

    fn without_caps(mut self, caps: &[Capability]) -> Self {
        self.excludes.caps = caps.iter().copied().map(cap_name).collect();
        self
    }

    fn on_arches(mut self, arches: &[&str]) -> Self {
        self.includes.arches = arches.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    fn not_on_arches(mut self, arches: &[&str]) -> Self {
        self.excludes.arches = arches.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    fn since_kernel(mut self, version: &str) -> Self {
        self.includes.min_kernel = Some(version.to_owned());
        self
    }
}

fn min_kernel(v: &str) -> Result<(u32, u32), SeccompError> {
    let mut parts = v.split('.');
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => Err(SeccompError::MinKernel(v.to_owned())),
    }
}

/// An argument condition as youki's libcontainer reads it. runc (and so
/// docker's profiles) take `SCMP_CMP_MASKED_EQ`'s `value` as the mask and
/// `valueTwo` as the value to compare with; libcontainer 0.7 takes them the
/// other way round, so they are swapped here.
fn libcontainer_arg(arg: &LinuxSeccompArg) -> LinuxSeccompArg {
    if arg.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
        seccomp_arg(
            arg.index(),
            arg.value_two().unwrap_or(0),
            Some(arg.value()),
            arg.op(),
        )
    } else {
        *arg
    }
}

fn seccomp_arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> LinuxSeccompArg {
    let mut builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    if let Some(v) = value_two {
        builder = builder.value_two(v);
    }
    // Every field has a default: building cannot fail.
    builder.build().unwrap_or_default()
}

/// System calls docker's default profile allows to every container.
pub const ALWAYS_ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Calls `CAP_SYS_ADMIN` unlocks (namespaces, mounts, …).
const SYS_ADMIN_CALLS: &[&str] = &[
    "bpf",
    "clone",
    "clone3",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
];

/// The `clone` flags that make new namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// `personality(2)` values docker allows: `PER_LINUX`, `PER_LINUX32`,
/// `UNAME26`, `PER_LINUX32|UNAME26` and the query `0xffffffff`.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// `AF_VSOCK`: the one socket family docker's profile refuses.
const AF_VSOCK: u64 = 40;

impl Profile {
    /// Docker's default profile.
    pub fn docker_default() -> Self {
        use Capability as C;
        use LinuxSeccompAction::{ScmpActAllow as Allow, ScmpActErrno as Errno};
        use LinuxSeccompOperator::{ScmpCmpEq as Eq, ScmpCmpMaskedEq as MaskedEq, ScmpCmpNe as Ne};
        let allow = |names: &[&str]| Rule::new(names, Allow);
        let mut rules = vec![
            allow(ALWAYS_ALLOWED),
            allow(&["process_vm_readv", "process_vm_writev", "ptrace"]).since_kernel("4.8"),
            allow(&["socket"]).arg(0, AF_VSOCK, Ne),
        ];
        rules.extend(
            PERSONALITIES
                .iter()
                .map(|p| allow(&["personality"]).arg(0, *p, Eq)),
        );
        rules.extend([
            allow(&["sync_file_range2", "swapcontext"]).on_arches(&["ppc64le"]),
            allow(&[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ])
            .on_arches(&["arm", "arm64"]),
            allow(&["arch_prctl"]).on_arches(&["amd64", "x32"]),
            allow(&["modify_ldt"]).on_arches(&["amd64", "x32", "x86"]),
            allow(&[
                "s390_pci_mmio_read",
                "s390_pci_mmio_write",
                "s390_runtime_instr",
            ])
            .on_arches(&["s390", "s390x"]),
            allow(&["riscv_flush_icache"]).on_arches(&["riscv64"]),
            allow(&["open_by_handle_at"]).with_caps(&[C::DacReadSearch]),
            allow(SYS_ADMIN_CALLS).with_caps(&[C::SysAdmin]),
            allow(&["clone"])
                .arg(0, CLONE_NAMESPACE_FLAGS, MaskedEq)
                .without_caps(&[C::SysAdmin])
                .not_on_arches(&["s390", "s390x"]),
            // s390 passes clone's flags second.
            allow(&["clone"])
                .arg(1, CLONE_NAMESPACE_FLAGS, MaskedEq)
                .on_arches(&["s390", "s390x"])
                .without_caps(&[C::SysAdmin]),
            Rule::new(&["clone3"], Errno)
                .errno(libc::ENOSYS)
                .without_caps(&[C::SysAdmin]),
            allow(&["reboot"]).with_caps(&[C::SysBoot]),
            allow(&["chroot"]).with_caps(&[C::SysChroot]),
            allow(&["delete_module", "init_module", "finit_module"]).with_caps(&[C::SysModule]),
            allow(&["acct"]).with_caps(&[C::SysPacct]),
            allow(&[
                "kcmp",
                "pidfd_getfd",
                "process_madvise",
                "process_vm_readv",
                "process_vm_writev",
                "ptrace",
            ])
            .with_caps(&[C::SysPtrace]),
            allow(&["iopl", "ioperm"]).with_caps(&[C::SysRawio]),
            allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"])
                .with_caps(&[C::SysTime]),
            allow(&["vhangup"]).with_caps(&[C::SysTtyConfig]),
            allow(&[
                "get_mempolicy",
                "mbind",
                "set_mempolicy",
                "set_mempolicy_home_node",
            ])
            .with_caps(&[C::SysNice]),
            allow(&["syslog"]).with_caps(&[C::Syslog]),
            allow(&["bpf"]).with_caps(&[C::Bpf]),
            allow(&["perf_event_open"]).with_caps(&[C::Perfmon]),
        ]);
        let map = |architecture, subs: &[Arch]| ArchMap {
            architecture,
            sub_architectures: subs.to_vec(),
        };
        Profile {
            default_action: Errno,
            default_errno_ret: u32::try_from(libc::EPERM).ok(),
            architectures: Vec::new(),
            arch_map: vec![
                map(
                    Arch::ScmpArchX86_64,
                    &[Arch::ScmpArchX86, Arch::ScmpArchX32],
                ),
                map(Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
                map(
                    Arch::ScmpArchMips64,
                    &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
                ),
                map(
                    Arch::ScmpArchMips64n32,
                    &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
                ),
                map(
                    Arch::ScmpArchMipsel64,
                    &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
                ),
                map(
                    Arch::ScmpArchMipsel64n32,
                    &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
                ),
                map(Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
                map(Arch::ScmpArchRiscv64, &[]),
            ],
            flags: Vec::new(),
            syscalls: rules,
        }
    }
}

#[cfg(test)]
mod tests {
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
}
