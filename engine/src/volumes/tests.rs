//! Unit tests of the volume service, over tempdirs and a fake mounter; one
//! root test mounts a real tmpfs volume in a private mount namespace.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::mounter::fake::FakeMounter;
use super::*;
use crate::errdefs::ErrorKind;
use crate::events::{Event, EventType};

fn service(root: &Path) -> (VolumeService, Arc<FakeMounter>, Events) {
    let mounter = Arc::new(FakeMounter::default());
    let events = Events::new();
    let s = VolumeService::open_with(root, events.clone(), mounter.clone()).expect("open");
    (s, mounter, events)
}

fn named(name: &str) -> CreateRequest {
    CreateRequest {
        name: Some(name.to_owned()),
        ..CreateRequest::default()
    }
}

fn anonymous() -> CreateRequest {
    CreateRequest::default()
}

fn with_opts(name: &str, opts: &[(&str, &str)]) -> CreateRequest {
    CreateRequest {
        options: opts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..named(name)
    }
}

fn tmpfs_opts() -> [(&'static str, &'static str); 3] {
    [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]
}

/// The events published so far, as `action actor` strings.
fn history(events: &Events) -> Vec<Event> {
    events.subscribe(Some(0)).0
}

fn actions(events: &Events) -> Vec<String> {
    history(events)
        .iter()
        .map(|e| format!("{} {}", e.action, e.actor))
        .collect()
}

#[test]
fn create_lays_out_dockerds_directories_and_inspects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, events) = service(dir.path());
    let mut req = named("data");
    req.labels.insert("app".into(), "db".into());
    let v = s.create(req).expect("create");
    let vdir = dir.path().join("volumes/data");
    assert_eq!(v.mountpoint, vdir.join("_data"));
    assert!(v.mountpoint.is_dir());
    assert!(vdir.join("volume.json").is_file());
    assert!(!vdir.join("opts.json").exists(), "no options, no opts.json");
    assert_eq!((v.driver.as_str(), v.scope), ("local", "local"));
    assert_eq!(v.labels.get("app").map(String::as_str), Some("db"));
    assert!(!v.is_anonymous());
    assert!(
        time::OffsetDateTime::parse(
            &v.created_at,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "{}",
        v.created_at
    );
    assert_eq!(s.inspect("data").expect("inspect"), v);

    // Again: the same volume, no second event.
    let again = s.create(named("data")).expect("again");
    assert_eq!(again, v);
    assert_eq!(actions(&events), ["create data"]);
    let e = &history(&events)[0];
    assert_eq!(e.kind, EventType::Volume);
    assert_eq!(
        e.attributes.get("driver").map(String::as_str),
        Some("local")
    );
}

#[test]
fn anonymous_volumes_get_a_random_id_and_the_label() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, _) = service(dir.path());
    let v = s.create(anonymous()).expect("create");
    assert_eq!(v.name.len(), 64);
    assert!(v.name.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(v.is_anonymous());
    assert_eq!(v.labels.get(ANONYMOUS_LABEL).map(String::as_str), Some(""));
    let other = s.create(anonymous()).expect("create");
    assert_ne!(v.name, other.name);
}

#[test]
fn create_refuses_with_dockerds_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, _) = service(dir.path());
    for (req, want, kind) in [
        (
            named("a"),
            "create a: volume name is too short, names should be at least two alphanumeric characters",
            ErrorKind::InvalidArgument,
        ),
        (
            named("my vol"),
            "create my vol: \"my vol\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
            ErrorKind::InvalidArgument,
        ),
        (
            with_opts("v1", &[("foo", "bar")]),
            "create v1: invalid option: \"foo\"",
            ErrorKind::InvalidArgument,
        ),
        (
            with_opts("v1", &[("type", "tmpfs")]),
            "create v1: missing required option: \"device\"",
            ErrorKind::InvalidArgument,
        ),
        (
            CreateRequest {
                driver: Some("nfsplugin".into()),
                ..named("v1")
            },
            "create v1: error looking up volume plugin nfsplugin: plugin \"nfsplugin\" not found",
            ErrorKind::NotFound,
        ),
    ] {
        let err = s.create(req).expect_err(want);
        assert_eq!((err.to_string().as_str(), err.kind()), (want, kind));
    }
    assert_eq!(s.count(), 0);
    let names: Vec<_> = fs::read_dir(dir.path().join("volumes"))
        .expect("ls")
        .collect();
    assert!(names.is_empty(), "nothing left behind: {names:?}");
}

#[test]
fn options_are_persisted_in_dockerds_opts_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, _) = service(dir.path());
    let v = s.create(with_opts("tmp", &tmpfs_opts())).expect("create");
    assert_eq!(v.options.get("o").map(String::as_str), Some("size=1m"));
    let opts: LocalOptions = serde_json::from_slice(
        &fs::read(dir.path().join("volumes/tmp/opts.json")).expect("opts.json"),
    )
    .expect("parse");
    assert_eq!(
        (opts.mount_type.as_str(), opts.mount_opts.as_str()),
        ("tmpfs", "size=1m")
    );
}

#[test]
fn remove_refuses_in_use_volumes_even_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, events) = service(dir.path());
    s.create(CreateRequest {
        reference: Some("c2".into()),
        ..named("myvol")
    })
    .expect("create");
    s.add_ref("myvol", "c1").expect("ref");
    for force in [false, true] {
        let err = s.remove("myvol", force).expect_err("in use");
        assert_eq!(err.to_string(), "remove myvol: volume is in use - [c1, c2]");
        assert_eq!(err.kind(), ErrorKind::Conflict);
    }
    assert_eq!(s.users("myvol"), ["c1", "c2"]);
    s.release("myvol", "c1");
    s.release("myvol", "c2");
    s.release("myvol", "never");
    s.remove("myvol", false).expect("remove");
    assert!(!dir.path().join("volumes/myvol").exists());
    let err = s.inspect("myvol").expect_err("gone");
    assert_eq!(err.to_string(), "get myvol: no such volume");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        s.remove("nope", false).expect_err("missing").to_string(),
        "get nope: no such volume"
    );
    s.remove("nope", true).expect("forced remove of nothing");
    assert_eq!(
        s.add_ref("nope", "c").expect_err("missing").to_string(),
        "get nope: no such volume"
    );
    assert_eq!(actions(&events), ["create myvol", "destroy myvol"]);
}

#[test]
fn list_filters_by_name_label_dangling_and_driver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, _) = service(dir.path());
    let mut web = named("web-data");
    web.labels.insert("tier".into(), "front".into());
    s.create(web).expect("create");
    let mut db = named("db-data");
    db.labels.insert("tier".into(), "back".into());
    db.reference = Some("c1".into());
    s.create(db).expect("create");
    s.create(named("cache")).expect("create");

    let names = |f: ListFilter| -> Vec<String> { s.list(&f).into_iter().map(|v| v.name).collect() };
    assert_eq!(
        names(ListFilter::default()),
        ["cache", "db-data", "web-data"]
    );
    assert_eq!(
        names(ListFilter {
            names: vec!["data".into()],
            ..ListFilter::default()
        }),
        ["db-data", "web-data"]
    );
    assert_eq!(
        names(ListFilter {
            labels: vec![LabelFilter::parse("tier", false)],
            ..ListFilter::default()
        }),
        ["db-data", "web-data"]
    );
    assert_eq!(
        names(ListFilter {
            labels: vec![LabelFilter::parse("tier=back", false)],
            ..ListFilter::default()
        }),
        ["db-data"]
    );
    assert_eq!(
        names(ListFilter {
            dangling: Some(true),
            ..ListFilter::default()
        }),
        ["cache", "web-data"]
    );
    assert_eq!(
        names(ListFilter {
            dangling: Some(false),
            ..ListFilter::default()
        }),
        ["db-data"]
    );
    assert!(
        names(ListFilter {
            drivers: vec!["other".into()],
            ..ListFilter::default()
        })
        .is_empty()
    );
    assert_eq!(
        names(ListFilter {
            drivers: vec!["local".into()],
            names: vec!["cache".into()],
            ..ListFilter::default()
        }),
        ["cache"]
    );
}

#[test]
fn prune_takes_unused_anonymous_volumes_unless_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, events) = service(dir.path());
    let anon = s.create(anonymous()).expect("anon");
    fs::write(anon.mountpoint.join("f"), vec![0u8; 1000]).expect("write");
    let used = s
        .create(CreateRequest {
            reference: Some("c1".into()),
            ..anonymous()
        })
        .expect("used anon");
    s.create(named("keep")).expect("named");
    let mut labelled = named("labelled");
    labelled.labels.insert("env".into(), "test".into());
    s.create(labelled).expect("labelled");
    s.create(with_opts("tmp", &tmpfs_opts()))
        .expect("with options");

    let report = s.prune(&PruneRequest::default()).expect("prune");
    assert_eq!(report.volumes_deleted, std::slice::from_ref(&anon.name));
    assert_eq!(report.space_reclaimed, 1000);
    assert!(!anon.mountpoint.exists());

    let report = s
        .prune(&PruneRequest {
            scope: remove::PruneScope::All,
            labels: vec![LabelFilter::parse("env", true)],
        })
        .expect("prune all but env");
    assert_eq!(report.volumes_deleted, ["keep"]);

    let report = s
        .prune(&PruneRequest {
            scope: remove::PruneScope::All,
            labels: vec![LabelFilter::parse("env=test", false)],
        })
        .expect("prune env=test");
    assert_eq!(report.volumes_deleted, ["labelled"]);

    let left: Vec<_> = s
        .list(&ListFilter::default())
        .into_iter()
        .map(|v| v.name)
        .collect();
    let mut want = vec![used.name.clone(), "tmp".to_owned()];
    want.sort();
    assert_eq!(left, want, "in-use and driver-option volumes stay");
    let prunes: Vec<_> = history(&events)
        .into_iter()
        .filter(|e| e.action == "prune")
        .map(|e| e.attributes.get("reclaimed").cloned().unwrap_or_default())
        .collect();
    assert_eq!(prunes, ["1000", "0", "0"]);
}

#[test]
fn disk_usage_counts_sizes_and_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, _, _) = service(dir.path());
    let v = s.create(named("sized")).expect("create");
    fs::write(v.mountpoint.join("a"), vec![1u8; 300]).expect("write");
    s.add_ref("sized", "c1").expect("ref");
    s.add_ref("sized", "c2").expect("ref");
    s.add_ref("sized", "c2").expect("idempotent");
    s.create(with_opts("tmp", &tmpfs_opts())).expect("options");
    let rows = s.disk_usage();
    assert_eq!(rows.len(), 1, "volumes with options are not counted");
    assert_eq!((rows[0].size, rows[0].ref_count), (300, 2));
}

#[test]
fn device_volumes_mount_once_for_many_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, mounter, events) = service(dir.path());
    let v = s.create(with_opts("tmp", &tmpfs_opts())).expect("create");
    let at = |c| MountRef {
        container: c,
        destination: "/data",
        read_write: true,
        propagation: "",
    };
    assert_eq!(s.mount("tmp", &at("c1")).expect("mount"), v.mountpoint);
    s.mount("tmp", &at("c2")).expect("mount");
    assert_eq!(mounter.calls.lock().expect("lock").len(), 1, "mounted once");
    let call = mounter.calls.lock().expect("lock")[0].clone();
    assert_eq!(
        (
            call.source.as_str(),
            call.fstype.as_str(),
            call.data.as_str()
        ),
        ("tmpfs", "tmpfs", "size=1m")
    );
    assert_eq!(
        s.remove("tmp", false).expect_err("active").to_string(),
        "remove tmp: volume has active mounts"
    );
    s.unmount("tmp", "c1").expect("unmount");
    assert!(
        mounter.unmounts.lock().expect("lock").is_empty(),
        "c2 still uses it"
    );
    s.unmount("tmp", "c2").expect("unmount");
    assert_eq!(
        *mounter.unmounts.lock().expect("lock"),
        std::slice::from_ref(&v.mountpoint)
    );
    s.remove("tmp", false).expect("remove");

    let mount_event = history(&events)
        .into_iter()
        .find(|e| e.action == "mount")
        .expect("mount event");
    let attrs: Vec<_> = mount_event
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        attrs,
        [
            "container=c1",
            "destination=/data",
            "driver=local",
            "propagation=",
            "read/write=true"
        ]
    );
    assert_eq!(
        actions(&events),
        [
            "create tmp",
            "mount tmp",
            "mount tmp",
            "unmount tmp",
            "unmount tmp",
            "destroy tmp"
        ]
    );
}

#[test]
fn plain_volumes_need_no_mount_and_failures_read_like_dockerd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, mounter, _) = service(dir.path());
    let at = MountRef {
        container: "c1",
        destination: "/d",
        read_write: false,
        propagation: "rprivate",
    };
    let plain = s.create(named("plain")).expect("create");
    assert_eq!(s.mount("plain", &at).expect("mount"), plain.mountpoint);
    assert!(mounter.calls.lock().expect("lock").is_empty());

    s.create(with_opts(
        "bindy",
        &[("type", "none"), ("device", "/nope"), ("o", "bind")],
    ))
    .expect("create");
    *mounter.fail_with.lock().expect("lock") = Some(nix::errno::Errno::ENOENT);
    let err = s.mount("bindy", &at).expect_err("mount fails");
    let data = dir.path().join("volumes/bindy/_data");
    assert_eq!(
        err.to_string(),
        format!(
            "failed to mount local volume: mount /nope:{}, flags: 0x1000: no such file or directory",
            data.display()
        )
    );
    assert_eq!(
        s.mount("nope", &at).expect_err("missing").to_string(),
        "get nope: no such volume"
    );
}

#[test]
fn populate_copies_the_image_directory_into_a_fresh_volume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (s, mounter, events) = service(dir.path());
    let image = dir.path().join("rootfs/var/lib/db");
    fs::create_dir_all(&image).expect("mkdir");
    fs::write(image.join("seed"), b"rows").expect("write");
    let v = s.create(anonymous()).expect("create");
    assert!(s.populate(&v.name, &image).expect("copy-up"));
    assert_eq!(fs::read(v.mountpoint.join("seed")).expect("read"), b"rows");
    assert!(
        !s.populate(&v.name, &image).expect("second"),
        "not empty any more"
    );

    s.create(with_opts("tmp", &tmpfs_opts())).expect("create");
    assert!(s.populate("tmp", &image).expect("copy-up through a mount"));
    assert_eq!(mounter.calls.lock().expect("lock").len(), 1);
    assert_eq!(mounter.unmounts.lock().expect("lock").len(), 1);
    assert!(
        !actions(&events).iter().any(|a| a.starts_with("mount")),
        "copy-up mounts publish nothing"
    );
}

#[test]
fn reopen_reloads_records_and_sweeps_interrupted_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let volumes = dir.path().join("volumes");
    {
        let (s, _, _) = service(dir.path());
        let mut req = with_opts("tmp", &tmpfs_opts());
        req.labels.insert("k".into(), "v".into());
        s.create(req).expect("create");
        let v = s.create(named("kept")).expect("create");
        fs::write(v.mountpoint.join("data"), b"survives").expect("write");
    }
    // A create killed before its rename, a remove killed after its rename.
    let torn = volumes.join(".tmp-half-0123456789abcdef");
    fs::create_dir_all(torn.join("_data")).expect("torn create");
    let removed = volumes.join(".tmp-gone-fedcba9876543210");
    fs::create_dir_all(removed.join("_data")).expect("torn remove");
    fs::write(removed.join("_data/file"), b"x").expect("write");
    // A volume dockerd made: `_data` only.
    fs::create_dir_all(volumes.join("fromdocker/_data")).expect("dockerd volume");
    // Not a volume.
    fs::create_dir_all(volumes.join("stray")).expect("stray");

    let mounter = Arc::new(FakeMounter::default());
    // The torn remove's `_data` is still mounted: it must be unmounted,
    // never deleted through.
    mounter
        .table
        .lock()
        .expect("lock")
        .insert(removed.join("_data"));
    // The tmpfs volume's device is still mounted from before.
    mounter
        .table
        .lock()
        .expect("lock")
        .insert(volumes.join("tmp/_data"));
    let s = VolumeService::open_with(dir.path(), Events::new(), mounter.clone()).expect("open");
    assert!(!torn.exists() && !removed.exists(), "leftovers swept");
    assert_eq!(
        *mounter.unmounts.lock().expect("lock"),
        [removed.join("_data")]
    );
    let names: Vec<_> = s
        .list(&ListFilter::default())
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["fromdocker", "kept", "tmp"]);
    let tmp = s.inspect("tmp").expect("tmp");
    assert_eq!(tmp.labels.get("k").map(String::as_str), Some("v"));
    assert_eq!(tmp.options.get("type").map(String::as_str), Some("tmpfs"));
    assert_eq!(
        fs::read(volumes.join("kept/_data/data")).expect("read"),
        b"survives"
    );
    // The still-mounted device is known as mounted: the next user does not
    // mount it again, and the last one unmounts it.
    let at = MountRef {
        container: "c",
        destination: "/d",
        read_write: true,
        propagation: "",
    };
    s.mount("tmp", &at).expect("mount");
    assert!(mounter.calls.lock().expect("lock").is_empty());
    s.unmount("tmp", "c").expect("unmount");
    assert!(
        !mounter
            .table
            .lock()
            .expect("lock")
            .contains(&volumes.join("tmp/_data"))
    );
}

/// Mounts a real tmpfs volume, in a thread that entered a private mount
/// namespace (so nothing leaks to the host), then cleans up.
#[test]
fn root_mounts_a_real_tmpfs_volume() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let outcome = std::thread::spawn(|| {
        use nix::sched::{CloneFlags, unshare};
        unshare(CloneFlags::CLONE_NEWNS).expect("unshare");
        crate::containers::archive::view::make_mounts_private().expect("make / private");
        let dir = tempfile::tempdir().expect("tempdir");
        let s = VolumeService::open_with(dir.path(), Events::new(), Arc::new(SysMounter))
            .expect("open");
        s.create(with_opts(
            "tmp",
            &[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m,mode=0750"),
            ],
        ))
        .expect("create");
        let at = MountRef {
            container: "c",
            destination: "/d",
            read_write: true,
            propagation: "",
        };
        let path = s.mount("tmp", &at).expect("mount");
        assert!(SysMounter.is_mounted(&path).expect("mountinfo"));
        let fs_type = nix::sys::statfs::statfs(&path)
            .expect("statfs")
            .filesystem_type();
        assert_eq!(fs_type, nix::sys::statfs::TMPFS_MAGIC);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).expect("stat").permissions().mode() & 0o7777,
            0o750
        );
        fs::write(path.join("small"), vec![0u8; 1000]).expect("fits");
        let big = fs::write(path.join("big"), vec![0u8; 2 << 20]);
        assert!(big.is_err(), "size=1m is enforced");
        s.unmount("tmp", "c").expect("unmount");
        assert!(!SysMounter.is_mounted(&path).expect("mountinfo"));
        assert!(!path.join("small").exists(), "tmpfs content went with it");
        s.remove("tmp", false).expect("remove");
        assert!(!dir.path().join("volumes/tmp").exists());
    })
    .join();
    assert!(outcome.is_ok(), "the namespaced test thread failed");
}

#[test]
fn labels_match_follows_dockerds_rules() {
    let labels: BTreeMap<String, String> = [
        ("a".to_owned(), "1".to_owned()),
        ("b".to_owned(), "2".to_owned()),
    ]
    .into();
    let f = |s: &str, n| LabelFilter::parse(s, n);
    assert!(list::labels_match(&[], &labels));
    assert!(list::labels_match(
        &[f("a", false), f("b=2", false)],
        &labels
    ));
    assert!(!list::labels_match(&[f("a=2", false)], &labels));
    assert!(!list::labels_match(&[f("a", true)], &labels));
    // Excluded only when every `label!` matches.
    assert!(list::labels_match(&[f("a", true), f("c", true)], &labels));
    assert!(!list::labels_match(&[f("a", true), f("b", true)], &labels));
}
