//! Differential test: the same request sequence ([`cases::all`]) sent to
//! skiffd and to a private Debian dockerd 20.10, the answers compared
//! ([`compare`]), and every difference either allowed by
//! `tests/tests/differential/allow.toml` (kept with a reason, dockerd
//! behind the swagger, or an open `TODO(issue 11)` finding) or a failure.
//!
//! One dockerd (in network and mount namespaces of its own, see
//! `skiff_e2e::dockerd`) and one skiffd serve every case. The report —
//! every difference and which entry allowed it — is printed and written to
//! `<target>/differential-report.txt`. Afterwards the test checks that
//! nothing is left: processes naming either engine's directory, mounts
//! under them, dockerd's cgroups, the directories themselves.

#[path = "differential/allow.rs"]
mod allow;
#[path = "differential/cases.rs"]
mod cases;
#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/http.rs"]
mod http;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use skiff_e2e::{Dockerd, Skiffd, SkiffdOpts, util};

use allow::{AllowList, Section};
use cases::Case;
use compare::{Difference, Kind, Normaliser};

/// The newest version dockerd 20.10 speaks.
const DOCKERD_MAX_API: &str = "1.41";

/// One engine under test.
struct Engine<'a> {
    name: &'static str,
    socket: &'a Path,
    norm: Normaliser,
    captures: HashMap<String, String>,
}

impl Engine<'_> {
    /// Sends `case` at `version` and records its capture.
    fn send(&mut self, case: &Case, version: &str, now: u64) -> http::Exchange {
        let mut path = case.path.replace("{now}", &now.to_string());
        for (key, value) in &self.captures {
            path = path.replace(&format!("{{{key}}}"), value);
        }
        let version = if self.name == "dockerd" && !version.is_empty() {
            min_version(version, DOCKERD_MAX_API)
        } else {
            version
        };
        let full = if version.is_empty() {
            path
        } else {
            format!("/v{version}{path}")
        };
        let headers: Vec<(String, String)> = case
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let ex = match http::send(
            self.socket,
            case.method,
            &http::encode_query(&full),
            &headers,
            &case.body,
            case.timeout,
        ) {
            Ok(ex) => ex,
            Err(err) => panic!(
                "{} {} {full} on {}: {err}",
                case.name, case.method, self.name
            ),
        };
        if let Some((key, pointer)) = case.capture {
            let value = serde_json::from_slice::<serde_json::Value>(&ex.body)
                .ok()
                .and_then(|v| {
                    v.pointer(pointer)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                });
            if let Some(value) = value {
                self.captures.insert(key.to_string(), value);
            }
        }
        ex
    }
}

/// The lower of two `1.NN` versions.
fn min_version<'a>(a: &'a str, b: &'a str) -> &'a str {
    let minor = |v: &str| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok());
    if minor(a) <= minor(b) { a } else { b }
}

fn allow_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/allow.toml")
}

/// Processes whose command line names `dir`, and mounts under it.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let needle = dir.to_string_lossy().into_owned();
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") {
        out.extend(
            mounts
                .lines()
                .filter(|l| l.contains(&needle))
                .map(|l| format!("mount {l}")),
        );
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            out.push(format!(
                "process {}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    if dir.exists() {
        out.push(format!("directory {}", dir.display()));
    }
    out
}

/// With `SKIFF_DIFF_DUMP=<dir>`, each engine's raw answer to each case is
/// written to `<dir>/<case>@<version>.<engine>` (to read what dockerd sends
/// when fixing a difference).
fn dump(case: &Case, version: &str, answers: [&http::Exchange; 2]) {
    let Some(dir) = std::env::var_os("SKIFF_DIFF_DUMP") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    for (engine, ex) in ["dockerd", "skiffd"].into_iter().zip(answers) {
        let mut out = format!("{}\n", ex.status).into_bytes();
        for (k, v) in &ex.headers {
            out.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&ex.body);
        let _ = std::fs::write(dir.join(format!("{}@{version}.{engine}", case.name)), out);
    }
}

#[test]
fn skiffd_answers_like_dockerd() {
    let started = Instant::now();
    skiff_e2e::seed();
    let netns_before = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let (skiffd, dockerd) = thread::scope(|s| {
        let dockerd = s.spawn(Dockerd::start);
        let skiffd = Skiffd::start(SkiffdOpts::default());
        match dockerd.join() {
            Ok(dockerd) => (skiffd, dockerd),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let dirs = [skiffd.dir().to_path_buf(), dockerd.dir().to_path_buf()];
    let cgroup_parent = dockerd.cgroup_parent().to_string();
    eprintln!("differential: engines up after {:?}", started.elapsed());

    let allow = AllowList::load(&allow_path());
    let mut engines = [
        Engine {
            name: "dockerd",
            socket: dockerd.socket(),
            norm: Normaliser {
                root: dockerd.dir().to_string_lossy().into_owned(),
            },
            captures: HashMap::new(),
        },
        Engine {
            name: "skiffd",
            socket: skiffd.socket(),
            norm: Normaliser {
                root: skiffd.dir().to_string_lossy().into_owned(),
            },
            captures: HashMap::new(),
        },
    ];
    let mut diffs: Vec<Difference> = Vec::new();
    let mut sent = 0usize;
    let mut covered: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for case in cases::all() {
        for version in case.versions {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let [d, s] = &mut engines;
            let dx = d.send(&case, version, now);
            let sx = s.send(&case, version, now);
            dump(&case, version, [&dx, &sx]);
            sent += 1;
            covered
                .entry(format!(
                    "{} {}",
                    case.method,
                    case.path.split('?').next().unwrap_or_default()
                ))
                .or_default()
                .push(if version.is_empty() { "bare" } else { version });
            let name = format!(
                "{}@{}",
                case.name,
                if version.is_empty() { "bare" } else { version }
            );
            diffs.extend(compare::compare(
                &name,
                case.mode,
                (&dx, &d.norm),
                (&sx, &s.norm),
            ));
            thread::sleep(case.settle);
        }
    }
    let elapsed = started.elapsed();

    // Classify and report.
    let mut report = String::new();
    let mut unexpected = Vec::new();
    let mut by_section: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &diffs {
        let section = match allow.allows(d) {
            Some((Section::Keep, _)) => "keep",
            Some((Section::Swagger, _)) => "swagger",
            Some((Section::Todo, _)) => "todo",
            None => {
                unexpected.push(d.clone());
                "UNEXPECTED"
            }
        };
        *by_section.entry(section).or_default() += 1;
        let _ = writeln!(report, "{section:10} {d}");
    }
    // Keys dockerd sends (API 1.41) and skiffd omits, counting the keys
    // inside an omitted object too.
    let omitted = |cases: &[&str]| {
        let mut keys: BTreeMap<&str, usize> = BTreeMap::new();
        for d in diffs
            .iter()
            .filter(|d| d.kind == Kind::Missing && cases.contains(&d.case.as_str()))
        {
            let nested = d
                .dockerd
                .strip_prefix("object with ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            keys.insert(d.at.as_str(), 1 + nested);
        }
        let total: usize = keys.values().sum();
        (total, keys.into_keys().collect::<Vec<_>>())
    };
    let (container_total, container_missing) = omitted(&[
        "inspect@1.41",
        "inspect-created@1.41",
        "inspect-stopped@1.41",
    ]);
    let (image_total, image_missing) = omitted(&["image-inspect@1.41"]);
    let _ = writeln!(
        report,
        "\n{sent} exchanges ({} endpoints) in {elapsed:?}; differences: {by_section:?}",
        covered.len()
    );
    let _ = writeln!(
        report,
        "keys dockerd sends (API 1.41) that skiffd omits: container inspect {container_total} \
         ({} places: {container_missing:?}); image inspect {image_total} ({} places: {image_missing:?})",
        container_missing.len(),
        image_missing.len()
    );
    for (section, entry) in allow.unused(&diffs) {
        let _ = writeln!(
            report,
            "unused allow-list entry ({section:?}): case={} at={} — {}",
            entry.case, entry.at, entry.reason
        );
    }
    let _ = writeln!(report, "\ncoverage (method path: versions):");
    for (endpoint, versions) in &covered {
        let _ = writeln!(report, "  {endpoint}: {}", versions.join(" "));
    }
    eprintln!("{report}");
    let report_path = util::target_dir().join("differential-report.txt");
    let _ = std::fs::write(&report_path, &report);

    // Nothing left behind.
    drop(engines);
    drop(skiffd);
    drop(dockerd);
    let mut left: Vec<String> = dirs.iter().flat_map(|d| leftovers(d)).collect();
    for base in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let cg = base.path().join(cgroup_parent.trim_start_matches('/'));
        if cg.exists() {
            left.push(format!("cgroup {}", cg.display()));
        }
    }
    let netns_after = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    if netns_after != netns_before {
        left.push(format!(
            "named network namespaces changed: {:?} -> {:?}",
            String::from_utf8_lossy(&netns_before),
            String::from_utf8_lossy(&netns_after)
        ));
    }
    assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
    assert!(
        unexpected.is_empty(),
        "{} differences from dockerd not in {} (full report in {}):\n{}",
        unexpected.len(),
        allow_path().display(),
        report_path.display(),
        unexpected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
}
