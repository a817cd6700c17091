//! The request sequence, one case a line, sent in order to both engines.
//!
//! A case is a method, a path without version prefix (`{name}` is replaced
//! by a value captured from an earlier answer of the same engine, `{now}`
//! by the current Unix time), an optional body, and the version prefixes it
//! is sent with: [`ONE`] for requests that change state, [`ALL`] for reads.
//! dockerd 20.10 speaks at most API 1.41, so it gets `min(version, 1.41)`;
//! what newer versions change is in the allow-list, by version.
//!
//! Containers: `diff-a` runs `sh` printing to stdout and stderr then
//! sleeping, `diff-t` the same with a TTY, `diff-x` is created and never
//! started (renamed `diff-y`), `diff-l` is created in the 1.24-era shape
//! (HostConfig fields at the top level).

use std::time::Duration;

use super::compare::Mode;

/// Every version prefix clients use that the harness covers.
pub const ALL: &[&str] = &["1.41", "1.43", "1.47", "1.50"];
/// One version (for requests that change state).
pub const ONE: &[&str] = &["1.41"];
/// No prefix at all (curl, old scripts).
pub const BARE: &[&str] = &[""];

/// One request of the sequence.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name; differences are reported as `name@version`.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path and query, without version prefix.
    pub path: &'static str,
    /// Request body.
    pub body: Vec<u8>,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
    /// Version prefixes to send it with.
    pub versions: &'static [&'static str],
    /// What of the answer is compared.
    pub mode: Mode,
    /// `(name, JSON pointer)`: remember this value of the answer.
    pub capture: Option<(&'static str, &'static str)>,
    /// How long the engine gets to answer and close.
    pub timeout: Duration,
    /// Time to wait after the case (output to appear, state to settle).
    pub settle: Duration,
}

fn case(name: &'static str, method: &'static str, path: &'static str) -> Case {
    Case {
        name,
        method,
        path,
        body: Vec::new(),
        headers: Vec::new(),
        versions: ONE,
        mode: Mode::Full,
        capture: None,
        timeout: Duration::from_secs(20),
        settle: Duration::ZERO,
    }
}

fn get(name: &'static str, path: &'static str) -> Case {
    case(name, "GET", path)
}
fn post(name: &'static str, path: &'static str) -> Case {
    case(name, "POST", path)
}
fn delete(name: &'static str, path: &'static str) -> Case {
    case(name, "DELETE", path)
}

impl Case {
    fn json(mut self, body: &str) -> Case {
        self.body = body.as_bytes().to_vec();
        self
    }
    fn bytes(mut self, body: Vec<u8>) -> Case {
        self.body = body;
        self
    }
    fn header(mut self, name: &'static str, value: &str) -> Case {
        self.headers.push((name, value.to_string()));
        self
    }
    fn all(mut self) -> Case {
        self.versions = ALL;
        self
    }
    fn at(mut self, versions: &'static [&'static str]) -> Case {
        self.versions = versions;
        self
    }
    fn shape(mut self) -> Case {
        self.mode = Mode::Shape;
        self
    }
    fn last_line(mut self) -> Case {
        self.mode = Mode::LastLine;
        self
    }
    fn events(mut self) -> Case {
        self.mode = Mode::Events;
        self
    }
    fn capture(mut self, name: &'static str, pointer: &'static str) -> Case {
        self.capture = Some((name, pointer));
        self
    }
    fn timeout(mut self, secs: u64) -> Case {
        self.timeout = Duration::from_secs(secs);
        self
    }
    fn settle(mut self, millis: u64) -> Case {
        self.settle = Duration::from_millis(millis);
        self
    }
}

/// A tar holding one file, for `PUT …/archive`.
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    if let Err(err) = builder.append_data(&mut header, name, data) {
        panic!("building a tar: {err}");
    }
    match builder.into_inner() {
        Ok(bytes) => bytes,
        Err(err) => panic!("building a tar: {err}"),
    }
}

const A: &str = r#"{"Image":"busybox","Cmd":["sh","-c","echo out; sleep 0.2; echo err >&2; exec sleep 300"],"Labels":{"diff":"a"},"StopSignal":"SIGKILL"}"#;
const T: &str = r#"{"Image":"busybox","Tty":true,"OpenStdin":true,"Cmd":["sh","-c","echo tty; exec sleep 300"],"StopSignal":"SIGKILL"}"#;
const LEGACY: &str = r#"{"Image":"busybox","Cmd":"echo legacy","Memory":16777216,"CpuShares":512,"Binds":[],"Dns":[],"PortBindings":{}}"#;
const EXEC: &str =
    r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo eo; echo ee >&2"]}"#;

/// The whole sequence.
pub fn all() -> Vec<Case> {
    let auth_empty = "e30="; // base64 of "{}"
    vec![
        // --- system
        get("ping", "/_ping").all(),
        get("ping", "/_ping").at(BARE),
        case("ping-head", "HEAD", "/_ping").all(),
        get("version", "/version").all().shape(),
        get("info", "/info").all().shape(),
        get("df-empty", "/system/df").shape(),
        get("unknown-path", "/nope"),
        get("version-too-old", "/v1.11/version").at(BARE),
        get("version-too-new", "/v1.99/version").at(BARE),
        get("version-1.24", "/v1.24/version").at(BARE).shape(),
        post("auth-empty", "/auth"),
        post("auth-malformed", "/auth").json("{"),
        post("auth-unreachable", "/auth").json(r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:1"}"#),
        // --- images
        post("pull-no-params", "/images/create"),
        post("pull-bad-ref", "/images/create?fromImage=UPPER&tag=latest"),
        post("pull", "/images/create?fromImage=busybox&tag=latest").last_line().timeout(60),
        post("pull-bad-auth-header", "/images/create?fromImage=busybox&tag=latest").header("X-Registry-Auth", "!!!").last_line(),
        post("pull-again", "/images/create?fromImage=busybox:latest").header("X-Registry-Auth", auth_empty).last_line(),
        post("pull-unknown", "/images/create?fromImage=nope&tag=latest").last_line(),
        post("pull-unknown-tag", "/images/create?fromImage=busybox&tag=nope").last_line(),
        get("images", "/images/json").all(),
        get("images-all", "/images/json?all=1"),
        get("images-digests", "/images/json?digests=1"),
        get("images-filter-reference", r#"/images/json?filters={"reference":["busybox"]}"#),
        get("images-filter-dangling", r#"/images/json?filters={"dangling":["true"]}"#),
        get("images-filter-legacy", "/images/json?filter=busybox"),
        get("images-filter-unknown", r#"/images/json?filters={"nope":["x"]}"#),
        get("images-filter-not-json", "/images/json?filters=nope"),
        get("image-inspect", "/images/busybox/json").all().capture("image", "/Id"),
        get("image-inspect-by-id", "/images/{image}/json"),
        get("image-inspect-tagged-name", "/images/busybox:latest/json"),
        get("image-inspect-unknown", "/images/nope/json"),
        get("image-inspect-bad-ref", "/images/UPPER/json"),
        get("image-history", "/images/busybox/history").all(),
        get("image-history-unknown", "/images/nope/history"),
        post("image-tag", "/images/busybox/tag?repo=diff/tagged&tag=v1"),
        post("image-tag-no-repo", "/images/busybox/tag"),
        post("image-tag-bad-repo", "/images/busybox/tag?repo=UPPER"),
        post("image-tag-unknown", "/images/nope/tag?repo=diff/x"),
        get("image-inspect-tag", "/images/diff/tagged:v1/json"),
        delete("image-remove-tag", "/images/diff/tagged:v1"),
        delete("image-remove-unknown", "/images/nope"),
        get("image-save", "/images/get?names=busybox").timeout(60),
        get("image-save-one", "/images/busybox/get").timeout(60),
        get("image-save-none", "/images/get"),
        get("image-save-unknown", "/images/get?names=nope"),
        post("image-load-empty", "/images/load"),
        post("image-load-garbage", "/images/load").bytes(b"not a tar".to_vec()).header("Content-Type", "application/x-tar"),
        post("image-import-empty", "/images/create?fromSrc=-&repo=diff/imported").header("Content-Type", "application/x-tar"),
        post("image-import-url", "/images/create?fromSrc=http://127.0.0.1:1/x.tar&repo=diff/url"),
        get("image-search", "/images/search?term=busybox"),
        post("image-push", "/images/diff/none/push"),
        post("image-prune-bad-filter", r#"/images/prune?filters={"nope":["1"]}"#),
        get("distribution", "/distribution/busybox/json").all(),
        get("distribution-unknown", "/distribution/nope/json"),
        // --- containers: create, including refusals
        post("create-empty-body", "/containers/create?name=diff-empty-body"),
        post("create-malformed", "/containers/create?name=diff-malformed").json("{"),
        post("create-no-image", "/containers/create?name=diff-no-image").json("{}"),
        post("create-wrong-type", "/containers/create?name=diff-wrong-type").json(r#"{"Image":"busybox","Cmd":5}"#),
        post("create-unknown-image", "/containers/create?name=diff-unknown-image").json(r#"{"Image":"nope"}"#),
        post("create-bad-name", "/containers/create?name=a%20b").json(r#"{"Image":"busybox"}"#),
        post("create-bad-restart", "/containers/create?name=diff-bad-restart").json(r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#),
        post("create-bad-log-driver", "/containers/create?name=diff-bad-log-driver").json(r#"{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"nope"}}}"#),
        post("create-autoremove-restart", "/containers/create?name=diff-autoremove-restart").json(r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#),
        post("create-bad-cgroupns", "/containers/create?name=diff-bad-cgroupns").json(r#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"nope"}}"#),
        post("create-bad-mount", "/containers/create?name=diff-bad-mount").json(r#"{"Image":"busybox","HostConfig":{"Binds":["./relative:/x"]}}"#),
        // What one engine created and the other refused goes, so the lists
        // below compare the same containers.
        delete("remove-refused-1", "/containers/diff-bad-log-driver?force=1"),
        delete("remove-refused-2", "/containers/diff-bad-mount?force=1"),
        delete("remove-refused-3", "/containers/diff-autoremove-restart?force=1"),
        post("create-s", "/containers/create?name=diff-s").json(r#"{"Image":"busybox","Cmd":["true"]}"#),
        post("start-with-body", "/containers/diff-s/start").json(r#"{"Binds":[]}"#).settle(500),
        delete("remove-started-with-body", "/containers/diff-s?force=1"),
        post("create-a", "/containers/create?name=diff-a").json(A).capture("a", "/Id"),
        post("create-name-conflict", "/containers/create?name=diff-a").json(A),
        post("create-t", "/containers/create?name=diff-t").json(T),
        post("create-x", "/containers/create?name=diff-x").json(r#"{"Image":"busybox","Cmd":["true"],"ExposedPorts":{"80/tcp":{}}}"#),
        post("create-1.24-shape", "/v1.24/containers/create?name=diff-l").json(LEGACY).at(BARE),
        get("inspect-1.24-shape", "/v1.24/containers/diff-l/json").at(BARE),
        delete("remove-1.24-shape", "/containers/diff-l?force=1"),
        get("inspect-created", "/containers/diff-x/json").all(),
        // --- lifecycle
        post("start-a", "/containers/diff-a/start").settle(1500),
        post("start-a-again", "/containers/diff-a/start"),
        post("start-t", "/containers/diff-t/start").settle(500),
        post("start-unknown", "/containers/nope/start"),
        get("inspect", "/containers/diff-a/json").all(),
        get("inspect-by-id", "/containers/{a}/json"),
        get("inspect-size", "/containers/diff-a/json?size=1"),
        get("inspect-tty", "/containers/diff-t/json"),
        get("inspect-unknown", "/containers/nope/json"),
        get("list", "/containers/json").all(),
        get("list-all", "/containers/json?all=1").all(),
        get("list-size", "/containers/json?size=1").shape(),
        get("list-limit", "/containers/json?all=1&limit=1"),
        get("list-filter-status", r#"/containers/json?all=1&filters={"status":["created"]}"#),
        get("list-filter-label", r#"/containers/json?filters={"label":["diff=a"]}"#),
        get("list-filter-legacy-map", r#"/containers/json?filters={"status":{"running":true}}"#),
        get("list-filter-bad-status", r#"/containers/json?filters={"status":["sleepy"]}"#),
        get("list-filter-unknown", r#"/containers/json?filters={"nope":["x"]}"#),
        get("top", "/containers/diff-a/top").shape(),
        get("top-args", "/containers/diff-a/top?ps_args=aux").shape(),
        get("top-not-running", "/containers/diff-x/top"),
        get("top-unknown", "/containers/nope/top"),
        get("stats", "/containers/diff-a/stats?stream=false").shape().all(),
        get("stats-one-shot", "/containers/diff-a/stats?stream=false&one-shot=true").shape(),
        get("stats-unknown", "/containers/nope/stats?stream=false"),
        get("logs", "/containers/diff-a/logs?stdout=1&stderr=1").all(),
        get("logs-stdout", "/containers/diff-a/logs?stdout=1"),
        get("logs-no-stream", "/containers/diff-a/logs"),
        get("logs-tail", "/containers/diff-a/logs?stdout=1&stderr=1&tail=1"),
        get("logs-bad-tail", "/containers/diff-a/logs?stdout=1&tail=x"),
        get("logs-timestamps", "/containers/diff-a/logs?stdout=1&timestamps=1"),
        get("logs-tty", "/containers/diff-t/logs?stdout=1&stderr=1"),
        get("logs-unknown", "/containers/nope/logs?stdout=1"),
        get("changes", "/containers/diff-a/changes"),
        get("changes-unknown", "/containers/nope/changes"),
        case("archive-head", "HEAD", "/containers/diff-a/archive?path=/etc/hostname"),
        get("archive-get", "/containers/diff-a/archive?path=/etc/hostname"),
        get("archive-missing", "/containers/diff-a/archive?path=/nope"),
        get("archive-no-path", "/containers/diff-a/archive"),
        case("archive-put", "PUT", "/containers/diff-a/archive?path=/tmp").bytes(tar_of("hello.txt", b"hi\n")).header("Content-Type", "application/x-tar"),
        case("archive-put-garbage", "PUT", "/containers/diff-a/archive?path=/tmp").bytes(b"garbage".to_vec()).header("Content-Type", "application/x-tar"),
        case("archive-put-no-dir", "PUT", "/containers/diff-a/archive?path=/nonexistent").bytes(tar_of("x", b"x")).header("Content-Type", "application/x-tar"),
        get("archive-after-put", "/containers/diff-a/archive?path=/tmp/hello.txt"),
        get("export", "/containers/diff-x/export").timeout(60),
        get("export-unknown", "/containers/nope/export"),
        // --- exec
        post("exec-create", "/containers/diff-a/exec").json(EXEC).capture("exec", "/Id"),
        get("exec-inspect", "/exec/{exec}/json"),
        post("exec-start", "/exec/{exec}/start").json(r#"{"Detach":false,"Tty":false}"#).settle(300),
        get("exec-inspect-done", "/exec/{exec}/json"),
        post("exec-start-again", "/exec/{exec}/start").json(r#"{"Detach":false,"Tty":false}"#),
        post("exec-create-tty", "/containers/diff-a/exec").json(r#"{"AttachStdout":true,"Tty":true,"Cmd":["echo","tty-exec"]}"#).capture("exect", "/Id"),
        post("exec-start-tty", "/exec/{exect}/start").json(r#"{"Detach":false,"Tty":true}"#),
        post("exec-create-user", "/containers/diff-a/exec").json(r#"{"AttachStdout":true,"AttachStderr":true,"User":"nobody","Cmd":["id","-un"]}"#).capture("execu", "/Id"),
        post("exec-start-user", "/exec/{execu}/start").json("{}"),
        post("exec-create-workdir", "/containers/diff-a/exec").json(r#"{"AttachStdout":true,"WorkingDir":"/tmp","Cmd":["pwd"]}"#).capture("execw", "/Id"),
        post("exec-start-workdir", "/exec/{execw}/start").json("{}"),
        post("exec-create-detach", "/containers/diff-a/exec").json(r#"{"Cmd":["true"]}"#).capture("execd", "/Id"),
        post("exec-start-detach", "/exec/{execd}/start").json(r#"{"Detach":true}"#),
        post("exec-start-empty-body", "/exec/{execd}/start"),
        post("exec-create-no-cmd", "/containers/diff-a/exec").json("{}"),
        post("exec-create-malformed", "/containers/diff-a/exec").json("{"),
        post("exec-create-not-running", "/containers/diff-x/exec").json(EXEC),
        post("exec-create-unknown", "/containers/nope/exec").json(EXEC),
        post("exec-start-unknown", "/exec/nope/start").json("{}"),
        get("exec-inspect-unknown", "/exec/nope/json"),
        post("exec-resize-unknown", "/exec/nope/resize?h=24&w=80"),
        post("exec-resize-bad", "/exec/{exec}/resize?h=x&w=80"),
        // --- attach, resize, pause, rename, kill, wait, stop
        post("attach-logs", "/containers/diff-a/attach?stream=0&logs=1&stdout=1&stderr=1").timeout(5),
        post("attach-logs-tty", "/containers/diff-t/attach?stream=0&logs=1&stdout=1").timeout(5),
        get("attach-ws-no-upgrade", "/containers/diff-a/attach/ws?stream=0&logs=1&stdout=1").timeout(5),
        post("resize", "/containers/diff-t/resize?h=24&w=80"),
        post("resize-bad", "/containers/diff-t/resize?h=x&w=80"),
        post("resize-no-tty", "/containers/diff-a/resize?h=24&w=80"),
        post("resize-unknown", "/containers/nope/resize?h=24&w=80"),
        post("pause", "/containers/diff-a/pause").settle(200),
        get("inspect-paused", "/containers/diff-a/json"),
        get("list-paused", r#"/containers/json?filters={"status":["paused"]}"#),
        post("pause-again", "/containers/diff-a/pause"),
        post("unpause", "/containers/diff-a/unpause"),
        post("unpause-again", "/containers/diff-a/unpause"),
        post("pause-not-running", "/containers/diff-x/pause"),
        post("rename", "/containers/diff-x/rename?name=diff-y"),
        post("rename-conflict", "/containers/diff-y/rename?name=diff-a"),
        post("rename-no-name", "/containers/diff-y/rename"),
        post("rename-unknown", "/containers/nope/rename?name=z"),
        post("kill-bad-signal", "/containers/diff-a/kill?signal=NOPE"),
        post("kill-not-running", "/containers/diff-y/kill"),
        post("kill-unknown", "/containers/nope/kill"),
        post("wait-bad-condition", "/containers/diff-y/wait?condition=nope"),
        post("wait-unknown", "/containers/nope/wait"),
        delete("remove-running", "/containers/diff-t"),
        delete("remove-unknown", "/containers/nope"),
        delete("image-remove-in-use", "/images/busybox"),
        post("stop", "/containers/diff-a/stop?t=1").settle(300),
        post("stop-again", "/containers/diff-a/stop?t=1"),
        get("inspect-stopped", "/containers/diff-a/json").all(),
        post("wait-stopped", "/containers/diff-a/wait"),
        post("restart", "/containers/diff-a/restart?t=1").settle(500),
        get("inspect-restarted", "/containers/diff-a/json"),
        post("kill", "/containers/diff-a/kill?signal=KILL").settle(500),
        post("wait-killed", "/containers/diff-a/wait"),
        post("commit", "/commit?container=diff-a&repo=diff/committed&tag=v1").json("{}"),
        delete("image-remove-committed", "/images/diff/committed:v1"),
        // A second passes so `{now}` (whole seconds) is after every event
        // above on both engines: `until` is inclusive of whole seconds only.
        post("build-empty", "/build").settle(1000),
        get("events", r#"/events?since=0&until={now}&filters={"type":["container"]}"#).events().timeout(10),
        get("events-bad-filter", r#"/events?until={now}&filters={"nope":["x"]}"#).timeout(10),
        get("df", "/system/df").shape(),
        // --- cleanup (compared too)
        post("prune-containers", "/containers/prune"),
        delete("remove-force", "/containers/diff-t?force=1"),
        post("image-prune", "/images/prune"),
        delete("image-remove", "/images/busybox?force=1"),
        get("images-after", "/images/json"),
        get("list-after", "/containers/json?all=1"),
    ]
}
