//! `--user`: `name`, `uid`, `name:group`, `uid:gid`, resolved the way docker
//! resolves them, against the container's own `/etc/passwd` and `/etc/group`.

use std::path::Path;

use super::error::ContainerError;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups from `/etc/group`.
    pub additional_gids: Vec<u32>,
    /// The home directory, for `HOME`.
    pub home: String,
}

fn entries(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_owned).collect())
        .collect()
}

/// The id of group `g` (a number, or a name in the `/etc/group` entries
/// `groups`).
fn group_id(groups: &[Vec<String>], g: &str) -> Option<u32> {
    g.parse::<u32>().ok().or_else(|| {
        groups
            .iter()
            .find(|e| e.first().map(String::as_str) == Some(g))
            .and_then(|e| e.get(2))
            .and_then(|v| v.parse().ok())
    })
}

/// Resolve `spec` (empty: root) in the root filesystem `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser, ContainerError> {
    let passwd = entries(&rootfs.join("etc/passwd"));
    let groups = entries(&rootfs.join("etc/group"));
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let by_name = passwd
        .iter()
        .find(|e| e.first().map(String::as_str) == Some(user));
    let by_id = user.parse::<u32>().ok();
    let (uid, mut gid, home, name) = match (by_name, by_id) {
        (Some(e), _) => (
            e.get(2).and_then(|v| v.parse().ok()).unwrap_or(0),
            e.get(3).and_then(|v| v.parse().ok()).unwrap_or(0),
            e.get(5).cloned().unwrap_or_else(|| "/".into()),
            e.first().cloned(),
        ),
        (None, Some(uid)) => {
            let e = passwd
                .iter()
                .find(|e| e.get(2).and_then(|v| v.parse::<u32>().ok()) == Some(uid));
            (
                uid,
                e.and_then(|e| e.get(3))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                e.and_then(|e| e.get(5))
                    .cloned()
                    .unwrap_or_else(|| "/".into()),
                e.and_then(|e| e.first()).cloned(),
            )
        }
        (None, None) => {
            return Err(ContainerError::Runtime(format!(
                "unable to find user {user}: no matching entries in passwd file"
            )));
        }
    };
    if let Some(g) = group {
        gid = group_id(&groups, g).ok_or_else(|| {
            ContainerError::Runtime(format!(
                "unable to find group {g}: no matching entries in group file"
            ))
        })?;
    }
    let additional_gids = match &name {
        Some(n) => groups
            .iter()
            .filter(|e| {
                e.get(3)
                    .is_some_and(|members| members.split(',').any(|m| m == n))
            })
            .filter_map(|e| e.get(2).and_then(|v| v.parse().ok()))
            .filter(|g| *g != gid)
            .collect(),
        None => vec![],
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// `--group-add`: each of `groups` — a name in the container's
/// `/etc/group` or a number — added to `gids` unless it is there already
/// (`primary`, the user's own group, is never repeated).
pub fn group_add(
    rootfs: &Path,
    groups: &[String],
    primary: u32,
    gids: &mut Vec<u32>,
) -> Result<(), ContainerError> {
    if groups.is_empty() {
        return Ok(());
    }
    let entries = entries(&rootfs.join("etc/group"));
    for g in groups {
        let gid = group_id(&entries, g).ok_or_else(|| {
            ContainerError::InvalidArgument(format!(
                "Unable to find group {g}: no matching entries in group file"
            ))
        })?;
        if gid != primary && !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("etc")).expect("etc");
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n").expect("passwd");
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nwheel:x:10:alice\n",
        )
        .expect("group");
        d
    }

    #[test]
    fn names_ids_and_groups_resolve_like_docker() {
        let r = rootfs();
        assert_eq!(
            resolve(r.path(), "").expect("root"),
            ResolvedUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into()
            }
        );
        let alice = resolve(r.path(), "alice").expect("alice");
        assert_eq!(
            (
                alice.uid,
                alice.gid,
                alice.additional_gids.clone(),
                alice.home.as_str()
            ),
            (1000, 1000, vec![10], "/home/alice")
        );
        assert_eq!(
            resolve(r.path(), "nobody:nogroup").expect("nobody").gid,
            65534
        );
        let raw = resolve(r.path(), "4242:4343").expect("numeric");
        assert_eq!((raw.uid, raw.gid, raw.home.as_str()), (4242, 4343, "/"));
        assert!(resolve(r.path(), "mallory").is_err());
        assert!(resolve(r.path(), "alice:nosuchgroup").is_err());
    }

    #[test]
    fn group_add_takes_names_and_numbers_once() {
        let r = rootfs();
        let mut gids = vec![10];
        let groups = ["wheel", "nogroup", "4242", "1000"].map(String::from);
        group_add(r.path(), &groups, 1000, &mut gids).expect("groups");
        assert_eq!(gids, [10, 65534, 4242]);
        let err =
            group_add(r.path(), &["nope".to_owned()], 0, &mut gids).expect_err("unknown group");
        assert_eq!(
            err.to_string(),
            "Unable to find group nope: no matching entries in group file"
        );
    }
}
