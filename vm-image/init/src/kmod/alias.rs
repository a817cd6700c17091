//! `modules.alias`: the names the kernel asks for (`fs-overlay`,
//! `rtnl-link-bridge`, `nft-expr-masq`, `net-pf-40`, …) → module names.

/// The parsed `modules.alias` (`alias <pattern> <module>` lines; patterns
/// may hold `*` and `?` wildcards).
#[derive(Debug, Default, Clone)]
pub struct Aliases {
    entries: Vec<(String, String)>,
}

impl Aliases {
    /// Parses the text of `modules.alias`; other lines are skipped.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                if words.next()? != "alias" {
                    return None;
                }
                let pattern = words.next()?;
                let module = words.next()?;
                Some((pattern.to_string(), module.replace('-', "_")))
            })
            .collect();
        Self { entries }
    }

    /// The modules an alias names: exact matches first, then wildcard ones,
    /// in file order, each once.
    pub fn resolve(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let exact = self.entries.iter().filter(|(p, _)| p == name);
        let wild = self
            .entries
            .iter()
            .filter(|(p, _)| p != name && glob_match(p, name));
        for (_, module) in exact.chain(wild) {
            if !out.contains(module) {
                out.push(module.clone());
            }
        }
        out
    }
}

/// Shell-style matching with `*` (any run) and `?` (any one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIASES: &str = "\
# Aliases extracted from modules themselves.
alias fs-overlay overlay
alias rtnl-link-bridge bridge
alias nft-expr-masq nft_masq
alias net-pf-40 vsock
alias virtio:d00000001v* virtio_net
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias nft-chain-2-nat nft-chain-nat
";

    #[test]
    fn exact_and_wildcard_aliases() {
        let a = Aliases::parse(ALIASES);
        assert_eq!(a.resolve("fs-overlay"), vec!["overlay"]);
        assert_eq!(a.resolve("nft-chain-2-nat"), vec!["nft_chain_nat"]);
        assert_eq!(a.resolve("virtio:d00000001v00001AF4"), vec!["virtio_net"]);
        assert_eq!(
            a.resolve("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"),
            vec!["virtio_pci"]
        );
        assert!(a.resolve("fs-btrfs").is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("a*c", "ac"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(glob_match("x*y*z", "x123y45z"));
        assert!(!glob_match("x*y*z", "x123y45"));
        assert!(!glob_match("abc", "abcd"));
    }
}
