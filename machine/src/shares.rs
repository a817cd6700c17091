//! The host's folders shared into the VM, so that `docker run -v
//! "$PWD":/src` binds the user's own files (docs/vm.md, "Host folders").
//! Platform neutral, tested everywhere: which folders are shared (the
//! machine's `mounts`, else the user's home), which host path is which
//! guest path, the virtiofs tags and the kernel command line keys; each
//! backend turns [`ShareDevice`]s into its devices (QEMU: a virtiofsd per
//! share and a `vhost-user-fs-pci` device, [`crate::qemu::virtiofs`]; VZ: a
//! `VZVirtioFileSystemDeviceConfiguration` per share; WSL2: the Windows
//! drives WSL mounts at `/mnt/<drive>`, [`wsl_guest_path`]).

use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::error::{MachineError, Result};

/// Guest paths a share may not be mounted at or above: the VM's own
/// system directories and its data disk.
const RESERVED: &[&str] = &[
    "/",
    "/bin",
    "/dev",
    "/etc",
    "/init",
    "/lib",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/lib/skiff",
];

/// Bytes of a guest path written as-is in `skiff.share=` (every other byte
/// is percent-encoded, so spaces, quotes, `:` and `%` survive the kernel
/// command line).
pub(crate) const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+');

/// One shared folder of a machine (`config.json` `mounts[]`, `skiff
/// machine create --mount HOST[:GUEST][:ro]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFolder {
    /// The folder on the host (absolute).
    pub host: PathBuf,
    /// Where the guest sees it; unset: the host's path itself (Unix hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
    /// Read-only in the guest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

impl SharedFolder {
    /// Parses `HOST[:GUEST][:ro|:rw]` (`HOST` absolute; a relative one is
    /// made absolute against the current directory by the caller).
    pub fn parse(arg: &str) -> Result<SharedFolder> {
        let bad = |why: &str| invalid(format!("{arg:?}: {why}"));
        // A Windows drive (`C:\x`, `C:/x`) is part of the host path.
        let drive = match arg.as_bytes() {
            [d, b':', b'\\' | b'/', ..] if d.is_ascii_alphabetic() => 2,
            _ => 0,
        };
        let mut parts: Vec<&str> = arg[drive..].split(':').collect();
        let mut read_only = false;
        if let Some(last) = parts.last().copied() {
            if parts.len() > 1 && (last == "ro" || last == "rw") {
                read_only = last == "ro";
                parts.pop();
            }
        }
        let (host, guest) = match parts.as_slice() {
            [host] => (*host, None),
            [host, guest] => (*host, Some((*guest).to_owned())),
            _ => return Err(bad("expected HOST[:GUEST][:ro]")),
        };
        let host = format!("{}{host}", &arg[..drive]);
        if host.is_empty() || guest.as_deref() == Some("") {
            return Err(bad("expected HOST[:GUEST][:ro]"));
        }
        Ok(SharedFolder {
            host: PathBuf::from(host),
            guest,
            read_only,
        })
    }

    /// The guest path: `guest`, else the host path.
    pub fn guest_path(&self) -> String {
        self.guest
            .clone()
            .unwrap_or_else(|| self.host.display().to_string())
    }
}

/// The folders shared when a machine names none: the user's home (as
/// Docker Desktop, Colima and Lima do), and the temporary directory when it
/// is a per-user one (macOS's `$TMPDIR`), not the system's `/tmp` (the
/// VM's own `/tmp` stays the VM's).
pub fn default_folders(home: Option<&Path>, temp: &Path) -> Vec<SharedFolder> {
    let mut folders = Vec::new();
    let mut add = |p: &Path| {
        if p.is_absolute() && !is_reserved(&p.display().to_string()) {
            folders.push(SharedFolder {
                host: p.to_path_buf(),
                guest: None,
                read_only: false,
            });
        }
    };
    if let Some(home) = home {
        add(home);
    }
    if !home.is_some_and(|h| temp.starts_with(h)) {
        add(temp);
    }
    folders
}

/// Whether `guest` is a reserved guest path or a parent of one.
fn is_reserved(guest: &str) -> bool {
    let clean = clean(guest);
    RESERVED
        .iter()
        .any(|r| Path::new(r).starts_with(&clean) || Path::new(&clean) == Path::new(r))
}

/// `guest` with `.` and empty components dropped (`..` is refused before).
fn clean(guest: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in guest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        out.push(c);
    }
    out
}

/// Checks a machine's folders: absolute host paths, absolute guest paths
/// without `..` that are neither reserved nor shared twice.
pub fn validate(folders: &[SharedFolder]) -> Result<()> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for f in folders {
        let guest = f.guest_path();
        let name = || format!("{} (in the VM: {guest})", f.host.display());
        if !f.host.is_absolute() {
            return Err(invalid(format!(
                "{}: the host path must be absolute",
                name()
            )));
        }
        if !guest.starts_with('/') || guest.split('/').any(|c| c == "..") {
            return Err(invalid(format!(
                "{}: the guest path must be absolute",
                name()
            )));
        }
        if is_reserved(&guest) {
            return Err(invalid(format!(
                "{}: {guest} is the VM's own (reserved: {})",
                name(),
                RESERVED.join(", ")
            )));
        }
        let g = clean(&guest);
        if seen.contains(&g) {
            return Err(invalid(format!("{}: {guest} is shared twice", name())));
        }
        seen.push(g);
    }
    Ok(())
}

/// A share as a backend attaches it: a device tag and both paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareDevice {
    /// The virtiofs tag (`skiff0`, `skiff1`, …; at most 36 bytes).
    pub tag: String,
    /// The folder on the host.
    pub host: PathBuf,
    /// Its mount point in the guest.
    pub guest: String,
    /// Read-only in the guest.
    pub read_only: bool,
}

impl ShareDevice {
    /// The kernel command line's `skiff.share=<tag>:<guest path>[:ro]`
    /// (the path percent-encoded).
    pub fn cmdline_arg(&self) -> String {
        format!(
            "skiff.share={}:{}{}",
            self.tag,
            utf8_percent_encode(&self.guest, PATH_KEEP),
            if self.read_only { ":ro" } else { "" }
        )
    }
}

/// The devices for `folders`: a tag each, in order, for the folders that
/// exist on the host (`exists`); the others are returned as warnings (a
/// share whose folder is missing is left out rather than failing the boot).
pub fn devices(
    folders: &[SharedFolder],
    exists: impl Fn(&Path) -> bool,
) -> (Vec<ShareDevice>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for f in folders {
        if !exists(&f.host) {
            warnings.push(format!(
                "shared folder {} does not exist on the host: not shared",
                f.host.display()
            ));
            continue;
        }
        out.push(ShareDevice {
            tag: format!("skiff{}", out.len()),
            host: f.host.clone(),
            guest: f.guest_path(),
            read_only: f.read_only,
        });
    }
    (out, warnings)
}

/// The guest path of host path `path` through `devices` (the deepest
/// share holding it), or `None` when no share holds it.
pub fn to_guest(devices: &[ShareDevice], path: &Path) -> Option<String> {
    devices
        .iter()
        .filter_map(|d| {
            let rest = path.strip_prefix(&d.host).ok()?;
            Some((d.host.components().count(), d, rest))
        })
        .max_by_key(|(depth, _, _)| *depth)
        .map(|(_, d, rest)| {
            let mut guest = PathBuf::from(&d.guest);
            if !rest.as_os_str().is_empty() {
                guest.push(rest);
            }
            guest.display().to_string()
        })
}

/// WSL2: the path in the distribution of a Windows path, as WSL mounts the
/// drives (`C:\Users\me` → `/mnt/c/Users/me`; `/mnt/c/...` and other Unix
/// paths are returned unchanged). `None` for what is neither (a UNC path,
/// a relative path).
pub fn wsl_guest_path(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(path.to_owned());
    }
    let mut chars = path.chars();
    let drive = chars.next().filter(char::is_ascii_alphabetic)?;
    if chars.next() != Some(':') {
        return None;
    }
    let rest: String = chars.collect();
    if !(rest.is_empty() || rest.starts_with('\\') || rest.starts_with('/')) {
        return None;
    }
    let rest: Vec<&str> = rest.split(['\\', '/']).filter(|c| !c.is_empty()).collect();
    let mut out = format!("/mnt/{}", drive.to_ascii_lowercase());
    for c in rest {
        out.push('/');
        out.push_str(c);
    }
    Some(out)
}

fn invalid(reason: String) -> MachineError {
    MachineError::InvalidSetting {
        setting: "mount".into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(host: &str, guest: Option<&str>, ro: bool) -> SharedFolder {
        SharedFolder {
            host: host.into(),
            guest: guest.map(String::from),
            read_only: ro,
        }
    }

    #[test]
    fn mount_arguments() {
        assert_eq!(
            SharedFolder::parse("/home/me").expect("plain"),
            folder("/home/me", None, false)
        );
        assert_eq!(
            SharedFolder::parse("/data:/srv/data:ro").expect("all"),
            folder("/data", Some("/srv/data"), true)
        );
        assert_eq!(
            SharedFolder::parse("/data:rw").expect("rw"),
            folder("/data", None, false)
        );
        assert_eq!(
            SharedFolder::parse("/data:ro").expect("ro"),
            folder("/data", None, true)
        );
        assert_eq!(
            SharedFolder::parse(r"C:\Users\me:/home/me:ro").expect("drive"),
            folder(r"C:\Users\me", Some("/home/me"), true)
        );
        assert_eq!(
            SharedFolder::parse("D:/work").expect("drive"),
            folder("D:/work", None, false)
        );
        for bad in ["", ":/x", "/a:/b:/c", "/a:/b:ro:x", "C:"] {
            assert!(SharedFolder::parse(bad).is_err(), "{bad}");
        }
    }

    // Unix host paths (absolute only with a drive on Windows).
    #[cfg(unix)]
    #[test]
    fn validation_refuses_the_vms_own_paths_and_duplicates() {
        assert!(
            validate(&[
                folder("/home/me", None, false),
                folder("/Volumes/x", None, true)
            ])
            .is_ok()
        );
        for (bad, why) in [
            (vec![folder("relative", None, false)], "must be absolute"),
            (vec![folder("/x", Some("rel"), false)], "must be absolute"),
            (
                vec![folder("/x", Some("/a/../etc"), false)],
                "must be absolute",
            ),
            (vec![folder("/tmp", None, false)], "the VM's own"),
            (vec![folder("/var", None, false)], "the VM's own"),
            (vec![folder("/x", Some("/var/lib"), false)], "the VM's own"),
            (vec![folder("/x", Some("/"), false)], "the VM's own"),
            (
                vec![
                    folder("/a", Some("/s"), false),
                    folder("/b", Some("/s/"), false),
                ],
                "shared twice",
            ),
        ] {
            let err = validate(&bad).expect_err(why).to_string();
            assert!(
                err.contains(why) && err.starts_with("invalid setting mount: "),
                "{err}"
            );
        }
        // Under a reserved path is fine (it is not the path nor a parent).
        assert!(validate(&[folder("/x", Some("/var/lib/skiff-data"), false)]).is_ok());
        assert!(validate(&[folder("/x", Some("/usr/src/app"), false)]).is_ok());
    }

    // Unix host paths (absolute only with a drive on Windows).
    #[cfg(unix)]
    #[test]
    fn defaults_are_the_home_and_a_per_user_temp_dir() {
        let d = default_folders(Some(Path::new("/home/me")), Path::new("/tmp"));
        assert_eq!(d, vec![folder("/home/me", None, false)]);
        let mac = default_folders(Some(Path::new("/Users/me")), Path::new("/var/folders/xy/T"));
        assert_eq!(
            mac,
            vec![
                folder("/Users/me", None, false),
                folder("/var/folders/xy/T", None, false)
            ]
        );
        let inside = default_folders(Some(Path::new("/home/me")), Path::new("/home/me/tmp"));
        assert_eq!(inside.len(), 1);
        assert!(validate(&mac).is_ok());
        assert!(default_folders(None, Path::new("/tmp")).is_empty());
    }

    #[test]
    fn devices_tags_and_the_command_line() {
        let folders = [
            folder("/home/me", None, false),
            folder("/missing", None, false),
            folder("/Users/me/My Files:1%", Some("/work/my files"), true),
        ];
        let (devs, warnings) = devices(&folders, |p| p != Path::new("/missing"));
        assert_eq!(
            warnings,
            vec!["shared folder /missing does not exist on the host: not shared"]
        );
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].cmdline_arg(), "skiff.share=skiff0:/home/me");
        assert_eq!(devs[1].tag, "skiff1");
        assert_eq!(
            devs[1].cmdline_arg(),
            "skiff.share=skiff1:/work/my%20files:ro"
        );
        let odd = ShareDevice {
            guest: "/a b/c:d%e\"f".into(),
            ..devs[0].clone()
        };
        assert_eq!(odd.cmdline_arg(), "skiff.share=skiff0:/a%20b/c%3Ad%25e%22f");
    }

    // Unix host paths (absolute only with a drive on Windows).
    #[cfg(unix)]
    #[test]
    fn host_paths_map_to_guest_paths_through_the_deepest_share() {
        let (devs, _) = devices(
            &[
                folder("/home/me", None, false),
                folder("/home/me/proj", Some("/src"), false),
            ],
            |_| true,
        );
        assert_eq!(
            to_guest(&devs, Path::new("/home/me/a/b")).as_deref(),
            Some("/home/me/a/b")
        );
        assert_eq!(
            to_guest(&devs, Path::new("/home/me")).as_deref(),
            Some("/home/me")
        );
        assert_eq!(
            to_guest(&devs, Path::new("/home/me/proj/x")).as_deref(),
            Some("/src/x")
        );
        assert_eq!(to_guest(&devs, Path::new("/home/meow")), None);
        assert_eq!(to_guest(&devs, Path::new("/etc")), None);
    }

    #[test]
    fn windows_paths_in_wsl() {
        assert_eq!(
            wsl_guest_path(r"C:\Users\me\src").as_deref(),
            Some("/mnt/c/Users/me/src")
        );
        assert_eq!(
            wsl_guest_path("d:/work//x/").as_deref(),
            Some("/mnt/d/work/x")
        );
        assert_eq!(wsl_guest_path(r"E:\").as_deref(), Some("/mnt/e"));
        assert_eq!(
            wsl_guest_path("/mnt/c/Users").as_deref(),
            Some("/mnt/c/Users")
        );
        for bad in [r"\\server\share", "C:relative", "relative", "1:\\x"] {
            assert_eq!(wsl_guest_path(bad), None, "{bad}");
        }
    }
}
