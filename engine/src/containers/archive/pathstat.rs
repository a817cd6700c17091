//! What `HEAD /containers/{id}/archive` answers (`ContainerPathStat`, sent
//! base64-encoded in `X-Docker-Container-Path-Stat`), and the path rules of
//! docker's archive code: Go's `filepath.Clean` / `Base`, moby's
//! `PreserveTrailingDotOrSeparator` and `FollowSymlinkInScope`. Paths here
//! are container paths: the functions that touch the filesystem run in a
//! container's [`view`](super::view).

use std::io;
use std::os::unix::fs::MetadataExt;

use serde::{Deserialize, Serialize};

/// docker's `ContainerPathStat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// Base name of the requested path.
    pub name: String,
    /// Size in bytes (of the link itself for a symlink).
    pub size: i64,
    /// Go's `os.FileMode` bits.
    pub mode: u32,
    /// Modification time, RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink: the path it resolves to inside the container.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.ModeDir` and friends.
pub mod go_mode {
    /// d
    pub const DIR: u32 = 1 << 31;
    /// L
    pub const SYMLINK: u32 = 1 << 27;
    /// D
    pub const DEVICE: u32 = 1 << 26;
    /// p
    pub const NAMED_PIPE: u32 = 1 << 25;
    /// S
    pub const SOCKET: u32 = 1 << 24;
    /// u
    pub const SETUID: u32 = 1 << 23;
    /// g
    pub const SETGID: u32 = 1 << 22;
    /// c
    pub const CHAR_DEVICE: u32 = 1 << 21;
    /// t
    pub const STICKY: u32 = 1 << 20;
}

/// A Unix `st_mode` as Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    use go_mode::*;
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => DIR,
        libc::S_IFLNK => SYMLINK,
        libc::S_IFBLK => DEVICE,
        libc::S_IFCHR => DEVICE | CHAR_DEVICE,
        libc::S_IFIFO => NAMED_PIPE,
        libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= STICKY;
    }
    m
}

/// Go's `filepath.Clean` for slash-separated paths.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base`.
pub fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Go's `filepath.Split`: (dir with its trailing slash, file).
pub fn split(path: &str) -> (String, String) {
    match path.rfind('/') {
        Some(i) => (path[..=i].to_owned(), path[i + 1..].to_owned()),
        None => (String::new(), path.to_owned()),
    }
}

/// moby's `PreserveTrailingDotOrSeparator`: keep a trailing `/.` or `/` of
/// `original` on the cleaned path.
pub fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_owned();
    if base(&out) != "." && base(original) == "." {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push('.');
    }
    if !out.ends_with('/') && original.ends_with('/') {
        out.push('/');
    }
    out
}

/// The absolute, cleaned container path docker's archive endpoints use for
/// a `path` parameter (`PreserveTrailingDotOrSeparator(Join("/", path))`).
pub fn absolute(path: &str) -> String {
    preserve_trailing(&clean(&format!("/{path}")), path)
}

/// moby's `FollowSymlinkInScope(path, "/")`: every symlink on `path`
/// evaluated (a missing component is kept as it is), `..` never above `/`.
pub fn follow_symlinks(path: &str) -> io::Result<String> {
    let mut rest = clean(&format!("/{path}"));
    let mut done = String::new(); // "a/b/" relative to /
    let mut links = 0;
    while !rest.is_empty() {
        let (p, tail) = match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i + 1..].to_owned()),
            None => (rest.clone(), String::new()),
        };
        rest = tail;
        if p.is_empty() {
            continue;
        }
        let candidate = clean(&format!("/{done}{p}"));
        if candidate == "/" {
            done.clear();
            continue;
        }
        match std::fs::symlink_metadata(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                done = format!("{}/", candidate.trim_start_matches('/'));
            }
            Err(e) => return Err(e),
            Ok(m) if !m.file_type().is_symlink() => {
                done = format!("{}/", candidate.trim_start_matches('/'));
            }
            Ok(_) => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::other(format!("too many links in {path}")));
                }
                let dest = std::fs::read_link(&candidate)?;
                let dest = dest.to_string_lossy();
                if dest.starts_with('/') {
                    done.clear();
                }
                rest = format!("{dest}/{rest}");
                // `done` keeps the link's parent for relative targets.
            }
        }
    }
    Ok(clean(&format!("/{done}")))
}

/// Go's `time.Time` JSON form of a modification time.
fn rfc3339(secs: i64, nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(nanos.clamp(0, 999_999_999) as u32)
                .ok()
        })
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

/// docker's `Stat` of a container path (in a view): `lstat`, and for a
/// symlink the path it resolves to.
pub fn stat(path: &str) -> io::Result<PathStat> {
    let meta = std::fs::symlink_metadata(path)?;
    let link_target = if meta.file_type().is_symlink() {
        follow_symlinks(path)?
    } else {
        String::new()
    };
    Ok(PathStat {
        name: base(path),
        size: meta.len() as i64,
        mode: go_file_mode(meta.mode()),
        mtime: rfc3339(meta.mtime(), meta.mtime_nsec()),
        link_target,
    })
}

/// Whether a [`PathStat`] mode is a directory.
pub fn is_dir(mode: u32) -> bool {
    mode & go_mode::DIR != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_rules() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a//b/./c/..", "a/b"),
            ("/../a/", "/a"),
            ("../x", "../x"),
            ("a/../..", ".."),
        ] {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
        assert_eq!(base("/etc/"), "etc");
        assert_eq!(base("/"), "/");
        assert_eq!(base("/etc/."), ".");
        assert_eq!(base(""), ".");
        assert_eq!(
            split("/etc/hostname"),
            ("/etc/".to_owned(), "hostname".to_owned())
        );
        assert_eq!(split("x"), (String::new(), "x".to_owned()));
        assert_eq!(absolute("etc/hostname"), "/etc/hostname");
        assert_eq!(absolute("/etc/"), "/etc/");
        assert_eq!(absolute("/etc/."), "/etc/.");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute("/a/../../b"), "/b");
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), go_mode::DIR | 0o755);
        assert_eq!(
            go_file_mode(libc::S_IFLNK | 0o777),
            go_mode::SYMLINK | 0o777
        );
        assert_eq!(
            go_file_mode(libc::S_IFCHR | 0o666),
            go_mode::DEVICE | go_mode::CHAR_DEVICE | 0o666
        );
        assert_eq!(
            go_file_mode(libc::S_IFREG | libc::S_ISUID | 0o755),
            go_mode::SETUID | 0o755
        );
        assert_eq!(
            go_file_mode(libc::S_IFDIR | libc::S_ISVTX | 0o777),
            go_mode::DIR | go_mode::STICKY | 0o777
        );
    }

    #[test]
    fn stat_json_is_dockers() {
        let s = PathStat {
            name: "hostname".into(),
            size: 13,
            mode: 0o644,
            mtime: rfc3339(1_700_000_000, 5),
            link_target: String::new(),
        };
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["linkTarget"], "");
        assert_eq!(json["mode"], 420);
        assert_eq!(json["mtime"], "2023-11-14T22:13:20.000000005Z");
    }

    #[tokio::test]
    async fn symlinks_resolve_inside_the_root() {
        use super::super::view::{Root, run};
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/sub")).expect("mkdir");
        std::os::unix::fs::symlink("/", r.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("sub/../../etc", r.join("etc/rel")).expect("symlink");
        std::os::unix::fs::symlink("/nowhere/x", r.join("broken")).expect("symlink");
        std::os::unix::fs::symlink("loop", r.join("loop")).expect("symlink");
        let got = run(Root::dir(r), || {
            let f = |p: &str| follow_symlinks(p).map_err(|e| e.to_string());
            Ok((
                f("/escape/etc/sub"),
                f("/etc/rel/sub"),
                f("/broken"),
                f("/escape/../../etc"),
                f("/loop").is_err(),
                stat("/escape")
                    .map(|s| (s.name, s.link_target, s.mode & go_mode::SYMLINK != 0))
                    .map_err(|e| e.to_string()),
            ))
        })
        .await
        .expect("view");
        assert_eq!(got.0, Ok("/etc/sub".to_owned()));
        assert_eq!(got.1, Ok("/etc/sub".to_owned()));
        assert_eq!(got.2, Ok("/nowhere/x".to_owned()));
        assert_eq!(got.3, Ok("/etc".to_owned()));
        assert!(got.4, "a symlink loop is an error");
        assert_eq!(got.5, Ok(("escape".to_owned(), "/".to_owned(), true)));
    }
}
