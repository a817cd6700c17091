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
//! The default profile's tables live in `default` (data only); [`bpf`]
//! compiles the resolved filter once and loads it.

pub mod bpf;
mod default;

pub use default::ALWAYS_ALLOWED;

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

#[cfg(test)]
mod tests;
