//! Comparing one exchange with dockerd against the same exchange with
//! skiffd.
//!
//! Compared: the status; the headers clients read (`Content-Type`,
//! `Api-Version` — present, the value is the engine's —, `Docker-Experimental`,
//! `Ostype`, and the decoded `X-Docker-Container-Path-Stat`); a hang; the
//! body, decoded by what it is: JSON (key set, value types and — unless the
//! case compares shapes only — normalised values, at every depth), JSON
//! lines, docker's multiplexed stream (8-byte frame headers: which stream,
//! what text) versus a raw (TTY) stream, a tar (its entry names), or text.
//!
//! Values that must differ between two engines are normalised by rule
//! ([`Normaliser`]): ids, digests, times, addresses, the engines' own
//! directories, durations in `Status`, and — by key — sizes, pids and
//! engine versions. Nothing is ignored wholesale.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;
use serde_json::Value;

use super::http::Exchange;

/// How much of a body a case compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keys, types and normalised values.
    Full,
    /// Keys and types only (figures of the host: `/info`, stats, top).
    Shape,
    /// For JSON-lines progress streams: the last line only (in full).
    LastLine,
    /// For event streams: which `Type Action`s each engine emits, and the
    /// shape of the first event of each `Type Action` on both sides.
    Events,
}

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Status code.
    Status,
    /// A header clients read.
    Header,
    /// A key dockerd sends and skiffd does not.
    Missing,
    /// A key skiffd sends and dockerd does not.
    Extra,
    /// Same key, another JSON type (`null` vs `[]` included).
    Type,
    /// Same key and type, another (normalised) value.
    Value,
    /// The `message` of an error.
    Message,
    /// Another number of array elements or stream lines.
    Length,
    /// Multiplexed stream vs raw stream, or another body encoding.
    Framing,
    /// One engine closed the connection, the other did not.
    Hang,
}

impl Kind {
    /// The name used in reports and in the allow-list's `kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Status => "status",
            Kind::Header => "header",
            Kind::Missing => "missing",
            Kind::Extra => "extra",
            Kind::Type => "type",
            Kind::Value => "value",
            Kind::Message => "message",
            Kind::Length => "length",
            Kind::Framing => "framing",
            Kind::Hang => "hang",
        }
    }
}

/// One difference between the engines' answers to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `name@version`.
    pub case: String,
    /// Where: `status`, `header content-type`, `body.HostConfig.LogConfig`.
    pub at: String,
    /// What kind.
    pub kind: Kind,
    /// dockerd's side (a normalised value, a type, `-` when absent).
    pub dockerd: String,
    /// skiffd's side.
    pub skiffd: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} [{}]: dockerd {} | skiffd {}",
            self.case,
            self.at,
            self.kind.name(),
            clip(&self.dockerd),
            clip(&self.skiffd)
        )
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Keys whose values differ between any two engines or runs; their values
/// become `<varies>` (strings) or 0 (numbers): the type is still compared.
const VARYING_KEYS: &[&str] = &[
    "Created",
    "Size",
    "VirtualSize",
    "SharedSize",
    "SizeRw",
    "SizeRootFs",
    "LayersSize",
    "Reclaimed",
    "SpaceReclaimed",
    "Pid",
    "time",
    "timeNano",
    "Version",
    "ApiVersion",
    "MinAPIVersion",
    "GitCommit",
    "GoVersion",
    "KernelVersion",
    "BuildTime",
    "NetworkID",
    "EndpointID",
    "SandboxID",
    "mtime",
    "LastTagTime",
];

static DIGEST: LazyLock<Regex> = LazyLock::new(|| re(r"sha256:[0-9a-f]{64}"));
static LONG_ID: LazyLock<Regex> = LazyLock::new(|| re(r"\b[0-9a-f]{64}\b"));
static SHORT_ID: LazyLock<Regex> = LazyLock::new(|| re(r"\b[0-9a-f]{12}\b"));
static TIME: LazyLock<Regex> =
    LazyLock::new(|| re(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"));
static LOCAL_PORT: LazyLock<Regex> = LazyLock::new(|| re(r"127\.0\.0\.1:\d+"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"));
static MAC: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b"));
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(Up|Exited \(-?\d+\)) (Less than a second|About a minute|About an hour|\d+ \w+)")
});

fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(re) => re,
        Err(err) => panic!("bad normalisation pattern {pattern}: {err}"),
    }
}

/// The rules that make two engines' answers comparable.
#[derive(Debug, Clone)]
pub struct Normaliser {
    /// The engine's own directory (data root, sockets): a string that is a
    /// path under it becomes `<engine path>` (the layouts differ); inside a
    /// longer string (an error message) the directory becomes `<root>`.
    pub root: String,
}

impl Normaliser {
    /// A string with ids, digests, times, addresses and paths replaced.
    pub fn text(&self, s: &str) -> String {
        if !self.root.is_empty() && s.starts_with(&self.root) && !s.contains(' ') {
            return "<engine path>".to_string();
        }
        let s = if self.root.is_empty() {
            s.to_string()
        } else {
            s.replace(&self.root, "<root>")
        };
        let s = DIGEST.replace_all(&s, "sha256:<digest>");
        let s = LONG_ID.replace_all(&s, "<id>");
        let s = SHORT_ID.replace_all(&s, "<short-id>");
        let s = if s == "0001-01-01T00:00:00Z" {
            s
        } else {
            TIME.replace_all(&s, "<time>")
        };
        let s = LOCAL_PORT.replace_all(&s, "127.0.0.1:<port>");
        let s = IPV4.replace_all(&s, |c: &regex::Captures<'_>| {
            let ip = &c[0];
            if ip == "127.0.0.1" || ip == "0.0.0.0" {
                ip.to_string()
            } else {
                "<ip>".to_string()
            }
        });
        let s = MAC.replace_all(&s, "<mac>");
        DURATION.replace_all(&s, "$1 <duration>").into_owned()
    }

    /// A JSON value with every string normalised and the values of
    /// [`VARYING_KEYS`] replaced by `<varies>`.
    pub fn json(&self, v: &Value) -> Value {
        self.json_at(None, v)
    }

    fn json_at(&self, key: Option<&str>, v: &Value) -> Value {
        let varies = key.is_some_and(|k| VARYING_KEYS.contains(&k));
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json_at(Some(k), v)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.json_at(key, v)).collect())
            }
            Value::String(_) if varies => Value::String("<varies>".to_string()),
            Value::Number(_) if varies => Value::from(0),
            Value::String(s) => Value::String(self.text(s)),
            other => other.clone(),
        }
    }
}

/// A decoded body.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Empty,
    Json(Value),
    Lines(Vec<Value>),
    /// Multiplexed stream: (stream name, all its text), by stream name — how
    /// a process's stdout and stderr writes interleave is timing.
    Frames(Vec<(String, String)>),
    Tar(Vec<String>),
    Text(String),
}

impl Body {
    fn kind(&self) -> &'static str {
        match self {
            Body::Empty => "empty",
            Body::Json(_) => "json",
            Body::Lines(_) => "json-lines",
            Body::Frames(_) => "multiplexed-stream",
            Body::Tar(_) => "tar",
            Body::Text(_) => "raw",
        }
    }
}

fn decode(ex: &Exchange, norm: &Normaliser) -> Body {
    let body = &ex.body;
    if body.is_empty() {
        return Body::Empty;
    }
    let ctype = ex.header("content-type").unwrap_or_default();
    if ctype.contains("json") {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            return Body::Json(norm.json(&v));
        }
        let text = String::from_utf8_lossy(body);
        let lines: Option<Vec<Value>> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).ok().map(|v| norm.json(&v)))
            .collect();
        if let Some(lines) = lines {
            return Body::Lines(lines);
        }
    }
    if ctype.contains("tar") || ctype.contains("octet-stream") {
        if let Some(names) = tar_names(body) {
            return Body::Tar(names.iter().map(|n| norm.text(n)).collect());
        }
    }
    if let Some(frames) = frames(body) {
        return Body::Frames(
            frames
                .into_iter()
                .map(|(s, t)| (s, norm.text(&t)))
                .collect(),
        );
    }
    Body::Text(norm.text(&String::from_utf8_lossy(body)))
}

/// The entry names of a tar, sorted; `None` if it is not one.
fn tar_names(body: &[u8]) -> Option<Vec<String>> {
    let mut archive = tar::Archive::new(body);
    let mut names = Vec::new();
    for entry in archive.entries().ok()? {
        let entry = entry.ok()?;
        let path = entry.path().ok()?;
        names.push(path.to_string_lossy().trim_end_matches('/').to_string());
    }
    names.sort();
    (!names.is_empty()).then_some(names)
}

/// Docker's multiplexed stream: 8-byte headers (stream 0/1/2, three zero
/// bytes, big-endian length) covering the whole body, as each stream's
/// text; `None` otherwise.
fn frames(mut body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    while !body.is_empty() {
        let header = body.get(..8)?;
        if header[0] > 2 || header[1..4] != [0, 0, 0] {
            return None;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let payload = body.get(8..8 + len)?;
        let stream = ["stdin", "stdout", "stderr"][usize::from(header[0])].to_string();
        let text = String::from_utf8_lossy(payload).into_owned();
        match out.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, t)) => t.push_str(&text),
            None => out.push((stream, text)),
        }
        body = &body[8 + len..];
    }
    out.sort();
    Some(out)
}

/// The headers compared (lower case), besides the path-stat header.
const HEADERS: &[&str] = &["content-type", "docker-experimental", "ostype"];

/// Every difference between dockerd's and skiffd's answers to `case`.
pub fn compare(
    case: &str,
    mode: Mode,
    (dockerd, dn): (&Exchange, &Normaliser),
    (skiffd, sn): (&Exchange, &Normaliser),
) -> Vec<Difference> {
    let mut out = Diffs {
        case,
        list: Vec::new(),
    };
    if dockerd.status != skiffd.status {
        out.push(
            "status",
            Kind::Status,
            dockerd.status.to_string(),
            skiffd.status.to_string(),
        );
    }
    if dockerd.timed_out != skiffd.timed_out {
        let state = |t: bool| if t { "still open" } else { "closed" }.to_string();
        out.push(
            "connection",
            Kind::Hang,
            state(dockerd.timed_out),
            state(skiffd.timed_out),
        );
    }
    for name in HEADERS {
        let (d, s) = (dockerd.header(name), skiffd.header(name));
        if d != s {
            out.push(
                &format!("header {name}"),
                Kind::Header,
                d.unwrap_or("-").to_string(),
                s.unwrap_or("-").to_string(),
            );
        }
    }
    let (d, s) = (dockerd.header("api-version"), skiffd.header("api-version"));
    if d.is_some() != s.is_some() {
        out.push(
            "header api-version",
            Kind::Header,
            d.unwrap_or("-").to_string(),
            s.unwrap_or("-").to_string(),
        );
    }
    let stat = |ex: &Exchange, n: &Normaliser| {
        ex.header("x-docker-container-path-stat")
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|v| n.json(&v))
    };
    match (stat(dockerd, dn), stat(skiffd, sn)) {
        (Some(d), Some(s)) => json(
            &mut out,
            "header x-docker-container-path-stat",
            &d,
            &s,
            mode,
        ),
        (None, None) => {}
        (d, s) => out.push(
            "header x-docker-container-path-stat",
            Kind::Header,
            d.map_or("-".into(), |v| v.to_string()),
            s.map_or("-".into(), |v| v.to_string()),
        ),
    }
    match (decode(dockerd, dn), decode(skiffd, sn)) {
        (Body::Json(d), Body::Json(s)) => json(&mut out, "body", &d, &s, mode),
        (Body::Lines(d), Body::Lines(s)) => lines(&mut out, &d, &s, mode),
        (d, s) if d.kind() != s.kind() => out.push(
            "body",
            Kind::Framing,
            format!("{} {}", d.kind(), summary(&d)),
            format!("{} {}", s.kind(), summary(&s)),
        ),
        (d, s) if d != s => out.push("body", Kind::Value, summary(&d), summary(&s)),
        _ => {}
    }
    out.list
}

fn summary(body: &Body) -> String {
    match body {
        Body::Empty => String::new(),
        Body::Json(v) => v.to_string(),
        Body::Lines(v) => format!(
            "{} lines, last {}",
            v.len(),
            v.last().unwrap_or(&Value::Null)
        ),
        Body::Frames(f) => format!("{f:?}"),
        Body::Tar(names) => format!("{} entries {names:?}", names.len()),
        Body::Text(t) => format!("{t:?}"),
    }
}

struct Diffs<'a> {
    case: &'a str,
    list: Vec<Difference>,
}

impl Diffs<'_> {
    fn push(&mut self, at: &str, kind: Kind, dockerd: String, skiffd: String) {
        self.list.push(Difference {
            case: self.case.to_string(),
            at: at.to_string(),
            kind,
            dockerd,
            skiffd,
        });
    }
}

fn lines(out: &mut Diffs<'_>, d: &[Value], s: &[Value], mode: Mode) {
    match mode {
        Mode::LastLine => {
            let null = Value::Null;
            json(
                out,
                "body[last]",
                d.last().unwrap_or(&null),
                s.last().unwrap_or(&null),
                Mode::Full,
            );
        }
        Mode::Events => {
            let actions = |v: &[Value]| -> Vec<String> {
                v.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["Type"].as_str().unwrap_or("?"),
                            e["Action"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            };
            let (da, sa) = (actions(d), actions(s));
            // Which kinds of event one engine emits and the other never does
            // (counts and order depend on timing).
            let (dset, sset): (BTreeSet<&String>, BTreeSet<&String>) =
                (da.iter().collect(), sa.iter().collect());
            for action in dset.difference(&sset) {
                out.push(
                    &format!("body[{action}]"),
                    Kind::Missing,
                    "emitted".into(),
                    "-".into(),
                );
            }
            for action in sset.difference(&dset) {
                out.push(
                    &format!("body[{action}]"),
                    Kind::Extra,
                    "-".into(),
                    "emitted".into(),
                );
            }
            // The shape of each kind of event: the first of each
            // `Type Action` on both sides.
            let mut seen = BTreeSet::new();
            for (action, dv) in da.iter().zip(d) {
                if !seen.insert(action.clone()) {
                    continue;
                }
                if let Some(sv) = sa.iter().position(|a| a == action).and_then(|i| s.get(i)) {
                    json(out, &format!("body[{action}]"), dv, sv, Mode::Shape);
                }
            }
        }
        Mode::Full | Mode::Shape => {
            if d.len() != s.len() && mode == Mode::Full {
                out.push(
                    "body",
                    Kind::Length,
                    d.len().to_string(),
                    s.len().to_string(),
                );
            }
            for (i, (d, s)) in d.iter().zip(s).enumerate() {
                json(out, &format!("body[{i}]"), d, s, mode);
            }
        }
    }
}

/// The type of a value a side lacks; for an object, with the number of keys
/// in it at every depth (`object with 12 keys`).
fn described(v: &Value) -> String {
    match v {
        Value::Object(_) => format!("object with {} keys", nested_keys(v)),
        other => type_name(other).to_string(),
    }
}

/// The number of object keys in `v` at every depth.
pub fn nested_keys(v: &Value) -> usize {
    match v {
        Value::Object(map) => map.values().map(|v| 1 + nested_keys(v)).sum(),
        Value::Array(items) => items.iter().map(nested_keys).max().unwrap_or(0),
        _ => 0,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares two normalised JSON values at `at`.
fn json(out: &mut Diffs<'_>, at: &str, d: &Value, s: &Value, mode: Mode) {
    match (d, s) {
        (Value::Object(dm), Value::Object(sm)) => {
            let keys: BTreeSet<&String> = dm.keys().chain(sm.keys()).collect();
            for key in keys {
                let path = format!("{at}.{key}");
                match (dm.get(key), sm.get(key)) {
                    (Some(dv), None) => out.push(&path, Kind::Missing, described(dv), "-".into()),
                    (None, Some(sv)) => {
                        out.push(&path, Kind::Extra, "-".into(), type_name(sv).into())
                    }
                    (Some(dv), Some(sv)) => json(out, &path, dv, sv, mode),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(da), Value::Array(sa)) => {
            if mode == Mode::Shape {
                if let (Some(dv), Some(sv)) = (da.first(), sa.first()) {
                    json(out, &format!("{at}[0]"), dv, sv, mode);
                }
                return;
            }
            if da.len() != sa.len() {
                let scalars = da.iter().chain(sa).all(|v| !v.is_object() && !v.is_array());
                if scalars {
                    out.push(
                        at,
                        Kind::Value,
                        Value::Array(da.clone()).to_string(),
                        Value::Array(sa.clone()).to_string(),
                    );
                    return;
                }
                out.push(at, Kind::Length, da.len().to_string(), sa.len().to_string());
            }
            for (i, (dv, sv)) in da.iter().zip(sa).enumerate() {
                json(out, &format!("{at}[{i}]"), dv, sv, mode);
            }
        }
        _ if type_name(d) != type_name(s) => {
            out.push(at, Kind::Type, type_name(d).into(), type_name(s).into())
        }
        _ if mode != Mode::Shape && d != s => {
            let kind = if at.ends_with(".message") {
                Kind::Message
            } else {
                Kind::Value
            };
            out.push(at, kind, d.to_string(), s.to_string());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(status: u16, ctype: &str, body: &[u8]) -> Exchange {
        Exchange {
            status,
            headers: vec![("content-type".into(), ctype.into())],
            body: body.to_vec(),
            timed_out: false,
        }
    }

    #[test]
    fn finds_missing_keys_types_and_framing() {
        let n = Normaliser {
            root: "/tmp/x".into(),
        };
        let d = ex(200, "application/json", br#"{"A":{"B":1,"C":[]},"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}"#);
        let s = ex(200, "application/json", br#"{"A":{"C":null},"Id":"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"}"#);
        let diffs = compare("c", Mode::Full, (&d, &n), (&s, &n));
        let kinds: Vec<_> = diffs.iter().map(|d| (d.at.as_str(), d.kind)).collect();
        assert_eq!(
            kinds,
            vec![("body.A.B", Kind::Missing), ("body.A.C", Kind::Type)]
        );

        let muxed = ex(
            200,
            "application/vnd.docker.raw-stream",
            b"\x01\0\0\0\0\0\0\x03hi\n",
        );
        let raw = ex(200, "application/vnd.docker.raw-stream", b"hi\n");
        let diffs = compare("c", Mode::Full, (&muxed, &n), (&raw, &n));
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].kind, Kind::Framing);
    }

    #[test]
    fn normalises_what_must_differ() {
        let n = Normaliser {
            root: "/tmp/eng".into(),
        };
        assert_eq!(
            n.text("/tmp/eng/data/containers/x/hostname"),
            "<engine path>"
        );
        assert_eq!(n.text("open /tmp/eng/x: busy"), "open <root>/x: busy");
        assert_eq!(n.text("2026-12-07T08:17:43.3444Z"), "<time>");
        assert_eq!(n.text("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
        assert_eq!(n.text("Up 3 seconds"), "Up <duration>");
        assert_eq!(n.text("172.17.0.2"), "<ip>");
        assert_eq!(n.text("http://127.0.0.1:5000"), "http://127.0.0.1:<port>");
        let v = n.json(&serde_json::json!({"Size": 12, "Name": "x"}));
        assert_eq!(v, serde_json::json!({"Size": 0, "Name": "x"}));
    }
}
