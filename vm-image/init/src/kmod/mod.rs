//! Kernel modules: which to load (`/etc/skiff/modules`), in which order
//! (`modules.dep`), and loading them.

pub mod alias;
pub mod deps;
pub mod load;
pub mod modprobe;

use std::path::{Path, PathBuf};

pub use deps::{DepsError, Module, ModulesDep};
pub use load::LoadError;

/// Why the module set could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    /// A list or modules.dep could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dependency graph is unusable.
    #[error(transparent)]
    Deps(#[from] DepsError),
}

/// `/lib/modules/<release>` of the running kernel.
pub fn modules_dir() -> PathBuf {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    Path::new("/lib/modules").join(release)
}

/// What one loading pass did.
#[derive(Debug, Default)]
pub struct Report {
    /// Modules inserted (or found already loaded).
    pub loaded: usize,
    /// Modules that failed, with why (the others are still loaded).
    pub failed: Vec<LoadError>,
    /// How long each inserted module took, in load order.
    pub timings: Vec<(String, std::time::Duration)>,
}

impl Report {
    /// The `n` slowest modules, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<(String, std::time::Duration)> {
        let mut t = self.timings.clone();
        t.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        t.truncate(n);
        t
    }
}

/// The load order of `wanted`, from `dir/modules.dep`.
pub fn plan(dir: &Path, wanted: &[String]) -> Result<Vec<Module>, KmodError> {
    let dep_path = dir.join("modules.dep");
    let text = std::fs::read_to_string(&dep_path).map_err(|source| KmodError::Read {
        path: dep_path,
        source,
    })?;
    Ok(ModulesDep::parse(&text).load_order(wanted)?)
}

/// Loads `modules` in order; a failure is recorded and the rest still load.
/// (One at a time: loading independent drivers on parallel threads was
/// measured 3× slower under QEMU TCG — every load flushes TLBs on all CPUs.)
pub fn load_all(dir: &Path, modules: &[Module]) -> Report {
    let mut report = Report::default();
    for module in modules {
        if load::is_loaded(&module.name) {
            report.loaded += 1;
            continue;
        }
        let started = std::time::Instant::now();
        match load::load(dir, module) {
            Ok(()) => {
                report.loaded += 1;
                report
                    .timings
                    .push((module.name.clone(), started.elapsed()));
            }
            Err(e) => report.failed.push(e),
        }
    }
    report
}

/// Reads a module list file (one name per line, `#` comments).
pub fn read_list(path: &Path) -> Result<Vec<String>, KmodError> {
    std::fs::read_to_string(path)
        .map(|t| deps::parse_list(&t))
        .map_err(|source| KmodError::Read {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn slowest_first() {
        let report = Report {
            loaded: 3,
            failed: Vec::new(),
            timings: vec![
                ("a".into(), Duration::from_millis(5)),
                ("b".into(), Duration::from_millis(50)),
                ("c".into(), Duration::from_millis(20)),
            ],
        };
        let names: Vec<String> = report.slowest(2).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["b", "c"]);
    }
}
