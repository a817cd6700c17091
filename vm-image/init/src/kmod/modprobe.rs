//! `skiff-init` as `/sbin/modprobe`: the kernel runs
//! `/sbin/modprobe -q -- <name>` when it needs a module (a filesystem type,
//! a netlink family, a link type, an nftables expression …), and tools run
//! `modprobe br_netfilter`. The image ships modules it does not load at
//! boot; this loads them on demand (name or alias, dependencies first).

use std::path::Path;

use super::alias::Aliases;
use super::deps::ModulesDep;

/// What a `modprobe` command line asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Module names or aliases (`-a`: several; otherwise the first word,
    /// the rest being module parameters, which are not supported).
    pub names: Vec<String>,
    /// `-q`: no message when a module is missing.
    pub quiet: bool,
}

/// Why a command line is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    /// An option this modprobe does not implement (`-r`, …).
    #[error("modprobe: option {0} is not supported")]
    Unsupported(String),
    /// No module named.
    #[error("modprobe: no module given")]
    Nothing,
}

/// Parses modprobe's arguments (without argv[0]).
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Request, ArgsError> {
    let mut req = Request::default();
    let mut all = false;
    let mut options_done = false;
    for arg in args {
        let arg = arg.as_ref();
        if !options_done && arg == "--" {
            options_done = true;
            continue;
        }
        if !options_done && arg.starts_with('-') && arg.len() > 1 {
            match arg {
                "-q" | "--quiet" => req.quiet = true,
                "-a" | "--all" => all = true,
                "-b" | "--use-blacklist" | "-v" | "--verbose" | "-s" | "--syslog" => {}
                "-qa" | "-aq" => {
                    req.quiet = true;
                    all = true;
                }
                other => return Err(ArgsError::Unsupported(other.to_string())),
            }
            continue;
        }
        if all || req.names.is_empty() {
            req.names.push(arg.to_string());
        }
        // Without -a, words after the module are its parameters: ignored.
    }
    if req.names.is_empty() {
        return Err(ArgsError::Nothing);
    }
    Ok(req)
}

/// The modules to load for `name`: itself if modules.dep knows it, else
/// what modules.alias maps it to.
pub fn candidates(dep: &ModulesDep, aliases: &Aliases, name: &str) -> Vec<String> {
    let normal = name.replace('-', "_");
    if dep.contains(&normal) {
        return vec![normal];
    }
    aliases
        .resolve(name)
        .into_iter()
        .filter(|m| dep.contains(m))
        .collect()
}

/// Runs modprobe with `args`; returns the exit code (0: every name loaded
/// or already there).
pub fn main<S: AsRef<str>>(args: &[S]) -> i32 {
    let req = match parse_args(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let dir = super::modules_dir();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let dep = ModulesDep::parse(&read("modules.dep"));
    let aliases = Aliases::parse(&read("modules.alias"));
    let mut code = 0;
    for name in &req.names {
        let wanted = candidates(&dep, &aliases, name);
        if wanted.is_empty() {
            if is_builtin(&dir, name) {
                continue;
            }
            if !req.quiet {
                eprintln!("modprobe: module {name} not found in {}", dir.display());
            }
            code = 1;
            continue;
        }
        let plan = match dep.load_order(&wanted) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("modprobe: {e}");
                code = 1;
                continue;
            }
        };
        let report = super::load_all(&dir, &plan);
        for e in &report.failed {
            eprintln!("modprobe: {e}");
            code = 1;
        }
    }
    code
}

/// Whether `name` is built into the kernel (`modules.builtin`).
fn is_builtin(dir: &Path, name: &str) -> bool {
    let normal = name.replace('-', "_");
    std::fs::read_to_string(dir.join("modules.builtin"))
        .map(|t| {
            t.lines()
                .any(|l| super::deps::module_name(l.trim()) == normal)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_style_arguments() {
        assert_eq!(
            parse_args(&["-q", "--", "fs-overlay"]),
            Ok(Request {
                names: vec!["fs-overlay".into()],
                quiet: true
            })
        );
        assert_eq!(
            parse_args(&["br_netfilter"]),
            Ok(Request {
                names: vec!["br_netfilter".into()],
                quiet: false
            })
        );
        // Parameters after the module are ignored; -a takes several names.
        assert_eq!(
            parse_args(&["bridge", "foo=1"]).map(|r| r.names),
            Ok(vec!["bridge".to_string()])
        );
        assert_eq!(
            parse_args(&["-a", "veth", "bridge"]).map(|r| r.names),
            Ok(vec!["veth".to_string(), "bridge".to_string()])
        );
        // After --, a dash starts a name, not an option.
        assert_eq!(
            parse_args(&["--", "-odd"]).map(|r| r.names),
            Ok(vec!["-odd".to_string()])
        );
        assert_eq!(
            parse_args(&["-r", "bridge"]),
            Err(ArgsError::Unsupported("-r".into()))
        );
        assert_eq!(parse_args::<&str>(&[]), Err(ArgsError::Nothing));
    }

    #[test]
    fn names_then_aliases() {
        let dep = ModulesDep::parse(
            "kernel/fs/overlayfs/overlay.ko:\nkernel/net/netfilter/nft_chain_nat.ko:\n",
        );
        let aliases = Aliases::parse(
            "alias fs-overlay overlay\nalias nft-chain-2-nat nft_chain_nat\nalias fs-xfs xfs\n",
        );
        assert_eq!(candidates(&dep, &aliases, "overlay"), vec!["overlay"]);
        assert_eq!(candidates(&dep, &aliases, "fs-overlay"), vec!["overlay"]);
        assert_eq!(
            candidates(&dep, &aliases, "nft-chain-2-nat"),
            vec!["nft_chain_nat"]
        );
        // An alias to a module the image does not ship is no candidate.
        assert!(candidates(&dep, &aliases, "fs-xfs").is_empty());
    }

    #[test]
    fn builtin_modules() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("modules.builtin"),
            "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n",
        )
        .expect("write");
        assert!(is_builtin(dir.path(), "ext4"));
        assert!(!is_builtin(dir.path(), "xfs"));
        assert!(!is_builtin(&dir.path().join("absent"), "ext4"));
    }
}
