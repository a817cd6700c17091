//! Image archives: `docker save` → `rmi` → `load` round trips, archives
//! written by other tools (skopeo's docker-archive and oci-archive), the
//! real dockerd loading what skiffd saves, and `docker import`.

use std::path::Path;
use std::process::Command;

use skiff_e2e::{DockerCli, Dockerd, Skiffd, SkiffdOpts};

fn image_id(d: &Skiffd, name: &str) -> String {
    d.docker_ok(&["image", "inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_owned()
}

fn tar_members(path: &Path) -> Vec<String> {
    let mut a = tar::Archive::new(std::fs::File::open(path).expect("open tar"));
    a.entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn save_rmi_load_round_trip() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "busybox"]);
    d.docker_ok(&["pull", "hello-world"]);
    d.docker_ok(&["tag", "busybox", "busybox:second"]);
    let bb = image_id(&d, "busybox");
    let hw = image_id(&d, "hello-world");
    let archive = d.dir().join("images.tar");
    d.docker_ok(&[
        "save",
        "-o",
        archive.to_str().expect("utf8"),
        "busybox",
        "hello-world",
    ]);

    let members = tar_members(&archive);
    for m in [
        "manifest.json",
        "index.json",
        "oci-layout",
        &format!("blobs/sha256/{}", &bb[7..]),
    ] {
        assert!(
            members.iter().any(|x| x == m),
            "{m} missing from {members:?}"
        );
    }
    let mut a = tar::Archive::new(std::fs::File::open(&archive).expect("open"));
    let manifest: serde_json::Value = a
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry"))
        .find(|e| e.path().expect("path").to_str() == Some("manifest.json"))
        .map(|e| serde_json::from_reader(e).expect("manifest.json"))
        .expect("manifest.json present");
    let tags: Vec<String> = manifest
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|e| e["RepoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        tags,
        ["busybox:latest", "busybox:second", "hello-world:latest"],
        "a bare repository name saves all its tags"
    );

    d.docker_ok(&["rmi", "-f", "busybox", "busybox:second", "hello-world"]);
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
    let out = d.docker_ok(&["load", "-i", archive.to_str().expect("utf8")]);
    for line in [
        "Loaded image: busybox:latest",
        "Loaded image: busybox:second",
        "Loaded image: hello-world:latest",
    ] {
        assert!(out.contains(line), "{out}");
    }
    assert_eq!(image_id(&d, "busybox"), bb);
    assert_eq!(image_id(&d, "hello-world"), hw);

    // From stdin too, into a fresh daemon.
    let e = Skiffd::start(SkiffdOpts::default().no_mirror());
    let bytes = std::fs::read(&archive).expect("read archive");
    let out = e.docker().run_with_stdin(&["load"], &bytes);
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(image_id(&e, "hello-world"), hw);
}

#[test]
fn archives_written_by_skopeo_load() {
    let d = Skiffd::start(SkiffdOpts::default());
    let reg = d.registry().expect("registry").host();
    let dir = d.dir();
    for (transport, file, image, name) in [
        (
            "docker-archive",
            "docker.tar",
            "library/busybox",
            "skopeo/docker:1",
        ),
        (
            "oci-archive",
            "oci.tar",
            "library/zstd",
            "docker.io/skopeo/oci:2",
        ),
    ] {
        let path = dir.join(file);
        let status = Command::new("skopeo")
            .args(["copy", "-q", "--src-tls-verify=false"])
            .arg(format!("docker://{reg}/{image}:latest"))
            .arg(format!("{transport}:{}:{name}", path.display()))
            .status()
            .expect("run skopeo");
        assert!(status.success(), "skopeo copy to {transport}");
        let out = d.docker_ok(&["load", "-i", path.to_str().expect("utf8")]);
        let shown = name.trim_start_matches("docker.io/");
        assert!(
            out.contains(&format!("Loaded image: {shown}")),
            "{transport}: {out}"
        );
        let listed = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", shown]);
        assert_eq!(listed.trim(), shown);
    }
}

#[test]
fn corrupt_archives_are_refused_and_leave_nothing_behind() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "busybox"]);
    let archive = d.dir().join("bb.tar");
    d.docker_ok(&["save", "-o", archive.to_str().expect("utf8"), "busybox"]);
    d.docker_ok(&["rmi", "busybox"]);
    // Flip one byte inside the layer tar: its diff id no longer matches the config.
    let mut bytes = std::fs::read(&archive).expect("read");
    let mut a = tar::Archive::new(&bytes[..]);
    let (offset, size) = a
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry"))
        .find(|e| e.header().size().unwrap_or(0) > 100_000)
        .map(|e| (e.raw_file_position(), e.header().size().unwrap_or(0)))
        .expect("layer entry");
    // The middle of the layer is inside the busybox binary's content.
    bytes[(offset + size / 2) as usize] ^= 0xff;
    let out = d.docker().run_with_stdin(&["load"], &bytes);
    assert!(!out.success());
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
    assert_eq!(
        std::fs::read_dir(d.data_root().join("snapshots"))
            .expect("ls")
            .count(),
        0
    );
}

#[test]
fn import_a_root_filesystem() {
    let d = Skiffd::start(SkiffdOpts::default());
    let rootfs = d.dir().join("rootfs.tar.gz");
    let src = d.dir().join("rootfs");
    std::fs::create_dir_all(src.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", src.join("bin/busybox")).expect("copy busybox");
    std::fs::write(src.join("hello.txt"), "imported\n").expect("write");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .args(["-czf"])
        .arg(&rootfs)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());

    let out = d.docker_ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/busybox", "sh"]"#,
        "-c",
        "ENV A=1",
        "-m",
        "from a tarball",
        rootfs.to_str().expect("utf8"),
        "imported:1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:"), "{out}");
    assert_eq!(image_id(&d, "imported:1"), id);
    let cfg = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}} {{.Os}}",
        "imported:1",
    ]);
    assert_eq!(
        cfg.trim(),
        r#"["/bin/busybox","sh"] ["A=1"] from a tarball linux"#
    );
    let lower = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.GraphDriver.Data.LowerDir}}",
        "imported:1",
    ]);
    assert_eq!(
        std::fs::read_to_string(Path::new(lower.trim()).join("hello.txt")).expect("imported file"),
        "imported\n"
    );

    // From stdin, untagged.
    let bytes = std::fs::read(&rootfs).expect("read");
    let out = d.docker().run_with_stdin(&["import", "-"], &bytes);
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(
        d.docker_ok(&["images", "-q", "--filter", "dangling=true"])
            .lines()
            .count(),
        1
    );
}

#[test]
fn the_real_dockerd_loads_what_skiffd_saves() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "busybox"]);
    d.docker_ok(&["pull", "whiteout"]);
    let archive = d.dir().join("for-dockerd.tar");
    d.docker_ok(&[
        "save",
        "-o",
        archive.to_str().expect("utf8"),
        "busybox",
        "whiteout",
    ]);

    // The reference dockerd, in namespaces of its own (never the host's
    // network or /run).
    let dockerd = Dockerd::start();
    let real = DockerCli::new(
        format!("unix://{}", dockerd.socket().display()),
        dockerd.dir().join("cli"),
    );
    let out = real.ok(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert!(out.contains("Loaded image: whiteout:latest"), "{out}");
    for name in ["busybox", "whiteout"] {
        let theirs = real.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{json .RootFS.Layers}}",
            name,
        ]);
        let ours = d.docker_ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{json .RootFS.Layers}}",
            name,
        ]);
        assert_eq!(
            theirs.trim(),
            ours.trim(),
            "{name}: same image id and layers in both engines"
        );
    }
}
