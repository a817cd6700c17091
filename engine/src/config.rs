//! skiffd's configuration: dockerd's flags and the `daemon.json` keys that
//! apply, merged the way dockerd merges them (a key given both as a flag and
//! in the file is an error).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// Default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/skiff/docker.sock";
/// Default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/skiff";
/// Default config file (optional when not given explicitly).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/skiff/daemon.json";

/// Command-line flags, named as dockerd names them.
#[derive(Debug, Parser, Default)]
#[command(
    name = "skiffd",
    version,
    about = "Skiff's container engine: the Docker Engine API on a Unix socket"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on: unix:///path or tcp://host:port (tcp only when asked).
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state.
    #[arg(long = "data-root")]
    pub data_root: Option<PathBuf>,
    /// Preferred registry mirror for docker.io (repeatable).
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Registry allowed over plain HTTP / unverified TLS (repeatable).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Daemon configuration file.
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// Group owning the unix socket.
    #[arg(short = 'G', long = "group")]
    pub group: Option<String>,
    /// Log level: debug, info, warn, error.
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Run an init in containers to forward signals and reap processes.
    #[arg(long = "init")]
    pub init: bool,
    /// Path to the docker-init binary (default: docker-init next to skiffd
    /// or on PATH, else tini-static, else tini).
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
    /// Default cgroup namespace mode of containers: "private" or "host"
    /// (default: private on a cgroup v2 host, host on v1).
    #[arg(long = "default-cgroupns-mode")]
    pub default_cgroupns_mode: Option<String>,
    /// The parent cgroup of containers that name none (default `/skiff`).
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Skiff's VM (set by skiff-init): bind sources come from the host, so
    /// one outside every --host-share that does not exist here is refused.
    #[arg(long = "vm")]
    pub vm: bool,
    /// A host folder shared into the VM at this path (repeatable; with --vm).
    #[arg(long = "host-share", requires = "vm")]
    pub host_shares: Vec<PathBuf>,
    /// The host's address as seen from the VM (with --vm): containers'
    /// `/etc/hosts` name it `host.docker.internal` and
    /// `gateway.docker.internal`, and `--add-host NAME:host-gateway`
    /// resolves to it, as in Docker Desktop.
    #[arg(long = "vm-host-ip", requires = "vm")]
    pub vm_host_ip: Option<std::net::IpAddr>,
}

/// The keys of `daemon.json` skiffd understands. Unknown keys are rejected, as dockerd does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `hosts`.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// `data-root`.
    #[serde(default, rename = "data-root")]
    pub data_root: Option<PathBuf>,
    /// `registry-mirrors`.
    #[serde(default, rename = "registry-mirrors")]
    pub registry_mirrors: Option<Vec<String>>,
    /// `insecure-registries`.
    #[serde(default, rename = "insecure-registries")]
    pub insecure_registries: Option<Vec<String>>,
    /// `group`.
    #[serde(default)]
    pub group: Option<String>,
    /// `log-level`.
    #[serde(default, rename = "log-level")]
    pub log_level: Option<String>,
    /// `debug`.
    #[serde(default)]
    pub debug: Option<bool>,
    /// `init`.
    #[serde(default)]
    pub init: Option<bool>,
    /// `init-path`.
    #[serde(default, rename = "init-path")]
    pub init_path: Option<PathBuf>,
    /// `default-cgroupns-mode`.
    #[serde(default, rename = "default-cgroupns-mode")]
    pub default_cgroupns_mode: Option<String>,
    /// `cgroup-parent`.
    #[serde(default, rename = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("unable to read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the right shape.
    #[error("unable to configure the daemon with file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Keys given both ways.
    #[error(
        "unable to configure the daemon with file {path}: the following directives are specified both as a flag and in the configuration file: {keys}"
    )]
    Conflict {
        /// The file.
        path: PathBuf,
        /// The conflicting directives, described.
        keys: String,
    },
    /// A bad `--default-cgroupns-mode` (dockerd's message).
    #[error("default cgroup namespace mode ({0}) is invalid; use \"host\" or \"private\"")]
    CgroupnsMode(String),
    /// A bad `--cgroup-parent`.
    #[error("invalid cgroup-parent {0:?}: {1}")]
    CgroupParent(String, &'static str),
    /// A bad `-H` value.
    #[error("invalid host {0:?}: expected unix:///path or tcp://host:port")]
    Host(String),
}

/// Where the API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP address (only when explicitly asked for).
    Tcp(String),
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listeners.
    pub listen: Vec<Listen>,
    /// Data root.
    pub data_root: PathBuf,
    /// docker.io mirrors.
    pub registry_mirrors: Vec<String>,
    /// Plain-HTTP / unverified registries.
    pub insecure_registries: Vec<String>,
    /// Socket group.
    pub group: Option<String>,
    /// Log filter.
    pub log_level: String,
    /// Run an init in containers that do not say (`--init`).
    pub init: bool,
    /// The init binary (`--init-path`; `None`: look for one).
    pub init_path: Option<PathBuf>,
    /// Default cgroup namespace of containers (`--default-cgroupns-mode`;
    /// `None`: private on a cgroup v2 host, host on v1).
    pub default_cgroupns_private: Option<bool>,
    /// The parent cgroup of containers (`--cgroup-parent`, normalised to
    /// an absolute path; `None`: [`crate::containers::cgroups::DEFAULT_PARENT`]).
    pub cgroup_parent: Option<String>,
    /// In Skiff's VM (`--vm`): the host folders shared into it
    /// (`--host-share`). `None` on any other host.
    pub host_shares: Option<Vec<PathBuf>>,
    /// In Skiff's VM: the host's address (`--vm-host-ip`).
    pub vm_host_ip: Option<std::net::IpAddr>,
}

/// A setting as a flag or the config file holds it: whether it was given
/// (a set flag, a non-empty list, a key present in the file); its `Debug`
/// form is what docker's conflict message shows.
trait Given: std::fmt::Debug {
    fn given(&self) -> bool;
}

impl<T: std::fmt::Debug> Given for Vec<T> {
    fn given(&self) -> bool {
        !self.is_empty()
    }
}

impl<T: std::fmt::Debug> Given for Option<T> {
    fn given(&self) -> bool {
        self.is_some()
    }
}

impl Given for bool {
    fn given(&self) -> bool {
        *self
    }
}

impl Config {
    /// Merge flags with the config file (explicit `--config-file`, or the default one if present).
    pub fn load(flags: Flags) -> Result<Self, ConfigError> {
        let (path, required) = match &flags.config_file {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let file = read_file(&path, required)?;
        Self::merge(flags, file, &path)
    }

    /// Merge flags and a parsed file (the file's path is for messages).
    pub fn merge(flags: Flags, file: FileConfig, path: &Path) -> Result<Self, ConfigError> {
        let mut conflicts = BTreeMap::new();
        // Docker refuses a setting given both ways, naming every one.
        let settings: [(&str, &dyn Given, &dyn Given); 10] = [
            ("hosts", &flags.hosts, &file.hosts),
            ("data-root", &flags.data_root, &file.data_root),
            (
                "registry-mirrors",
                &flags.registry_mirrors,
                &file.registry_mirrors,
            ),
            (
                "insecure-registries",
                &flags.insecure_registries,
                &file.insecure_registries,
            ),
            ("group", &flags.group, &file.group),
            ("log-level", &flags.log_level, &file.log_level),
            ("init", &flags.init, &file.init),
            ("init-path", &flags.init_path, &file.init_path),
            (
                "default-cgroupns-mode",
                &flags.default_cgroupns_mode,
                &file.default_cgroupns_mode,
            ),
            ("cgroup-parent", &flags.cgroup_parent, &file.cgroup_parent),
        ];
        for (name, flag, in_file) in settings {
            if flag.given() && in_file.given() {
                conflicts.insert(
                    name.to_owned(),
                    format!("{name}: (from flag: {flag:?}, from file: {in_file:?})"),
                );
            }
        }
        if !conflicts.is_empty() {
            let keys = conflicts.into_values().collect::<Vec<_>>().join(", ");
            return Err(ConfigError::Conflict {
                path: path.to_owned(),
                keys,
            });
        }
        let hosts = if flags.hosts.is_empty() {
            file.hosts.unwrap_or_default()
        } else {
            flags.hosts
        };
        let hosts = if hosts.is_empty() {
            vec![DEFAULT_HOST.to_owned()]
        } else {
            hosts
        };
        let listen = hosts
            .iter()
            .map(|h| parse_host(h))
            .collect::<Result<Vec<_>, _>>()?;
        let default_cgroupns_private = match flags
            .default_cgroupns_mode
            .or(file.default_cgroupns_mode)
            .as_deref()
        {
            None | Some("") => None,
            Some("private") => Some(true),
            Some("host") => Some(false),
            Some(other) => return Err(ConfigError::CgroupnsMode(other.to_owned())),
        };
        let cgroup_parent = match flags.cgroup_parent.or(file.cgroup_parent) {
            None => None,
            Some(p) if p.is_empty() => None,
            Some(p) => Some(
                crate::containers::cgroups::normalise_parent(&p)
                    .map_err(|why| ConfigError::CgroupParent(p.clone(), why))?,
            ),
        };
        let debug = flags.debug || file.debug.unwrap_or(false);
        let log_level = flags
            .log_level
            .or(file.log_level)
            .unwrap_or_else(|| if debug { "debug".into() } else { "info".into() });
        Ok(Self {
            listen,
            data_root: flags
                .data_root
                .or(file.data_root)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT)),
            registry_mirrors: if flags.registry_mirrors.is_empty() {
                file.registry_mirrors.unwrap_or_default()
            } else {
                flags.registry_mirrors
            },
            insecure_registries: if flags.insecure_registries.is_empty() {
                file.insecure_registries.unwrap_or_default()
            } else {
                flags.insecure_registries
            },
            group: flags.group.or(file.group),
            log_level,
            init: flags.init || file.init.unwrap_or(false),
            init_path: flags.init_path.or(file.init_path),
            default_cgroupns_private,
            cgroup_parent,
            host_shares: flags.vm.then_some(flags.host_shares),
            vm_host_ip: flags.vm_host_ip,
        })
    }
}

fn read_file(path: &Path, required: bool) -> Result<FileConfig, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        }),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(FileConfig::default())
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Parse one `-H` value.
pub fn parse_host(host: &str) -> Result<Listen, ConfigError> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return parse_host(DEFAULT_HOST);
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        if addr.contains(':') {
            return Ok(Listen::Tcp(addr.to_owned()));
        }
    }
    if host.starts_with('/') {
        return Ok(Listen::Unix(PathBuf::from(host)));
    }
    Err(ConfigError::Host(host.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("skiffd").chain(args.iter().copied()))
            .expect("flags parse")
    }

    #[test]
    fn defaults_are_a_private_unix_socket_and_no_tcp() {
        let c = Config::merge(flags(&[]), FileConfig::default(), Path::new("x")).expect("merge");
        assert_eq!(
            c.listen,
            vec![Listen::Unix(PathBuf::from("/run/skiff/docker.sock"))]
        );
        assert_eq!(c.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
    }

    #[test]
    fn flags_and_file_merge_and_conflict() {
        let file: FileConfig = serde_json::from_str(
            r#"{"registry-mirrors":["http://127.0.0.1:5000"],"data-root":"/d"}"#,
        )
        .expect("json");
        let c = Config::merge(
            flags(&["-H", "unix:///tmp/s.sock", "--insecure-registry", "r:5000"]),
            file,
            Path::new("f"),
        )
        .expect("merge");
        assert_eq!(c.registry_mirrors, vec!["http://127.0.0.1:5000".to_owned()]);
        assert_eq!(c.data_root, PathBuf::from("/d"));
        assert_eq!(c.insecure_registries, vec!["r:5000".to_owned()]);
        let file: FileConfig = serde_json::from_str(r#"{"data-root":"/d"}"#).expect("json");
        let err = Config::merge(flags(&["--data-root", "/e"]), file, Path::new("f"))
            .expect_err("conflict");
        assert!(
            err.to_string()
                .contains("specified both as a flag and in the configuration file"),
            "{err}"
        );
    }

    #[test]
    fn every_conflict_is_named_with_both_values() {
        let file: FileConfig =
            serde_json::from_str(r#"{"hosts": ["unix:///b"], "init": false, "group": "g"}"#)
                .expect("json");
        let err = Config::merge(flags(&["-H", "unix:///a", "--init"]), file, Path::new("f"))
            .expect_err("conflict");
        assert!(
            err.to_string().contains(
                r#"hosts: (from flag: ["unix:///a"], from file: Some(["unix:///b"])), init: (from flag: true, from file: Some(false))"#
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("group"), "{err}");
    }

    #[test]
    fn default_cgroupns_mode_comes_from_a_flag_or_the_file() {
        let merge = |args: &[&str], json: &str| {
            let file: FileConfig = serde_json::from_str(json).expect("json");
            Config::merge(flags(args), file, Path::new("f"))
        };
        let c = merge(&[], "{}").expect("none");
        assert_eq!(c.default_cgroupns_private, None);
        let c = merge(&["--default-cgroupns-mode", "private"], "{}").expect("flag");
        assert_eq!(c.default_cgroupns_private, Some(true));
        let c = merge(&[], r#"{"default-cgroupns-mode": "host"}"#).expect("file");
        assert_eq!(c.default_cgroupns_private, Some(false));
        let err = merge(&["--default-cgroupns-mode", "bogus"], "{}").expect_err("bogus");
        assert_eq!(
            err.to_string(),
            r#"default cgroup namespace mode (bogus) is invalid; use "host" or "private""#
        );
    }

    #[test]
    fn init_comes_from_a_flag_or_the_file() {
        let c = Config::merge(
            flags(&["--init", "--init-path", "/opt/tini"]),
            FileConfig::default(),
            Path::new("f"),
        )
        .expect("merge");
        assert!(c.init);
        assert_eq!(c.init_path, Some(PathBuf::from("/opt/tini")));
        let file: FileConfig =
            serde_json::from_str(r#"{"init": true, "init-path": "/x"}"#).expect("json");
        let c = Config::merge(flags(&[]), file, Path::new("f")).expect("merge");
        assert!(c.init);
        assert_eq!(c.init_path, Some(PathBuf::from("/x")));
        let file: FileConfig = serde_json::from_str(r#"{"init-path": "/x"}"#).expect("json");
        let err = Config::merge(flags(&["--init-path", "/y"]), file, Path::new("f"))
            .expect_err("conflict");
        assert!(err.to_string().contains("init-path"), "{err}");
    }

    #[test]
    fn host_shares_only_in_the_vm() {
        let merge =
            |args: &[&str]| Config::merge(flags(args), FileConfig::default(), Path::new("f"));
        assert_eq!(merge(&[]).expect("plain host").host_shares, None);
        assert_eq!(merge(&["--vm"]).expect("vm").host_shares, Some(vec![]));
        let c =
            merge(&["--vm", "--host-share", "/home/me", "--host-share", "/tmp/x"]).expect("shares");
        assert_eq!(
            c.host_shares,
            Some(vec![PathBuf::from("/home/me"), PathBuf::from("/tmp/x")])
        );
        let err = Flags::try_parse_from(["skiffd", "--host-share", "/x"]).expect_err("no --vm");
        assert!(err.to_string().contains("--vm"), "{err}");
    }

    #[test]
    fn unknown_file_keys_and_bad_hosts_are_rejected() {
        assert!(serde_json::from_str::<FileConfig>(r#"{"no-such-key":1}"#).is_err());
        assert!(parse_host("ftp://x").is_err());
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375").expect("tcp"),
            Listen::Tcp("127.0.0.1:2375".into())
        );
    }
}
