//! `docker pull` and friends against skiffd, through a real registry used as
//! skiffd's docker.io mirror: every manifest and layer format, platform
//! selection, whiteouts, tags and removal.

use std::collections::BTreeSet;
use std::path::Path;

use skiff_e2e::{Skiffd, SkiffdOpts, seed};

fn inspect(d: &Skiffd, name: &str) -> serde_json::Value {
    let out = d.docker_ok(&["image", "inspect", name]);
    let mut v: Vec<serde_json::Value> = serde_json::from_str(&out).expect("inspect json");
    v.remove(0)
}

fn count_dir(p: &Path) -> usize {
    std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn pull_list_inspect_tag_and_remove() {
    let d = Skiffd::start(SkiffdOpts::default());
    let fx = seed();
    let busybox = fx.image("library/busybox:latest");

    let out = d.docker_ok(&["pull", "busybox"]);
    assert!(
        out.contains("latest: Pulling from library/busybox"),
        "{out}"
    );
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains(&format!("Digest: {}", busybox.digest)),
        "{out}"
    );
    assert!(
        out.contains("Status: Downloaded newer image for busybox:latest"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("docker.io/library/busybox:latest"),
        "{out}"
    );

    let again = d.docker_ok(&["pull", "busybox:latest"]);
    assert!(
        again.contains("Status: Image is up to date for busybox:latest"),
        "{again}"
    );

    let listed = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let info = inspect(&d, "busybox");
    let id = info["Id"].as_str().expect("Id").to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(listed.trim(), format!("busybox:latest {}", &id[7..19]));
    assert_eq!(info["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(
        info["RepoDigests"],
        serde_json::json!([format!("busybox@{}", busybox.digest)])
    );
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(info["Size"].as_i64().expect("Size") > 1_000_000);
    assert_eq!(info["RootFS"]["Type"], "layers");
    // The id is the digest of the config the registry serves.
    let config = std::fs::read(d.data_root().join("content/blobs/sha256").join(&id[7..]))
        .expect("config blob");
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&config))
        ),
        id
    );

    // Lookups by id, short id and full name all work.
    for name in [
        &id[..],
        &id[7..],
        &id[7..19],
        "docker.io/library/busybox:latest",
        &format!("busybox@{}", busybox.digest),
    ] {
        assert_eq!(inspect(&d, name)["Id"], id.as_str(), "{name}");
    }

    d.docker_ok(&["tag", "busybox", "mine/bb:1"]);
    d.docker_ok(&["tag", "busybox", "127.0.0.1:5000/x/y:2"]);
    let tags = inspect(&d, "busybox")["RepoTags"].clone();
    assert_eq!(
        tags,
        serde_json::json!(["127.0.0.1:5000/x/y:2", "busybox:latest", "mine/bb:1"])
    );
    let filtered = d.docker_ok(&[
        "images",
        "--filter",
        "reference=mine/*",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(filtered.trim(), "mine/bb:1");

    // By id with names in several repositories: docker's conflict.
    let (code, err) = d.docker_fail(&["rmi", &id[7..19]]);
    assert_eq!(code, 1);
    assert!(
        err.contains("image is referenced in multiple repositories"),
        "{err}"
    );

    let out = d.docker_ok(&["rmi", "mine/bb:1"]);
    assert_eq!(out.trim(), "Untagged: mine/bb:1");
    let out = d.docker_ok(&["rmi", "127.0.0.1:5000/x/y:2"]);
    assert_eq!(out.trim(), "Untagged: 127.0.0.1:5000/x/y:2");
    let out = d.docker_ok(&["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
    // Nothing is left behind in the stores.
    assert_eq!(count_dir(&d.data_root().join("snapshots")), 0);
    assert_eq!(count_dir(&d.data_root().join("content/blobs/sha256")), 0);
}

#[test]
fn missing_tag_gives_dockers_message_and_exit_1() {
    let d = Skiffd::start(SkiffdOpts::default());
    let (code, err) = d.docker_fail(&["pull", "busybox:nope"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error response from daemon: manifest for busybox:nope not found: manifest unknown: manifest unknown"
    );
    let host = d.registry().expect("registry").host();
    let (code, err) = d.docker_fail(&["pull", &format!("{host}/library/nothing-here:1")]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "manifest for {host}/library/nothing-here:1 not found"
        )),
        "{err}"
    );
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
}

#[test]
fn every_manifest_and_layer_format_pulls_and_shared_layers_are_stored_once() {
    let d = Skiffd::start(SkiffdOpts::default());
    // schema2+gzip, OCI+gzip, OCI+zstd, OCI+plain tar, and a direct (non-mirror) pull.
    let host = d.registry().expect("registry").host();
    for name in [
        "busybox",
        "alpine:3.10",
        "oci",
        "zstd",
        "plain",
        &format!("{host}/library/hello-world"),
    ] {
        d.docker_ok(&["pull", name]);
    }
    let listed = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let listed: BTreeSet<&str> = listed.lines().collect();
    let want: BTreeSet<String> = [
        "busybox:latest",
        "alpine:3.10",
        "oci:latest",
        "zstd:latest",
        "plain:latest",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("{host}/library/hello-world:latest")])
    .collect();
    assert_eq!(listed, want.iter().map(String::as_str).collect());

    // The busybox rootfs is one layer in all of them but hello-world: however
    // it was compressed, it is unpacked once.
    let mut diff_ids = BTreeSet::new();
    for name in ["busybox", "alpine:3.10", "oci", "zstd", "plain"] {
        let info = inspect(&d, name);
        for l in info["RootFS"]["Layers"].as_array().expect("layers") {
            diff_ids.insert(l.as_str().expect("diff id").to_owned());
        }
    }
    let snapshots = count_dir(&d.data_root().join("snapshots"));
    assert_eq!(
        diff_ids.len(),
        1,
        "the fixtures share one rootfs layer: {diff_ids:?}"
    );
    assert_eq!(
        snapshots, 2,
        "one snapshot for the shared busybox layer, one for hello-world"
    );
    // A second pull of an image whose layer is present fetches nothing.
    d.docker_ok(&["rmi", "oci"]);
    let out = d.docker_ok(&["pull", "oci"]);
    assert!(out.contains("Already exists"), "{out}");
}

#[test]
fn an_index_resolves_to_the_host_platform_or_the_one_asked_for() {
    let d = Skiffd::start(SkiffdOpts::default());
    let ma = seed().multiarch();
    d.docker_ok(&["pull", "multiarch"]);
    let info = inspect(&d, "multiarch");
    assert_eq!(info["Architecture"], "amd64");
    assert!(
        info["Config"]["Env"]
            .to_string()
            .contains("SKIFF_ARCH=amd64"),
        "{}",
        info["Config"]
    );
    assert_eq!(
        info["RepoDigests"],
        serde_json::json!([format!("multiarch@{}", ma.index)])
    );

    d.docker_ok(&["pull", "--platform", "linux/arm64", "multiarch"]);
    let info = inspect(&d, "multiarch");
    assert_eq!(info["Architecture"], "arm64");
    assert_eq!(info["Variant"], "v8");
    assert!(
        info["Config"]["Env"]
            .to_string()
            .contains("SKIFF_ARCH=arm64"),
        "{}",
        info["Config"]
    );

    let (code, err) = d.docker_fail(&["pull", "--platform", "linux/s390x", "multiarch"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{err}"
    );
}

/// Unmounts on drop, so a failed assertion does not leak a mount.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("readdir") {
        let e = e.expect("entry");
        let rel = format!(
            "/{}",
            e.path().strip_prefix(root).expect("prefix").display()
        );
        out.push(rel);
        if e.file_type().expect("type").is_dir() {
            walk(root, &e.path(), out);
        }
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_the_merged_view_is_exact() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "whiteout"]);
    let info = inspect(&d, "whiteout");
    let lower = info["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .expect("LowerDir")
        .to_owned();
    // busybox base, the lower layer, the crafted upper layer (top first).
    assert_eq!(lower.split(':').count(), 3, "{lower}");

    // In the upper snapshot, the whiteout is a 0/0 char device and the opaque dir has its xattr.
    let upper = Path::new(lower.split(':').next().expect("upper"));
    let gone = nix::sys::stat::lstat(&upper.join("etc/gone")).expect("whiteout device");
    assert_eq!(gone.st_mode & libc::S_IFMT, libc::S_IFCHR);
    assert_eq!(gone.st_rdev, 0);
    let opaque = xattr::get(upper.join("data"), "trusted.overlay.opaque").expect("getxattr");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));

    let mnt = d.dir().join("merged");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    nix::mount::mount(
        Some("overlay"),
        &mnt,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(format!("lowerdir={lower}").as_str()),
    )
    .expect("mount overlay");
    let _guard = Mount(mnt.clone());
    let mut files = Vec::new();
    for top in ["data", "etc"] {
        files.push(format!("/{top}"));
        walk(&mnt, &mnt.join(top), &mut files);
    }
    files.sort();
    assert_eq!(files, seed().whiteout_expected());
}

#[test]
fn history_and_prune() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "whiteout"]);
    let rows = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Size}}|{{.CreatedBy}}",
        "whiteout",
    ]);
    let rows: Vec<&str> = rows.lines().collect();
    let id = d.docker_ok(&["image", "inspect", "--format", "{{.Id}}", "whiteout"]);
    assert_eq!(rows.len(), 3, "one row per layer-making step: {rows:?}");
    assert!(rows[0].starts_with(&format!("{}|", id.trim())), "{rows:?}");
    assert!(
        rows[1..].iter().all(|r| r.starts_with("<missing>|")),
        "{rows:?}"
    );

    // A re-pointed tag leaves a dangling image; prune removes only that.
    d.docker_ok(&["pull", "busybox"]);
    d.docker_ok(&["pull", "multiarch"]);
    d.docker_ok(&["pull", "--platform", "linux/arm64", "multiarch"]);
    let dangling = d.docker_ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 1, "{dangling}");
    let out = d.docker_ok(&["image", "prune", "-f"]);
    assert!(
        out.contains("Deleted Images:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(
        d.docker_ok(&["images", "-q", "--filter", "dangling=true"])
            .trim(),
        ""
    );
    assert_eq!(d.docker_ok(&["images", "-q"]).lines().count(), 3);

    let out = d.docker_ok(&["image", "prune", "-af"]);
    assert!(out.contains("untagged: busybox:latest"), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
    assert_eq!(count_dir(&d.data_root().join("snapshots")), 0);
}
