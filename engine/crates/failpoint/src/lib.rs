//! Named crash points: where skiffd dies on demand, for the crash tests
//! (`tests/tests/faults.rs`, issue 19 §4 "kill -9 anywhere").
//!
//! Contract:
//! - [`point!`]`(NAME)` marks a place where a crash is most dangerous
//!   (a blob written but not renamed, a record written but its snapshot
//!   not, …). `NAME` is one of the constants below, so a misspelt point
//!   does not compile, and every point is listed in [`POINTS`].
//! - In builds without `debug_assertions` (release: the VM image, the
//!   benches) the macro expands to nothing: no code, no lookup, no cost.
//!   [`arm_from_env`] then refuses a set `SKIFF_FAILPOINTS` (an error the
//!   daemon reports) rather than ignoring it.
//! - In debug builds (what `cargo build` and CI's one workspace build
//!   make, and what the e2e tests run) a point costs one read-locked map
//!   lookup of the `fail` crate; it does nothing unless armed.
//! - [`arm_from_env`] (called once by skiffd at start) arms the points
//!   named in `SKIFF_FAILPOINTS`: comma-separated `name` or `name@N`. The
//!   `N`th time (default: the first) an armed point is reached, the process
//!   writes `skiff-failpoint: <name>: SIGKILL` to stderr and sends itself
//!   SIGKILL: no unwinding, no destructor, no buffered write flushed — what
//!   `kill -9` does, at exactly that place.
//!
//! Why debug builds rather than a cargo feature: CI builds the workspace
//! once, in debug; a `failpoints` feature turned on by the test crate
//! would be unified into that build but not into `cargo build -p skiffd`,
//! so the binary the tests run would depend on how it was built, or CI
//! would need a second skiffd build.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

#[doc(hidden)]
pub use fail as __fail;

/// Marks a crash point (see the crate docs); expands to nothing in release
/// builds.
///
/// ```
/// skiff_failpoint::point!(skiff_failpoint::PULL_BEFORE_RECORD);
/// ```
#[macro_export]
macro_rules! point {
    ($name:path) => {{
        #[cfg(debug_assertions)]
        {
            $crate::__fail::fail_point!($name);
        }
    }};
}

/// A blob is written and fsynced in `content/ingest/`, not yet renamed
/// into `content/blobs/`.
pub const CONTENT_BEFORE_RENAME: &str = "content.before-rename";
/// A blob is published under its digest; nothing records it yet.
pub const CONTENT_AFTER_RENAME: &str = "content.after-rename";
/// A layer is half unpacked into its temporary snapshot directory (after
/// an entry).
pub const UNPACK_MID: &str = "unpack.mid";
/// A snapshot is unpacked with its `layer.json`, not yet renamed to its
/// diff id.
pub const SNAPSHOT_BEFORE_RENAME: &str = "snapshot.before-rename";
/// Every layer, the config and the manifest of a pull are stored; the image
/// is not recorded.
pub const PULL_BEFORE_RECORD: &str = "pull.before-record";
/// A pulled image is recorded; the client has not been told.
pub const PULL_AFTER_RECORD: &str = "pull.after-record";
/// `docker load`: an image's layers and config are stored, the image is not
/// recorded.
pub const LOAD_BEFORE_RECORD: &str = "load.before-record";
/// `docker load`: the image is recorded, its names are not.
pub const LOAD_BEFORE_TAG: &str = "load.before-tag";
/// `docker create`: network attachments and volumes are reserved, the
/// record is not written.
pub const CREATE_BEFORE_RECORD: &str = "create.before-record";
/// A container record is written (and fsynced) to its temporary file, not
/// renamed over `container.json` (create, start, stop, …).
pub const CONTAINER_RECORD_BEFORE_RENAME: &str = "container-record.before-rename";
/// `docker create`: the record is written; the client has not been told.
pub const CREATE_AFTER_RECORD: &str = "create.after-record";
/// `docker start`: the root filesystem is mounted; no bundle, no shim.
pub const START_AFTER_MOUNT: &str = "start.after-mount";
/// `docker start`: the shim runs with the start deferred; the process has
/// not started.
pub const START_AFTER_SPAWN: &str = "start.after-spawn";
/// `docker start`: the process runs; the record still says `created`.
pub const START_BEFORE_RECORD: &str = "start.before-record";
/// `docker stop`: the stop signal is sent; the exit is not recorded.
pub const STOP_AFTER_SIGNAL: &str = "stop.after-signal";
/// A container's exit is seen (shim deleted, rootfs unmounted); the exit
/// is not recorded.
pub const EXIT_BEFORE_RECORD: &str = "exit.before-record";
/// `docker rm`: shim, cgroups and mount are gone; the record is not.
pub const RM_AFTER_UNMOUNT: &str = "rm.after-unmount";
/// `docker rm`: the directory is renamed away; the network entry and the
/// volume references are not dropped, nothing deleted.
pub const RM_AFTER_RENAME: &str = "rm.after-rename";
/// `docker volume create`: the volume's directory, `_data` and record are
/// complete under a temporary name.
pub const VOLUME_CREATE_BEFORE_RENAME: &str = "volume-create.before-rename";
/// `docker volume rm`: the volume's directory is renamed away, its files
/// not deleted.
pub const VOLUME_RM_AFTER_RENAME: &str = "volume-rm.after-rename";
/// `docker build`: a `RUN` step's container has exited; its changes are
/// not yet a layer, the container not removed.
pub const BUILD_RUN_EXITED: &str = "build.run-exited";
/// `docker build`: a step's image is recorded, not yet in the build cache.
pub const BUILD_BEFORE_CACHE: &str = "build.before-cache";
/// `docker build`: the image is built, not yet tagged.
pub const BUILD_BEFORE_TAG: &str = "build.before-tag";
/// `docker push`: every layer and the config are uploaded; no manifest.
pub const PUSH_AFTER_LAYERS: &str = "push.after-layers";
/// `docker push`: the manifest is on the registry; the pushed digest is not
/// recorded locally.
pub const PUSH_AFTER_MANIFEST: &str = "push.after-manifest";

/// Every crash point, in the order of the operations they belong to.
pub const POINTS: &[&str] = &[
    CONTENT_BEFORE_RENAME,
    CONTENT_AFTER_RENAME,
    UNPACK_MID,
    SNAPSHOT_BEFORE_RENAME,
    PULL_BEFORE_RECORD,
    PULL_AFTER_RECORD,
    LOAD_BEFORE_RECORD,
    LOAD_BEFORE_TAG,
    CREATE_BEFORE_RECORD,
    CONTAINER_RECORD_BEFORE_RENAME,
    CREATE_AFTER_RECORD,
    START_AFTER_MOUNT,
    START_AFTER_SPAWN,
    START_BEFORE_RECORD,
    STOP_AFTER_SIGNAL,
    EXIT_BEFORE_RECORD,
    RM_AFTER_UNMOUNT,
    RM_AFTER_RENAME,
    VOLUME_CREATE_BEFORE_RENAME,
    VOLUME_RM_AFTER_RENAME,
    BUILD_RUN_EXITED,
    BUILD_BEFORE_CACHE,
    BUILD_BEFORE_TAG,
    PUSH_AFTER_LAYERS,
    PUSH_AFTER_MANIFEST,
];

/// The environment variable [`arm_from_env`] reads.
pub const ENV: &str = "SKIFF_FAILPOINTS";

/// Why `SKIFF_FAILPOINTS` could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArmError {
    /// A name that is not in [`POINTS`].
    #[error("{ENV}: unknown crash point {0:?}")]
    Unknown(String),
    /// A `name@N` whose `N` is not a positive number.
    #[error("{ENV}: {0:?}: the hit count after '@' must be a number from 1")]
    BadCount(String),
    /// A release build: the points are compiled out.
    #[error("{ENV} is set, but this is a release build: its crash points are compiled out")]
    Release,
    /// The `fail` crate refused the configuration.
    #[error("{ENV}: {0}")]
    Fail(String),
}

/// One armed point: its name and the hit that kills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armed {
    /// The point's name.
    pub name: &'static str,
    /// The hit (from 1) at which the process dies.
    pub hit: usize,
}

/// Parses a `SKIFF_FAILPOINTS` value (see the crate docs).
pub fn parse(spec: &str) -> Result<Vec<Armed>, ArmError> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, hit) = match item.split_once('@') {
            Some((name, n)) => match n.parse::<usize>() {
                Ok(n) if n >= 1 => (name, n),
                _ => return Err(ArmError::BadCount(item.to_owned())),
            },
            None => (item, 1),
        };
        let name = POINTS
            .iter()
            .find(|p| **p == name)
            .ok_or_else(|| ArmError::Unknown(name.to_owned()))?;
        out.push(Armed { name, hit });
    }
    Ok(out)
}

/// Arms the points `SKIFF_FAILPOINTS` names (see the crate docs); returns
/// them (none when it is unset or empty).
pub fn arm_from_env() -> Result<Vec<Armed>, ArmError> {
    let spec = std::env::var(ENV).unwrap_or_default();
    let armed = parse(&spec)?;
    if armed.is_empty() {
        return Ok(armed);
    }
    if !cfg!(debug_assertions) {
        return Err(ArmError::Release);
    }
    for a in &armed {
        arm(a)?;
    }
    Ok(armed)
}

/// Arms one point: the `a.hit`th time it is reached, the process dies.
fn arm(a: &Armed) -> Result<(), ArmError> {
    let (name, hit) = (a.name, a.hit);
    let hits = AtomicUsize::new(0);
    fail::cfg_callback(name, move || {
        if hits.fetch_add(1, Ordering::SeqCst) + 1 == hit {
            die(name);
        }
    })
    .map_err(ArmError::Fail)
}

/// Kills this process with SIGKILL, saying where.
fn die(name: &str) -> ! {
    // Not `eprintln!`, which panics when stderr is a full disk.
    let _ = writeln!(std::io::stderr(), "skiff-failpoint: {name}: SIGKILL");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    // SIGKILL cannot be caught; should the kill fail, do not go on as if the
    // point had not been reached.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_counts_parse_and_unknown_names_are_refused() {
        assert_eq!(parse("").expect("empty"), vec![]);
        assert_eq!(
            parse("pull.before-record, unpack.mid@3").expect("two"),
            vec![
                Armed {
                    name: PULL_BEFORE_RECORD,
                    hit: 1
                },
                Armed {
                    name: UNPACK_MID,
                    hit: 3
                },
            ]
        );
        assert_eq!(
            parse("pull.before-recrod"),
            Err(ArmError::Unknown("pull.before-recrod".into()))
        );
        assert_eq!(
            parse("unpack.mid@0"),
            Err(ArmError::BadCount("unpack.mid@0".into()))
        );
        assert_eq!(
            parse("unpack.mid@x"),
            Err(ArmError::BadCount("unpack.mid@x".into()))
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names = POINTS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), POINTS.len());
    }

    #[test]
    fn an_unarmed_point_does_nothing() {
        point!(BUILD_BEFORE_TAG);
    }

    /// A child process of this test binary reaches an armed point: it dies
    /// of SIGKILL, having said where.
    #[test]
    #[cfg(debug_assertions)]
    fn an_armed_point_kills_with_sigkill() {
        use std::os::unix::process::ExitStatusExt;
        if std::env::var_os("SKIFF_FAILPOINT_CHILD").is_some() {
            arm_from_env().expect("arm");
            point!(BUILD_BEFORE_TAG);
            eprintln!("first hit passed");
            point!(BUILD_BEFORE_TAG);
            unreachable!("the second hit kills");
        }
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "tests::an_armed_point_kills_with_sigkill",
                "--nocapture",
            ])
            .env("SKIFF_FAILPOINT_CHILD", "1")
            .env(ENV, format!("{BUILD_BEFORE_TAG}@2"))
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(9), "{stderr}");
        assert!(stderr.contains("first hit passed"), "{stderr}");
        assert!(
            stderr.contains("skiff-failpoint: build.before-tag: SIGKILL"),
            "{stderr}"
        );
    }

    /// A release build refuses to arm what it does not have.
    #[test]
    #[cfg(not(debug_assertions))]
    fn release_builds_refuse_to_arm() {
        if std::env::var_os("SKIFF_FAILPOINT_CHILD").is_some() {
            assert_eq!(arm_from_env(), Err(ArmError::Release));
            point!(BUILD_BEFORE_TAG);
            return;
        }
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args(["--exact", "tests::release_builds_refuse_to_arm"])
            .env("SKIFF_FAILPOINT_CHILD", "1")
            .env(ENV, BUILD_BEFORE_TAG)
            .output()
            .expect("run the child");
        assert!(out.status.success(), "{out:?}");
    }
}
