//! `modules.dep` (as written by depmod) and the order to load modules in.

use std::collections::{BTreeMap, BTreeSet};

/// Why a load order cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DepsError {
    /// A requested module (or a dependency) has no line in modules.dep.
    #[error("module {0} is not in modules.dep")]
    Unknown(String),
    /// modules.dep describes a cycle (depmod refuses those; a corrupt file).
    #[error("modules.dep has a dependency cycle through {0}")]
    Cycle(String),
}

/// The parsed `modules.dep`: module name → (path, direct and indirect dependencies' names).
#[derive(Debug, Default, Clone)]
pub struct ModulesDep {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    path: String,
    deps: Vec<String>,
}

/// A module to load: its name and its path relative to `/lib/modules/<release>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Normalised name (`virtio_pci`).
    pub name: String,
    /// Path relative to the modules directory (`kernel/drivers/virtio/virtio_pci.ko`).
    pub path: String,
}

/// A module's name from its file name: `kernel/net/802/stp.ko.xz` → `stp`,
/// dashes become underscores as the kernel does.
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = ["ko.zst", "ko.xz", "ko.gz", "ko"]
        .iter()
        .find_map(|ext| base.strip_suffix(&format!(".{ext}")))
        .unwrap_or(base);
    stem.replace('-', "_")
}

impl ModulesDep {
    /// Parses the text of `modules.dep`. Malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_whitespace().map(module_name).collect();
            entries.insert(
                module_name(path),
                Entry {
                    path: path.to_string(),
                    deps,
                },
            );
        }
        Self { entries }
    }

    /// Whether the module has a line.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(&name.replace('-', "_"))
    }

    /// The modules to load, dependencies first, each once, for the requested
    /// names (in the requested order where dependencies allow).
    pub fn load_order<S: AsRef<str>>(&self, wanted: &[S]) -> Result<Vec<Module>, DepsError> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        for name in wanted {
            let name = name.as_ref().replace('-', "_");
            self.visit(&name, &mut done, &mut BTreeSet::new(), &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        done: &mut BTreeSet<String>,
        path: &mut BTreeSet<String>,
        order: &mut Vec<Module>,
    ) -> Result<(), DepsError> {
        if done.contains(name) {
            return Ok(());
        }
        if !path.insert(name.to_string()) {
            return Err(DepsError::Cycle(name.to_string()));
        }
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| DepsError::Unknown(name.to_string()))?;
        // depmod lists indirect dependencies after the modules needing them;
        // visiting each first (depth first) puts every one before its users.
        for dep in entry.deps.iter().rev() {
            self.visit(dep, done, path, order)?;
        }
        path.remove(name);
        done.insert(name.to_string());
        order.push(Module {
            name: name.to_string(),
            path: entry.path.clone(),
        });
        Ok(())
    }
}

/// Parses a list of module names (one per line, `#` comments).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.replace('-', "_"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/overlayfs/overlay.ko:
garbage line without colon
";

    fn names(order: &[Module]) -> Vec<&str> {
        order.iter().map(|m| m.name.as_str()).collect()
    }

    fn position(order: &[Module], name: &str) -> usize {
        order
            .iter()
            .position(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", names(order)))
    }

    #[test]
    fn names_from_paths() {
        assert_eq!(module_name("kernel/net/802/stp.ko"), "stp");
        assert_eq!(module_name("kernel/x/virtio-blk.ko.xz"), "virtio_blk");
        assert_eq!(module_name("a.ko.zst"), "a");
        assert_eq!(module_name("kernel/b.ko.gz"), "b");
    }

    #[test]
    fn dependencies_come_first_and_once() {
        let dep = ModulesDep::parse(DEP);
        let order = dep
            .load_order(&["br_netfilter", "virtio_blk", "virtio-pci", "bridge"])
            .expect("order");
        assert_eq!(order.len(), 10, "{:?}", names(&order));
        assert!(position(&order, "llc") < position(&order, "stp"));
        assert!(position(&order, "stp") < position(&order, "bridge"));
        assert!(position(&order, "bridge") < position(&order, "br_netfilter"));
        assert!(position(&order, "virtio") < position(&order, "virtio_ring"));
        assert!(position(&order, "virtio_ring") < position(&order, "virtio_blk"));
        assert!(position(&order, "virtio_ring") < position(&order, "virtio_pci"));
        // The requested order is kept where dependencies allow.
        assert!(position(&order, "br_netfilter") < position(&order, "virtio_blk"));
        assert_eq!(
            order[position(&order, "virtio_blk")].path,
            "kernel/drivers/block/virtio_blk.ko.xz"
        );
    }

    #[test]
    fn unknown_modules_are_errors() {
        let dep = ModulesDep::parse(DEP);
        assert_eq!(
            dep.load_order(&["nope"]),
            Err(DepsError::Unknown("nope".into()))
        );
        let broken = ModulesDep::parse("a.ko: b.ko\n");
        assert_eq!(
            broken.load_order(&["a"]),
            Err(DepsError::Unknown("b".into()))
        );
    }

    #[test]
    fn cycles_are_errors() {
        let dep = ModulesDep::parse("a.ko: b.ko\nb.ko: a.ko\n");
        assert!(matches!(dep.load_order(&["a"]), Err(DepsError::Cycle(_))));
    }

    #[test]
    fn lists_with_comments() {
        assert_eq!(
            parse_list("# boot\nvirtio_pci\n  virtio-blk # disk\n\n"),
            vec!["virtio_pci", "virtio_blk"]
        );
        assert!(ModulesDep::parse(DEP).contains("virtio-pci"));
    }
}
