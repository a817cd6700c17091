//! The container's seccomp filter, loaded by the shim into its init process
//! and into every exec.
//!
//! youki's libcontainer 0.7 gets two things wrong for skiff:
//!
//! - **Execs run unfiltered.** `TenantContainerBuilder::build` loads the
//!   container's `config.json`, then `adapt_spec_for_tenant` replaces its
//!   `linux` section with a new one holding only the namespaces,
//!   `cgroupsPath`, `personality` and `timeOffsets`; `linux.seccomp` is
//!   dropped, and the init code (`process/init/process.rs`, which loads
//!   `ctx.linux.seccomp()` for both kinds of process) finds none. The builder
//!   has no setting for it.
//! - **Every container compiles the filter again** with libseccomp
//!   (`seccomp::initialize_seccomp`), ~15 ms in release builds for docker's
//!   profile, and libcontainer cannot be handed a compiled program.
//!
//! So libcontainer never sees the filter: the shim gives it a copy of the
//! bundle without `linux.seccomp` (`<state-dir>/bundle/config.json`, the
//! rootfs path made absolute), and loads the program compiled by skiffd
//! ([`skiff_shim::seccomp::bpf`], stored beside `config.json`; compiled here
//! if missing) from the one hook libcontainer offers inside the new process:
//! the [`Executor`], which runs last, just before `execve`.
//!
//! By then libcontainer has dropped the capabilities, and `seccomp(2)` needs
//! `CAP_SYS_ADMIN` unless `no_new_privs` is set (docker leaves it unset). So
//! when the process has neither, the spec given to libcontainer adds
//! `CAP_SYS_ADMIN` to the effective and permitted sets (never to the bounding,
//! inheritable or ambient ones), and the executor removes it with `capset`
//! right after loading the filter, before `execve`: the workload never holds
//! it, and `capset`/`execve` are all that run under the filter, as with
//! runc. libcontainer runs its own code only (no hook: skiff bundles have
//! none) while the capability is held.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use libcontainer::workload::default::get_executor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::{Capability, LinuxSeccomp, Process, Spec};
use skiff_shim::seccomp::bpf::{self, Program};

use super::error::DaemonError;

/// The bundle handed to libcontainer, in the state directory.
pub const BUNDLE_DIR: &str = "bundle";

/// `CAP_SYS_ADMIN`'s number.
const CAP_SYS_ADMIN_BIT: u32 = 21;
/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// What libcontainer gets to create the container.
pub struct Init {
    /// The bundle to create from (the original one when unfiltered).
    pub bundle: PathBuf,
    /// The compiled filter, for the execs.
    pub program: Option<Arc<Program>>,
    /// Loads it into the init process.
    pub executor: Option<FilterExecutor>,
}

/// Prepares the creation of the container of `spec` (read from `bundle`).
pub fn prepare_init(spec: &Spec, bundle: &Path, state_dir: &Path) -> Result<Init, DaemonError> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(Init {
            bundle: bundle.to_owned(),
            program: None,
            executor: None,
        });
    };
    let program = Arc::new(program_for(&seccomp, bundle)?);

    let mut runtime_spec = spec.clone();
    if let Some(linux) = runtime_spec.linux_mut() {
        linux.set_seccomp(None);
    }
    let mut executor = None;
    if let Some(process) = runtime_spec.process_mut() {
        executor = Some(FilterExecutor::new(&program, process));
    }
    if let Some(root) = runtime_spec.root_mut()
        && root.path().is_relative()
    {
        let path = bundle.join(root.path());
        root.set_path(path);
    }
    let dir = state_dir.join(BUNDLE_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| DaemonError::path("cannot create", &dir, e))?;
    let config = dir.join("config.json");
    let json = serde_json::to_vec(&runtime_spec).map_err(|source| DaemonError::Encode {
        what: config.display().to_string(),
        source,
    })?;
    std::fs::write(&config, json).map_err(|e| DaemonError::path("cannot write", &config, e))?;
    Ok(Init {
        bundle: dir,
        program: Some(program),
        executor,
    })
}

/// The program skiffd stored in the bundle for this filter, or else one
/// compiled now.
fn program_for(seccomp: &LinuxSeccomp, bundle: &Path) -> Result<Program, DaemonError> {
    match bpf::load_stored(bundle, seccomp) {
        Ok(Some(p)) => return Ok(p),
        Ok(None) => {}
        Err(e) => tracing::warn!("ignoring the compiled seccomp filter: {e}"),
    }
    bpf::compile(seccomp).map_err(|source| DaemonError::Seccomp {
        bundle: bundle.to_owned(),
        source,
    })
}

/// An [`Executor`] that loads the seccomp filter, gives up the
/// `CAP_SYS_ADMIN` it was lent for that, then runs the process as
/// libcontainer's default executor does.
#[derive(Clone)]
pub struct FilterExecutor {
    filters: Rc<[libc::sock_filter]>,
    flags: u32,
    /// Bits to clear from the effective set after loading.
    drop_effective: u32,
    /// Bits to clear from the permitted set after loading.
    drop_permitted: u32,
    inner: Box<dyn Executor>,
}

impl FilterExecutor {
    /// The executor for `process` (the container's init or an exec), which
    /// is adjusted so that it can load the filter (see the module's doc).
    pub fn new(program: &Program, process: &mut Process) -> Self {
        let mut drop_effective = 0;
        let mut drop_permitted = 0;
        let nnp = process.no_new_privileges() == Some(true);
        if let Some(caps) = process.capabilities().as_ref().filter(|_| !nnp) {
            let mut caps = caps.clone();
            // Without an effective set libcontainer leaves the process's
            // (full) one alone.
            if let Some(mut effective) = caps.effective().clone()
                && !effective.contains(&Capability::SysAdmin)
            {
                effective.insert(Capability::SysAdmin);
                caps.set_effective(Some(effective));
                drop_effective = 1 << CAP_SYS_ADMIN_BIT;
                let mut permitted = caps.permitted().clone().unwrap_or_default();
                if permitted.insert(Capability::SysAdmin) {
                    drop_permitted = 1 << CAP_SYS_ADMIN_BIT;
                }
                caps.set_permitted(Some(permitted));
            }
            process.set_capabilities(Some(caps));
        }
        FilterExecutor {
            filters: program.sock_filters().into(),
            flags: program.flags,
            drop_effective,
            drop_permitted,
            inner: get_executor(),
        }
    }

    fn load(&self) -> Result<(), LoadError> {
        bpf::install_filters(self.flags, &self.filters).map_err(LoadError::Install)?;
        if self.drop_effective | self.drop_permitted != 0 {
            drop_capabilities(self.drop_effective, self.drop_permitted)
                .map_err(LoadError::DropCapability)?;
        }
        Ok(())
    }
}

/// Why the executor could not confine the new process (it then fails
/// instead of running the workload unconfined).
#[derive(Debug, thiserror::Error)]
enum LoadError {
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("failed to load the seccomp filter: {0}")]
    Install(#[source] std::io::Error),
    /// `capset` failed.
    #[error("failed to drop CAP_SYS_ADMIN after seccomp: {0}")]
    DropCapability(#[source] std::io::Error),
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Clears bits (of capabilities 0–31) from the calling thread's effective
/// and permitted sets.
fn drop_capabilities(effective: u32, permitted: u32) -> std::io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills two CapData for version 3, which `data` holds.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    data[0].effective &= !effective;
    data[0].permitted &= !permitted;
    // SAFETY: capset reads the header and two CapData.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Executor for FilterExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.load().map_err(|e| {
            tracing::error!("{e}");
            ExecutorError::Other(e.to_string())
        })?;
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        self.inner.setup_envs(envs)
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, ProcessBuilder};
    use skiff_shim::bundle::DEFAULT_CAPABILITIES;
    use skiff_shim::seccomp::{Profile, Target};

    use super::*;

    fn program() -> Program {
        let seccomp = Profile::docker_default()
            .resolve(&DEFAULT_CAPABILITIES, &Target::host())
            .expect("resolves");
        bpf::compile(&seccomp).expect("compiles")
    }

    fn process(nnp: Option<bool>) -> Process {
        let set: std::collections::HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set.clone())
            .permitted(set)
            .build()
            .expect("caps");
        let mut p = ProcessBuilder::default()
            .args(vec!["sh".to_owned()])
            .capabilities(caps)
            .build()
            .expect("process");
        p.set_no_new_privileges(nnp);
        p
    }

    #[test]
    fn lends_sys_admin_only_without_no_new_privs() {
        let program = program();
        let mut p = process(None);
        let e = FilterExecutor::new(&program, &mut p);
        let caps = p.capabilities().clone().expect("caps");
        assert!(
            caps.effective()
                .as_ref()
                .is_some_and(|s| s.contains(&Capability::SysAdmin))
        );
        assert!(
            caps.permitted()
                .as_ref()
                .is_some_and(|s| s.contains(&Capability::SysAdmin))
        );
        assert!(
            !caps
                .bounding()
                .as_ref()
                .is_some_and(|s| s.contains(&Capability::SysAdmin)),
            "never in the bounding set"
        );
        assert_eq!((e.drop_effective, e.drop_permitted), (1 << 21, 1 << 21));
        assert_eq!(e.filters.len(), program.instructions.len());

        let mut p = process(Some(true));
        let before = p.capabilities().clone();
        let e = FilterExecutor::new(&program, &mut p);
        assert_eq!(
            p.capabilities(),
            &before,
            "no_new_privs needs no capability"
        );
        assert_eq!((e.drop_effective, e.drop_permitted), (0, 0));
    }

    #[test]
    fn init_bundle_has_no_seccomp_and_an_absolute_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = dir.path().join("b");
        let mut cfg = skiff_shim::bundle::BundleConfig::new("c1", "rootfs", vec!["sh".into()]);
        cfg.cgroups_path = Some("/skiff/c1".into());
        cfg.write(&bundle).expect("bundle");
        let spec = Spec::load(bundle.join("config.json")).expect("spec");
        let state = dir.path().join("state");
        let init = prepare_init(&spec, &bundle, &state).expect("prepared");
        assert_eq!(init.bundle, state.join(BUNDLE_DIR));
        assert!(init.executor.is_some() && init.program.is_some());
        let rt = Spec::load(init.bundle.join("config.json")).expect("runtime spec");
        assert!(rt.linux().as_ref().is_some_and(|l| l.seccomp().is_none()));
        assert_eq!(
            rt.root().as_ref().map(|r| r.path().clone()),
            Some(bundle.join("rootfs"))
        );
        // The stored program is the one used.
        let seccomp = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().clone())
            .expect("filter");
        let stored = bpf::load_stored(&bundle, &seccomp)
            .expect("read")
            .expect("stored");
        assert_eq!(init.program.as_deref(), Some(&stored));

        let mut cfg = skiff_shim::bundle::BundleConfig::new("c2", "/rootfs", vec!["sh".into()]);
        cfg.seccomp = None;
        cfg.write(&bundle).expect("bundle");
        assert!(
            !bundle.join(bpf::FILE_NAME).exists(),
            "stale program removed"
        );
        let spec = Spec::load(bundle.join("config.json")).expect("spec");
        let init = prepare_init(&spec, &bundle, &state).expect("prepared");
        assert_eq!(init.bundle, bundle);
        assert!(init.executor.is_none() && init.program.is_none());
    }
}
