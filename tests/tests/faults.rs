//! kill -9 at every named crash point (issue 19 §4, "kill -9 anywhere").
//!
//! For each case below (every point of `skiff_failpoint::POINTS`, one of
//! them in two operations) skiffd is restarted with the point armed
//! (`SKIFF_FAILPOINTS`), the operation that reaches it runs, and skiffd
//! dies of SIGKILL there. Restarted on the same data root:
//! - `skiffd check` finds the stores consistent, with nothing left to sweep;
//! - everything acknowledged before the crash is still there (images,
//!   volumes, containers, a running container still running);
//! - no mount under the data root and no shim but a running container's;
//! - the interrupted operation happened entirely or not at all, and it can
//!   be done again.
//!
//! One daemon and one registry serve every case.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use skiff_e2e::util::wait_until;
use skiff_e2e::{CmdOutput, Skiffd, SkiffdOpts};

/// A container that exits 42 on SIGTERM, at once (`wait` is interrupted).
const TRAPS_TERM: &[&str] = &["sh", "-c", "trap 'exit 42' TERM; sleep 600 & wait"];

/// What the test expects to exist because the daemon said it was done.
#[derive(Debug, Default)]
struct Acked {
    images: BTreeSet<String>,
    volumes: BTreeSet<String>,
    /// Container name → whether it runs.
    containers: std::collections::BTreeMap<String, bool>,
}

struct Ctx {
    d: Skiffd,
    /// `docker save whiteout`.
    archive: PathBuf,
    /// Build contexts live here.
    scratch: tempfile::TempDir,
    /// `<registry>/faults/busybox`.
    push_repo: String,
    acked: Acked,
}

impl Ctx {
    fn ok(&self, args: &[&str]) -> String {
        self.d.docker_ok(args)
    }

    fn run(&self, args: &[&str]) -> CmdOutput {
        self.d.docker_run(args)
    }

    fn images(&self) -> BTreeSet<String> {
        self.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn has_image(&self, name: &str) -> bool {
        self.images().contains(name)
    }

    fn volumes(&self) -> BTreeSet<String> {
        self.ok(&["volume", "ls", "-q"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Container name → its state (`created`, `running`, `exited`, …).
    fn containers(&self) -> std::collections::BTreeMap<String, String> {
        self.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"])
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, s)| (n.to_owned(), s.to_owned()))
            .collect()
    }

    fn exit_code(&self, name: &str) -> String {
        self.ok(&["inspect", "-f", "{{.State.ExitCode}}", name])
            .trim()
            .to_owned()
    }

    /// `docker build -t tag` of a `RUN` step unique to `tag` (no cache hit).
    fn build(&self, tag: &str) -> CmdOutput {
        let dir = self.scratch.path().join(tag.replace(':', "-"));
        std::fs::create_dir_all(&dir).expect("context dir");
        std::fs::write(
            dir.join("Dockerfile"),
            format!("FROM busybox\nRUN echo {tag} > /built\n"),
        )
        .expect("Dockerfile");
        self.d
            .docker()
            .clone()
            .with_env("DOCKER_BUILDKIT", "0")
            .run(&["build", "-t", tag, dir.to_str().expect("utf-8 path")])
    }
}

/// One crash: `before` runs on an unarmed daemon, `op` with `point` armed
/// (skiffd dies in it), `after` once skiffd is back and the common checks
/// passed: it checks what the interrupted operation left, redoes it, and
/// updates [`Acked`].
struct Case {
    point: &'static str,
    before: fn(&mut Ctx),
    op: fn(&Ctx) -> CmdOutput,
    after: fn(&mut Ctx),
}

fn nothing(_: &mut Ctx) {}

fn pull_whiteout(c: &Ctx) -> CmdOutput {
    c.run(&["pull", "whiteout"])
}

/// The pull left nothing listed; it completes when redone.
fn pull_again(c: &mut Ctx) {
    assert!(!c.has_image("whiteout:latest"), "{:?}", c.images());
    pull_redone(c);
}

fn pull_redone(c: &mut Ctx) {
    let out = c.ok(&["pull", "whiteout"]);
    assert!(out.contains("Status: "), "{out}");
    let layers = c.ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "whiteout",
    ]);
    assert_eq!(layers.trim(), "3");
    // The next case pulls it again.
    c.ok(&["rmi", "whiteout"]);
}

fn load_whiteout(c: &Ctx) -> CmdOutput {
    c.run(&["load", "-i", c.archive.to_str().expect("utf-8 path")])
}

/// The load named nothing; it completes when redone, leaving no dangling
/// image behind.
fn load_again(c: &mut Ctx) {
    assert!(!c.has_image("whiteout:latest"), "{:?}", c.images());
    let out = c.ok(&["load", "-i", c.archive.to_str().expect("utf-8 path")]);
    assert!(out.contains("Loaded image: whiteout:latest"), "{out}");
    c.ok(&["rmi", "whiteout"]);
    let dangling = c.ok(&["images", "-q", "-f", "dangling=true"]);
    assert_eq!(dangling.trim(), "", "a dangling image is left");
}

fn create_c_create(c: &Ctx) -> CmdOutput {
    c.run(&[
        "create", "--name", "c-create", "-v", "/data", "busybox", "true",
    ])
}

/// Not created: the name is free. The anonymous volume made for it before
/// its record is left unused (as dockerd, which also creates volumes
/// before the record, leaves it): `docker volume prune` takes it.
fn create_c_create_again(c: &mut Ctx) {
    assert!(!c.containers().contains_key("c-create"));
    let left: Vec<String> = c.volumes().difference(&c.acked.volumes).cloned().collect();
    assert!(left.len() <= 1, "{left:?}");
    c.ok(&["volume", "prune", "-f"]);
    assert_eq!(c.volumes(), c.acked.volumes, "volumes after a prune");
    c.ok(&[
        "create", "--name", "c-create", "-v", "/data", "busybox", "true",
    ]);
    c.acked.containers.insert("c-create".into(), false);
}

fn create_c_rec(c: &Ctx) -> CmdOutput {
    c.run(&["create", "--name", "c-rec", "busybox", "true"])
}

fn create_c_rec_again(c: &mut Ctx) {
    assert!(!c.containers().contains_key("c-rec"));
    c.ok(&["create", "--name", "c-rec", "busybox", "true"]);
    c.acked.containers.insert("c-rec".into(), false);
}

fn create_c_after(c: &Ctx) -> CmdOutput {
    c.run(&["create", "--name", "c-after", "busybox", "true"])
}

/// Recorded before the crash, so it exists, complete: it starts and runs.
fn c_after_exists(c: &mut Ctx) {
    assert_eq!(
        c.containers().get("c-after").map(String::as_str),
        Some("created")
    );
    c.ok(&["start", "-a", "c-after"]);
    assert_eq!(c.exit_code("c-after"), "0");
    c.acked.containers.insert("c-after".into(), false);
}

fn create_trapping(name: &str) -> impl Fn(&mut Ctx) {
    let name = name.to_owned();
    move |c: &mut Ctx| {
        let mut args = vec!["create", "--name", &name, "busybox"];
        args.extend_from_slice(TRAPS_TERM);
        c.ok(&args);
    }
}

fn start_s_mount(c: &Ctx) -> CmdOutput {
    c.run(&["start", "s-mount"])
}
fn start_s_spawn(c: &Ctx) -> CmdOutput {
    c.run(&["start", "s-spawn"])
}
fn start_s_record(c: &Ctx) -> CmdOutput {
    c.run(&["start", "s-record"])
}

/// A start that was not acknowledged left the container not running (and,
/// by the common checks, no mount or shim); it starts when asked again.
fn start_again(c: &mut Ctx, name: &str) {
    let state = c.containers().get(name).cloned();
    assert!(
        matches!(state.as_deref(), Some("created" | "exited")),
        "{name}: {state:?}"
    );
    c.ok(&["start", name]);
    assert_eq!(
        c.containers().get(name).map(String::as_str),
        Some("running")
    );
    c.acked.containers.insert(name.to_owned(), true);
}

/// A container being stopped may be found running or exited after the
/// crash (the `after` check says which), but it must be found.
fn stopping(c: &mut Ctx, name: &str) {
    c.acked.containers.remove(name);
    assert!(c.containers().contains_key(name));
}

fn stop_s_mount(c: &Ctx) -> CmdOutput {
    c.run(&["stop", "s-mount"])
}
fn stop_s_spawn(c: &Ctx) -> CmdOutput {
    c.run(&["stop", "s-spawn"])
}
fn stop_s_record(c: &Ctx) -> CmdOutput {
    c.run(&["stop", "s-record"])
}

/// The container got its stop signal before the crash: it is reported
/// exited with its true exit code; a stop again is a no-op.
fn stopped_with_42(c: &mut Ctx, name: &str) {
    assert!(c.containers().contains_key(name), "{name} lost");
    wait_until(
        &format!("{name} to be exited"),
        Duration::from_secs(20),
        || c.containers().get(name).map(String::as_str) == Some("exited"),
    );
    assert_eq!(c.exit_code(name), "42", "{name}'s exit code");
    c.ok(&["stop", name]);
    c.acked.containers.insert(name.to_owned(), false);
}

/// The stop's first record write did not happen: the container may still
/// run; a stop again stops it with its true exit code.
fn stop_again(c: &mut Ctx, name: &str) {
    assert!(c.containers().contains_key(name), "{name} lost");
    c.ok(&["stop", name]);
    assert_eq!(c.exit_code(name), "42", "{name}'s exit code");
    c.acked.containers.insert(name.to_owned(), false);
}

/// A container being removed is there or not after the crash (the
/// `after` check says which).
fn removing(c: &mut Ctx, name: &str) {
    c.acked.containers.remove(name);
}

fn rm_c_rec(c: &Ctx) -> CmdOutput {
    c.run(&["rm", "c-rec"])
}

/// Not removed yet: still listed, and removable.
fn rm_again(c: &mut Ctx) {
    assert!(c.containers().contains_key("c-rec"), "{:?}", c.containers());
    c.ok(&["rm", "c-rec"]);
}

fn rm_c_create(c: &Ctx) -> CmdOutput {
    c.run(&["rm", "c-create"])
}

/// Removed (the rename is the removal): the name is free again.
fn rm_done(c: &mut Ctx) {
    assert!(!c.containers().contains_key("c-create"));
    let (code, err) = c.d.docker_fail(&["rm", "c-create"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: c-create"), "{err}");
    c.ok(&["create", "--name", "c-create", "busybox", "true"]);
    c.ok(&["rm", "c-create"]);
    // Its anonymous volume outlives it (no `rm -v`), as with dockerd.
    c.ok(&["volume", "prune", "-f"]);
}

fn volume_create(c: &Ctx) -> CmdOutput {
    c.run(&["volume", "create", "v-new"])
}

fn volume_create_again(c: &mut Ctx) {
    assert!(!c.volumes().contains("v-new"));
    c.ok(&["volume", "create", "v-new"]);
    c.acked.volumes.insert("v-new".into());
}

fn volume_rm(c: &Ctx) -> CmdOutput {
    c.run(&["volume", "rm", "v-new"])
}

/// Removed (the rename is the removal).
fn volume_rm_done(c: &mut Ctx) {
    assert!(!c.volumes().contains("v-new"));
    let (code, err) = c.d.docker_fail(&["volume", "rm", "v-new"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such volume"), "{err}");
}

fn build_1(c: &Ctx) -> CmdOutput {
    c.build("built:1")
}
fn build_2(c: &Ctx) -> CmdOutput {
    c.build("built:2")
}
fn build_3(c: &Ctx) -> CmdOutput {
    c.build("built:3")
}

/// No image was named and no build container is left; the build completes
/// when redone, and its image holds the step's file.
fn build_again(c: &mut Ctx, tag: &str) {
    assert!(!c.has_image(tag), "{:?}", c.images());
    let names: BTreeSet<String> = c.containers().into_keys().collect();
    let acked: BTreeSet<String> = c.acked.containers.keys().cloned().collect();
    assert_eq!(names, acked, "containers after the crash of a build");
    let out = c.build(tag);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Successfully tagged"), "{}", out.stdout);
    let built = c.ok(&["run", "--rm", tag, "cat", "/built"]);
    assert_eq!(built.trim(), tag);
    c.acked.images.insert(tag.to_owned());
}

fn push_1(c: &Ctx) -> CmdOutput {
    c.run(&["push", &format!("{}:1", c.push_repo)])
}
fn push_2(c: &Ctx) -> CmdOutput {
    c.run(&["push", &format!("{}:2", c.push_repo)])
}

fn push_again(c: &mut Ctx, tag: &str) {
    let out = c.ok(&["push", &format!("{}:{tag}", c.push_repo)]);
    assert!(out.contains(&format!("{tag}: digest: sha256:")), "{out}");
}

fn cases() -> Vec<Case> {
    use skiff_failpoint as fp;
    let pull = |point| Case {
        point,
        before: nothing,
        op: pull_whiteout,
        after: pull_again,
    };
    let load = |point| Case {
        point,
        before: nothing,
        op: load_whiteout,
        after: load_again,
    };
    vec![
        pull(fp::CONTENT_BEFORE_RENAME),
        pull(fp::CONTENT_AFTER_RENAME),
        pull(fp::UNPACK_MID),
        pull(fp::SNAPSHOT_BEFORE_RENAME),
        pull(fp::PULL_BEFORE_RECORD),
        Case {
            point: fp::PULL_AFTER_RECORD,
            before: nothing,
            op: pull_whiteout,
            // Recorded before the crash: listed, complete.
            after: |c| {
                assert!(c.has_image("whiteout:latest"), "{:?}", c.images());
                pull_redone(c);
            },
        },
        load(fp::LOAD_BEFORE_RECORD),
        load(fp::LOAD_BEFORE_TAG),
        Case {
            point: fp::CREATE_BEFORE_RECORD,
            before: nothing,
            op: create_c_create,
            after: create_c_create_again,
        },
        Case {
            point: fp::CONTAINER_RECORD_BEFORE_RENAME,
            before: nothing,
            op: create_c_rec,
            after: create_c_rec_again,
        },
        Case {
            point: fp::CREATE_AFTER_RECORD,
            before: nothing,
            op: create_c_after,
            after: c_after_exists,
        },
        Case {
            point: fp::START_AFTER_MOUNT,
            before: |c| create_trapping("s-mount")(c),
            op: start_s_mount,
            after: |c| start_again(c, "s-mount"),
        },
        Case {
            point: fp::START_AFTER_SPAWN,
            before: |c| create_trapping("s-spawn")(c),
            op: start_s_spawn,
            after: |c| start_again(c, "s-spawn"),
        },
        Case {
            point: fp::START_BEFORE_RECORD,
            before: |c| create_trapping("s-record")(c),
            op: start_s_record,
            after: |c| start_again(c, "s-record"),
        },
        Case {
            point: fp::STOP_AFTER_SIGNAL,
            before: |c| stopping(c, "s-mount"),
            op: stop_s_mount,
            after: |c| stopped_with_42(c, "s-mount"),
        },
        Case {
            point: fp::EXIT_BEFORE_RECORD,
            before: |c| stopping(c, "s-spawn"),
            op: stop_s_spawn,
            after: |c| stopped_with_42(c, "s-spawn"),
        },
        // The stop's first write (`stopped_by_user`), before any signal.
        Case {
            point: fp::CONTAINER_RECORD_BEFORE_RENAME,
            before: |c| stopping(c, "s-record"),
            op: stop_s_record,
            after: |c| stop_again(c, "s-record"),
        },
        Case {
            point: fp::RM_AFTER_UNMOUNT,
            before: |c| removing(c, "c-rec"),
            op: rm_c_rec,
            after: rm_again,
        },
        Case {
            point: fp::RM_AFTER_RENAME,
            before: |c| removing(c, "c-create"),
            op: rm_c_create,
            after: rm_done,
        },
        Case {
            point: fp::VOLUME_CREATE_BEFORE_RENAME,
            before: nothing,
            op: volume_create,
            after: volume_create_again,
        },
        Case {
            point: fp::VOLUME_RM_AFTER_RENAME,
            before: |c| {
                c.acked.volumes.remove("v-new");
            },
            op: volume_rm,
            after: volume_rm_done,
        },
        Case {
            point: fp::BUILD_RUN_EXITED,
            before: nothing,
            op: build_1,
            after: |c| build_again(c, "built:1"),
        },
        Case {
            point: fp::BUILD_BEFORE_CACHE,
            before: nothing,
            op: build_2,
            after: |c| build_again(c, "built:2"),
        },
        Case {
            point: fp::BUILD_BEFORE_TAG,
            before: nothing,
            op: build_3,
            after: |c| build_again(c, "built:3"),
        },
        Case {
            point: fp::PUSH_AFTER_LAYERS,
            before: |c| {
                let target = format!("{}:1", c.push_repo);
                c.ok(&["tag", "busybox", &target]);
            },
            op: push_1,
            after: |c| push_again(c, "1"),
        },
        Case {
            point: fp::PUSH_AFTER_MANIFEST,
            before: |c| {
                let target = format!("{}:2", c.push_repo);
                c.ok(&["tag", "busybox", &target]);
            },
            op: push_2,
            after: |c| push_again(c, "2"),
        },
    ]
}

/// Processes named `skiff-shim` whose command line mentions `root`.
fn shims_under(root: &Path) -> usize {
    let needle = root.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "skiff-shim")
                && std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .count()
}

/// What every restart must show (see the module docs).
fn common_checks(c: &Ctx, point: &str) {
    // Removed directories are deleted in the background after a start.
    wait_until(
        "the start's sweep to finish",
        Duration::from_secs(30),
        || {
            !c.d.check_report()
                .1
                .lines()
                .any(|l| l.starts_with("note: "))
        },
    );
    c.d.assert_consistent_and_swept();

    let images = c.images();
    for image in &c.acked.images {
        assert!(
            images.contains(image),
            "{point}: image {image} lost: {images:?}"
        );
    }
    let volumes = c.volumes();
    for volume in &c.acked.volumes {
        assert!(volumes.contains(volume), "{point}: volume {volume} lost");
    }
    let containers = c.containers();
    for (name, running) in &c.acked.containers {
        let state = containers.get(name);
        assert!(state.is_some(), "{point}: container {name} lost");
        assert_eq!(
            state.map(String::as_str) == Some("running"),
            *running,
            "{point}: container {name} is {state:?}"
        );
    }

    let running: Vec<String> = c
        .ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .map(str::to_owned)
        .collect();
    for mount in skiff_e2e::util::mounts_under(c.d.data_root()) {
        assert!(
            running.iter().any(|id| mount.contains(id.as_str())),
            "{point}: a mount no running container owns: {mount}"
        );
    }
    assert_eq!(
        shims_under(c.d.data_root()),
        running.len(),
        "{point}: shims vs running containers"
    );
}

#[test]
fn kill9_at_every_crash_point_loses_nothing() {
    let started = Instant::now();
    let d = Skiffd::start(SkiffdOpts::default());
    let registry = d.registry().expect("the daemon's registry").host();
    let scratch = tempfile::tempdir().expect("scratch");
    let archive = scratch.path().join("whiteout.tar");
    let mut c = Ctx {
        d,
        archive,
        scratch,
        push_repo: format!("{registry}/faults/busybox"),
        acked: Acked::default(),
    };
    // Acknowledged before any crash.
    c.ok(&["pull", "-q", "busybox"]);
    c.ok(&["pull", "-q", "whiteout"]);
    c.ok(&[
        "save",
        "-o",
        c.archive.to_str().expect("utf-8 path"),
        "whiteout",
    ]);
    c.ok(&["rmi", "whiteout"]);
    c.ok(&["volume", "create", "kept"]);
    c.ok(&[
        "create",
        "--name",
        "kept",
        "-v",
        "kept:/data",
        "busybox",
        "true",
    ]);
    c.ok(&["run", "-d", "--name", "kept-run", "busybox", "sleep", "600"]);
    c.acked.images.insert("busybox:latest".into());
    c.acked.volumes.insert("kept".into());
    c.acked.containers.insert("kept".into(), false);
    c.acked.containers.insert("kept-run".into(), true);

    let cases = cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.point).collect();
    let declared: BTreeSet<&str> = skiff_failpoint::POINTS.iter().copied().collect();
    assert_eq!(covered, declared, "every crash point has a case");

    for case in &cases {
        let t = Instant::now();
        (case.before)(&mut c);
        c.d.set_env(skiff_failpoint::ENV, Some(case.point));
        c.d.restart();
        let out = (case.op)(&c);
        let status = c.d.wait_exit(Duration::from_secs(30));
        let marker = format!("skiff-failpoint: {}: SIGKILL", case.point);
        assert!(
            status.is_some_and(|s| s.signal() == Some(9)) && c.d.logs().contains(&marker),
            "{}: skiffd did not die there ({status:?}); the operation gave {}{}",
            case.point,
            out.stdout,
            out.stderr
        );
        assert_ne!(out.code, 0, "{}: the client was told it worked", case.point);
        c.d.set_env(skiff_failpoint::ENV, None);
        c.d.restart();
        common_checks(&c, case.point);
        (case.after)(&mut c);
        common_checks(&c, case.point);
        eprintln!("{}: ok in {:?}", case.point, t.elapsed());
    }
    eprintln!(
        "{} crash points in {} cases, checker clean after each, nothing lost; {:?} in all",
        declared.len(),
        cases.len(),
        started.elapsed()
    );
}
