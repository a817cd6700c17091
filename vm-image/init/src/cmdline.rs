//! The `skiff.*` keys of the kernel command line (see docs/vm.md):
//! `skiff.data`, `skiff.mirror`, `skiff.insecure`, `skiff.time`, `skiff.ip`,
//! `skiff.gw`, `skiff.debug`, `skiff.share` (repeated). Every key is optional; unknown keys are ignored
//! so that an older guest boots with a newer host.

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Default data disk.
pub const DEFAULT_DATA: &str = "/dev/vda";
/// Default guest address (QEMU user networking's first guest address).
pub const DEFAULT_IP: Ipv4Cidr = Ipv4Cidr {
    addr: Ipv4Addr::new(10, 0, 2, 15),
    prefix: 24,
};
/// Default gateway (QEMU user networking's host alias).
pub const DEFAULT_GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

/// An IPv4 address with its prefix length, as in `10.0.2.15/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length (0–32).
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// The netmask of the prefix (`/24` → `255.255.255.0`).
    pub fn netmask(&self) -> Ipv4Addr {
        let bits = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(bits)
    }
}

/// Why a `skiff.*` value is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CmdlineError {
    /// A value that does not parse.
    #[error("invalid {key}={value:?}: {why}")]
    Invalid {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What was expected.
        why: &'static str,
    },
}

/// The guest's settings, from the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The data disk (`skiff.data`).
    pub data: PathBuf,
    /// docker.io mirror for skiffd (`skiff.mirror`).
    pub mirror: Option<String>,
    /// Registry allowed over plain HTTP (`skiff.insecure`).
    pub insecure: Option<String>,
    /// The host's clock at launch, unix seconds (`skiff.time`).
    pub time: Option<i64>,
    /// eth0's address (`skiff.ip`).
    pub ip: Ipv4Cidr,
    /// Default gateway (`skiff.gw`).
    pub gw: Ipv4Addr,
    /// Verbose guest (`skiff.debug` or `skiff.debug=1`): skiffd logs at debug.
    pub debug: bool,
    /// The host's shared folders (`skiff.share`, one per folder).
    pub shares: Vec<crate::shares::Share>,
    /// In the VM: the shared folders mounted (`Some`, possibly empty),
    /// passed to skiffd as `--vm --host-share PATH…`; `None` elsewhere.
    pub host_shares: Option<Vec<PathBuf>>,
    /// In the VM: the host's address as the guest reaches it (the
    /// gateway, QEMU's `10.0.2.2`), passed to skiffd as `--vm-host-ip`
    /// (`host.docker.internal` in containers); `None` elsewhere.
    pub vm_host_ip: Option<Ipv4Addr>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data: PathBuf::from(DEFAULT_DATA),
            mirror: None,
            insecure: None,
            time: None,
            ip: DEFAULT_IP,
            gw: DEFAULT_GW,
            debug: false,
            shares: Vec::new(),
            host_shares: None,
            vm_host_ip: None,
        }
    }
}

/// Parses the command line (the content of `/proc/cmdline`). Invalid values
/// are reported, the defaults kept for them, so that one bad key never
/// prevents the engine from starting.
pub fn parse(cmdline: &str) -> (Settings, Vec<CmdlineError>) {
    let mut settings = Settings::default();
    let mut errors = Vec::new();
    for word in split_words(cmdline) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word.as_str(), None),
        };
        let Some(name) = key.strip_prefix("skiff.") else {
            continue;
        };
        let value_str = value.unwrap_or("");
        let invalid = |why: &'static str| CmdlineError::Invalid {
            key: key.to_string(),
            value: value_str.to_string(),
            why,
        };
        match name {
            "data" if !value_str.is_empty() => settings.data = PathBuf::from(value_str),
            "mirror" if !value_str.is_empty() => settings.mirror = Some(value_str.to_string()),
            "insecure" if !value_str.is_empty() => settings.insecure = Some(value_str.to_string()),
            "time" => match value_str.parse::<i64>() {
                Ok(t) if t > 0 => settings.time = Some(t),
                _ => errors.push(invalid("expected unix seconds")),
            },
            "ip" => match parse_cidr(value_str) {
                Some(c) => settings.ip = c,
                None => errors.push(invalid("expected an IPv4 address/prefix")),
            },
            "gw" => match value_str.parse::<Ipv4Addr>() {
                Ok(gw) => settings.gw = gw,
                Err(_) => errors.push(invalid("expected an IPv4 address")),
            },
            "debug" => settings.debug = !matches!(value, Some("0" | "false" | "no" | "off")),
            "share" => match crate::shares::parse(value_str) {
                Some(share) => settings.shares.push(share),
                None => errors.push(invalid("expected <tag>:<absolute path>[:ro]")),
            },
            _ => {}
        }
    }
    (settings, errors)
}

/// `10.0.2.15/24` (a bare address means /32).
pub fn parse_cidr(s: &str) -> Option<Ipv4Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok().filter(|p| *p <= 32)?),
        None => (s, 32),
    };
    Some(Ipv4Cidr {
        addr: addr.parse().ok()?,
        prefix,
    })
}

/// Splits the command line into words as the kernel does: whitespace
/// separates, double quotes group (and are dropped).
fn split_words(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_command_line() {
        let (s, errors) = parse(
            "console=ttyS0 panic=-1 quiet skiff.data=/dev/vdb skiff.mirror=http://10.0.2.100:5000 \
             skiff.insecure=10.0.2.100:5000 skiff.time=1700000000 skiff.ip=192.168.5.7/16 skiff.gw=192.168.0.1\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.data, PathBuf::from("/dev/vdb"));
        assert_eq!(s.mirror.as_deref(), Some("http://10.0.2.100:5000"));
        assert_eq!(s.insecure.as_deref(), Some("10.0.2.100:5000"));
        assert_eq!(s.time, Some(1_700_000_000));
        assert_eq!(s.ip.addr, Ipv4Addr::new(192, 168, 5, 7));
        assert_eq!(s.ip.prefix, 16);
        assert_eq!(s.gw, Ipv4Addr::new(192, 168, 0, 1));
        assert!(!s.debug);
        assert!(s.shares.is_empty());
    }

    #[test]
    fn shares_repeat() {
        let (s, errors) =
            parse("skiff.share=skiff0:/home/me skiff.share=skiff1:/tmp/a%20b:ro skiff.share=x");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let paths: Vec<_> = s
            .shares
            .iter()
            .map(|s| (s.path.clone(), s.read_only))
            .collect();
        assert_eq!(
            paths,
            vec![
                (PathBuf::from("/home/me"), false),
                (PathBuf::from("/tmp/a b"), true)
            ]
        );
    }

    #[test]
    fn defaults_when_absent() {
        let (s, errors) = parse("console=ttyS0 quiet");
        assert!(errors.is_empty());
        assert_eq!(s, Settings::default());
        assert_eq!(s.data, PathBuf::from("/dev/vda"));
        assert_eq!(
            s.ip.addr_and_mask(),
            ("10.0.2.15".into(), "255.255.255.0".into())
        );
        assert_eq!(s.gw, Ipv4Addr::new(10, 0, 2, 2));
    }

    #[test]
    fn bad_values_are_reported_and_defaults_kept() {
        let (s, errors) =
            parse("skiff.ip=10.0.2.300/24 skiff.gw=nope skiff.time=-5 skiff.ip=1.2.3.4/33");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(s.ip, DEFAULT_IP);
        assert_eq!(s.gw, DEFAULT_GW);
        assert_eq!(s.time, None);
        assert!(errors[1].to_string().contains("skiff.gw=\"nope\""));
    }

    #[test]
    fn debug_flag_forms() {
        assert!(parse("skiff.debug").0.debug);
        assert!(parse("skiff.debug=1").0.debug);
        assert!(!parse("skiff.debug=0").0.debug);
        assert!(!parse("skiffdebug").0.debug);
    }

    #[test]
    fn quotes_group_words() {
        let (s, _) = parse("a=\"x y\" skiff.mirror=\"http://m:5000\" b");
        assert_eq!(s.mirror.as_deref(), Some("http://m:5000"));
        assert_eq!(split_words("a=\"x y\"  b"), vec!["a=x y", "b"]);
    }

    #[test]
    fn netmasks() {
        let m = |p| {
            Ipv4Cidr {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix: p,
            }
            .netmask()
        };
        assert_eq!(m(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(m(8), Ipv4Addr::new(255, 0, 0, 0));
        assert_eq!(m(20), Ipv4Addr::new(255, 255, 240, 0));
        assert_eq!(m(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(
            parse_cidr("10.1.2.3"),
            Some(Ipv4Cidr {
                addr: Ipv4Addr::new(10, 1, 2, 3),
                prefix: 32
            })
        );
    }

    impl Ipv4Cidr {
        fn addr_and_mask(self) -> (String, String) {
            (self.addr.to_string(), self.netmask().to_string())
        }
    }
}
