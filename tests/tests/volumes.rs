//! Volumes and every mount form, with the real docker CLI (and bollard's
//! volume calls) against skiffd: named and anonymous volumes, `-v` and
//! `--mount` forms, image `VOLUME` copy-up with ownership, `nocopy`,
//! `rm -v`, in-use refusals, prune by API version, tmpfs volumes,
//! `--volumes-from`, `--read-only`, `docker cp` through a volume, events,
//! `system df`, a kill -9 of skiffd, and leak checks.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use serde_json::Value;
use skiff_e2e::util::mounts_under;
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_images() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d.docker_ok(&["pull", "-q", "volume"]);
    d
}

fn volume_names(d: &Skiffd) -> Vec<String> {
    d.docker_ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn inspect(d: &Skiffd, what: &str) -> Value {
    let out = d.docker_ok(&["inspect", what]);
    let v: Value = serde_json::from_str(&out).expect("inspect json");
    v[0].clone()
}

/// The `Mounts` of a container, by destination.
fn mounts_of(d: &Skiffd, container: &str) -> HashMap<String, Value> {
    inspect(d, container)["Mounts"]
        .as_array()
        .expect("Mounts")
        .iter()
        .map(|m| {
            (
                m["Destination"].as_str().unwrap_or_default().to_owned(),
                m.clone(),
            )
        })
        .collect()
}

#[test]
fn volumes_and_mount_forms() {
    let d = with_images();
    let root = d.data_root().to_owned();

    // A named volume carries data from one container to the next, and
    // outlives both (--rm never removes named volumes).
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo hello > /data/f",
    ]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out, "hello\n");
    assert!(volume_names(&d).contains(&"data".to_owned()));
    let v = inspect(&d, "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(
        v["Mountpoint"].as_str().expect("mountpoint"),
        root.join("volumes/data/_data").display().to_string()
    );

    // :ro refuses writes.
    let (_, err) = d.docker_fail(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "touch",
        "/data/x",
    ]);
    assert!(err.contains("Read-only file system"), "{err}");

    // --mount: volume, bind, tmpfs with a size; a missing bind source is
    // dockerd's error (while -v creates it).
    let host_dir = tempfile::tempdir().expect("tempdir");
    let bind = format!("type=bind,src={},dst=/b", host_dir.path().display());
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=m1,dst=/m",
        "--mount",
        &bind,
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1048576",
        "busybox",
        "sh",
        "-c",
        "echo v > /m/f && echo b > /b/f && grep ' /t ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs") && out.contains("size=1024k"), "{out}");
    assert_eq!(
        std::fs::read_to_string(host_dir.path().join("f")).expect("bind file"),
        "b\n"
    );
    let out = d.docker_ok(&["run", "--rm", "-v", "m1:/m", "busybox", "cat", "/m/f"]);
    assert_eq!(out, "v\n");
    let (_, err) = d.docker_fail(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,src=/skiff-missing-source,dst=/x",
        "busybox",
        "true",
    ]);
    assert!(
        err.contains("bind source path does not exist: /skiff-missing-source"),
        "{err}"
    );
    let made = host_dir.path().join("made/by/v");
    let v_bind = format!("{}:/made", made.display());
    d.docker_ok(&["run", "--rm", "-v", &v_bind, "busybox", "true"]);
    assert!(made.is_dir(), "-v creates a missing host directory");
    let (_, err) = d.docker_fail(&[
        "run", "--rm", "-v", "va:/x", "-v", "vb:/x", "busybox", "true",
    ]);
    assert!(err.contains("Duplicate mount point: /x"), "{err}");

    // Image VOLUME: an anonymous volume with the image's content, owner and
    // mode, so the image's USER 999 can write its data directory.
    let id = d
        .docker_ok(&[
            "run",
            "-d",
            "volume",
            "sh",
            "-c",
            "id -u; cat /data/seed; echo mine > /data/own",
        ])
        .trim()
        .to_owned();
    assert_eq!(
        d.docker_ok(&["wait", &id]).trim(),
        "0",
        "{}",
        d.docker_ok(&["logs", &id])
    );
    assert_eq!(d.docker_ok(&["logs", &id]), "999\nseeded\n");
    let mounts = mounts_of(&d, &id);
    let m = &mounts["/data"];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);
    let anon = m["Name"].as_str().expect("name").to_owned();
    assert_eq!(anon.len(), 64, "{m}");
    let data = root.join("volumes").join(&anon).join("_data");
    assert_eq!(m["Source"], data.display().to_string());
    let meta = std::fs::metadata(&data).expect("volume data");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (999, 999, 0o750)
    );
    assert_eq!(
        std::fs::read_to_string(data.join("own")).expect("own"),
        "mine\n"
    );
    assert_eq!(
        inspect(&d, &anon)["Labels"]["com.docker.volume.anonymous"],
        "",
        "anonymous label"
    );

    // nocopy: the volume stays empty; a named volume is populated too.
    for (flag, mount, want) in [
        ("-v", "nc:/data:nocopy", ""),
        ("--mount", "type=volume,src=nc2,dst=/data,volume-nocopy", ""),
        ("-v", "cp:/data", "seed\n"),
    ] {
        let out = d.docker_ok(&[
            "run", "--rm", "-u", "0", flag, mount, "volume", "ls", "-A", "/data",
        ]);
        assert_eq!(out, want, "{mount}");
    }

    // rm -v removes the anonymous volumes, never the named ones.
    d.docker_ok(&[
        "create",
        "--name",
        "rv",
        "-v",
        "/anon",
        "-v",
        "keep:/keep",
        "busybox",
    ]);
    let mounts = mounts_of(&d, "rv");
    let anon_rv = mounts["/anon"]["Name"].as_str().expect("anon").to_owned();
    assert_eq!(mounts["/keep"]["Name"], "keep");
    assert_eq!(mounts["/keep"]["Mode"], "z");
    d.docker_ok(&["rm", "-v", "rv"]);
    let names = volume_names(&d);
    assert!(!names.contains(&anon_rv), "{names:?}");
    assert!(names.contains(&"keep".to_owned()), "{names:?}");
    // The image volume of the first container goes with it too.
    d.docker_ok(&["rm", "-v", &id]);
    assert!(!volume_names(&d).contains(&anon));
    assert!(!data.exists());

    // A volume in use cannot be removed, not even with -f.
    let user = d
        .docker_ok(&["create", "-v", "busy:/x", "busybox"])
        .trim()
        .to_owned();
    for args in [
        &["volume", "rm", "busy"][..],
        &["volume", "rm", "-f", "busy"],
    ] {
        let (_, err) = d.docker_fail(args);
        assert!(
            err.contains(&format!("remove busy: volume is in use - [{user}]")),
            "{err}"
        );
    }
    d.docker_ok(&["rm", &user]);
    d.docker_ok(&["volume", "rm", "busy"]);
    let (_, err) = d.docker_fail(&["volume", "rm", "busy"]);
    assert!(err.contains("no such volume"), "{err}");

    // A tmpfs volume with a size: mounted while used, unmounted after.
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=2m",
        "tv",
    ]);
    assert_eq!(inspect(&d, "tv")["Options"]["o"], "size=2m");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "tv:/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs") && out.contains("size=2048k"), "{out}");
    let tv_data = root.join("volumes/tv/_data").display().to_string();
    assert!(
        !mounts_under(&root).contains(&tv_data),
        "tmpfs volume left mounted"
    );

    // --volumes-from, read-write and read-only.
    d.docker_ok(&["create", "--name", "src", "-v", "vf:/shared", "busybox"]);
    d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo x > /shared/f",
    ]);
    let out = d.docker_ok(&["run", "--rm", "-v", "vf:/v", "busybox", "cat", "/v/f"]);
    assert_eq!(out, "x\n");
    let (_, err) = d.docker_fail(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "touch",
        "/shared/g",
    ]);
    assert!(err.contains("Read-only file system"), "{err}");

    // --read-only: the root refuses writes, the volume takes them.
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "ro1:/data",
        "busybox",
        "sh",
        "-c",
        "touch /data/ok && echo volume-ok; touch /nope",
    ]);
    assert!(out.stdout.contains("volume-ok"), "{out:?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
    assert_ne!(out.code, 0);

    // docker cp into and out of a volume-mounted path goes through the mount.
    d.docker_ok(&["create", "--name", "cpv", "-v", "cpdata:/data", "busybox"]);
    let file = host_dir.path().join("copied");
    std::fs::write(&file, b"through\n").expect("write");
    d.docker_ok(&["cp", &file.display().to_string(), "cpv:/data/copied"]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "cpdata:/d",
        "busybox",
        "cat",
        "/d/copied",
    ]);
    assert_eq!(out, "through\n");
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "cpdata:/d",
        "busybox",
        "sh",
        "-c",
        "echo back > /d/back",
    ]);
    let out_dir = host_dir.path().join("out");
    d.docker_ok(&["cp", "cpv:/data/back", &out_dir.display().to_string()]);
    assert_eq!(
        std::fs::read_to_string(&out_dir).expect("copied out"),
        "back\n"
    );

    // system df -v: volumes with sizes and reference counts.
    let df = d.docker_ok(&["system", "df", "-v", "--format", "{{json .Volumes}}"]);
    let rows: Value = serde_json::from_str(&df).expect("df json");
    let row = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["Name"] == "cpdata")
        .expect("cpdata row")
        .clone();
    assert_eq!(row["Links"], "1", "{row}");
    assert_eq!(row["Size"], "13B", "copied + back: {row}");

    // ls filters.
    let dangling = d.docker_ok(&["volume", "ls", "-q", "--filter", "dangling=false"]);
    assert!(dangling.lines().any(|l| l == "cpdata") && !dangling.lines().any(|l| l == "data"));
    d.docker_ok(&["volume", "create", "--label", "team=db", "labelled"]);
    let out = d.docker_ok(&["volume", "ls", "-q", "--filter", "label=team=db"]);
    assert_eq!(out, "labelled\n");

    // Events: create, mount, unmount, destroy.
    d.docker_ok(&["run", "--rm", "-v", "evt:/e", "busybox", "true"]);
    d.docker_ok(&["volume", "rm", "evt"]);
    // `--until` is whole seconds: the events must be in a past second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let events = d.past_events(&["type=volume", "volume=evt"], "{{.Action}}");
    let actions: Vec<&str> = events.lines().collect();
    assert_eq!(
        actions,
        ["create", "mount", "unmount", "destroy"],
        "{events}"
    );

    // Prune: API 1.44 takes only anonymous volumes, 1.41 every unused one.
    d.docker_ok(&["create", "--name", "pa", "-v", "/pruned", "busybox"]);
    let anon_p = mounts_of(&d, "pa")["/pruned"]["Name"]
        .as_str()
        .expect("anon")
        .to_owned();
    d.docker_ok(&["rm", "pa"]);
    assert!(volume_names(&d).contains(&anon_p), "rm without -v keeps it");
    let v144 = d.docker().clone().with_env("DOCKER_API_VERSION", "1.44");
    v144.ok(&["volume", "prune", "-f"]);
    let names = volume_names(&d);
    assert!(
        !names.contains(&anon_p) && names.contains(&"data".to_owned()),
        "{names:?}"
    );
    let v141 = d.docker().clone().with_env("DOCKER_API_VERSION", "1.41");
    v141.ok(&["volume", "prune", "-f"]);
    let names = volume_names(&d);
    assert!(!names.contains(&"data".to_owned()), "{names:?}");
    assert!(
        names.contains(&"vf".to_owned()) && names.contains(&"cpdata".to_owned()),
        "in use: {names:?}"
    );
    d.docker_ok(&["rm", "src", "cpv"]);
    assert!(mounts_under(&root.join("volumes")).is_empty());
}

#[test]
fn a_kill_9_keeps_every_volume_and_its_data() {
    let mut d = with_images();
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "kept:/k",
        "busybox",
        "sh",
        "-c",
        "echo safe > /k/f",
    ]);
    d.docker_ok(&["volume", "create", "--label", "a=b", "empty"]);
    let live = d
        .docker_ok(&[
            "run",
            "-d",
            "-v",
            "live:/l",
            "-v",
            "/anonlive",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    let anon = mounts_of(&d, &live)["/anonlive"]["Name"]
        .as_str()
        .expect("anon")
        .to_owned();
    d.kill9();
    d.restart();
    d.assert_consistent_and_swept();
    let mut names = volume_names(&d);
    names.sort();
    let mut want = vec![anon.clone(), "empty".into(), "kept".into(), "live".into()];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(inspect(&d, "empty")["Labels"]["a"], "b");
    let out = d.docker_ok(&["run", "--rm", "-v", "kept:/k", "busybox", "cat", "/k/f"]);
    assert_eq!(out, "safe\n");
    // The running container still uses its volumes.
    let (_, err) = d.docker_fail(&["volume", "rm", "live"]);
    assert!(err.contains("volume is in use"), "{err}");
    d.docker_ok(&["rm", "-f", "-v", &live]);
    let names = volume_names(&d);
    assert!(
        !names.contains(&anon) && names.contains(&"live".to_owned()),
        "{names:?}"
    );
    d.docker_ok(&["volume", "rm", "live"]);
}

#[test]
fn rm_containers_leave_no_anonymous_volume_or_mount() {
    let d = with_images();
    for _ in 0..200 {
        d.docker_ok(&["run", "--rm", "-v", "/anon", "busybox", "true"]);
    }
    assert_eq!(volume_names(&d), Vec::<String>::new());
    assert_eq!(mounts_under(d.data_root()), Vec::<String>::new());
}

#[tokio::test]
async fn bollard_volume_calls() {
    use bollard::models::VolumeCreateRequest;
    use bollard::query_parameters::{ListVolumesOptions, PruneVolumesOptions, RemoveVolumeOptions};

    let d = Skiffd::start(SkiffdOpts::default());
    let docker = d.bollard();
    let created = docker
        .create_volume(VolumeCreateRequest {
            name: Some("bv".into()),
            labels: Some(HashMap::from([("k".to_owned(), "v".to_owned())])),
            ..Default::default()
        })
        .await
        .expect("create");
    assert_eq!(created.name, "bv");
    assert_eq!(created.driver, "local");
    let inspected = docker.inspect_volume("bv").await.expect("inspect");
    assert_eq!(inspected.labels.get("k").map(String::as_str), Some("v"));
    let listed = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec!["k=v".to_owned()],
            )])),
        }))
        .await
        .expect("list");
    let names: Vec<_> = listed
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["bv"]);
    let err = docker.inspect_volume("nope").await.expect_err("missing");
    assert!(err.to_string().contains("no such volume"), "{err}");
    let pruned = docker
        .prune_volumes(Some(PruneVolumesOptions {
            filters: Some(HashMap::from([("all".to_owned(), vec!["true".to_owned()])])),
        }))
        .await
        .expect("prune");
    assert_eq!(pruned.volumes_deleted, Some(vec!["bv".to_owned()]));
    docker
        .remove_volume("bv", Some(RemoveVolumeOptions { force: true }))
        .await
        .expect("force rm of a missing volume");
}

/// `docker ps` lists each container's mounts (`Mounts` of the list, as
/// dockerd gives them): the volume's name, and a bind's source.
#[test]
fn ps_lists_the_mounts() {
    let d = with_images();
    let host = d.dir().join("ps-bind");
    std::fs::create_dir_all(&host).expect("bind source");
    let bind = format!("{}:/host", host.display());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "mounts-ps",
        "-v",
        "ps-data:/data",
        "-v",
        &bind,
        "busybox",
        "sleep",
        "600",
    ]);
    let mounts = d.docker_ok(&[
        "ps",
        "--no-trunc",
        "--filter",
        "name=mounts-ps",
        "--format",
        "{{.Mounts}}",
    ]);
    d.docker_ok(&["rm", "-f", "mounts-ps"]);
    let mut listed: Vec<&str> = mounts.trim().split(',').collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [host.display().to_string().as_str(), "ps-data"],
        "{mounts}"
    );
}
