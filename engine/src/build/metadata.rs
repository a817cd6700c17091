//! The instructions that change only the image config (`ENV`, `LABEL`,
//! `EXPOSE`, `VOLUME`, `WORKDIR`, `USER`, `ENTRYPOINT`, `CMD`,
//! `HEALTHCHECK`, `STOPSIGNAL`, `ONBUILD`, `MAINTAINER`, `SHELL`), applied
//! to the runtime config as dockerd's dispatchers do, each returning the
//! history comment dockerd records (`ENV A=1`, `CMD ["sh"]`, …). `docker
//! commit --change` goes through the same code ([`apply_changes`]).

use serde_json::{Map, Value, json};

use super::error::BuildError;
use super::parse::{Command, Dockerfile, Health, Step};
use super::vars::{self, Lookup};

/// What a metadata step works on.
#[derive(Debug)]
pub struct Meta<'a> {
    /// The runtime config (`Env`, `Cmd`, …).
    pub runtime: &'a mut Map<String, Value>,
    /// The image's `author`.
    pub author: &'a mut Option<String>,
    /// Whether `CMD` was set in this stage (an `ENTRYPOINT` clears an
    /// inherited `CMD` otherwise).
    pub cmd_set: &'a mut bool,
}

/// The default shell of Linux images.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// The current `SHELL` of a runtime config.
pub fn shell_of(runtime: &Map<String, Value>) -> Vec<String> {
    runtime
        .get("Shell")
        .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(default_shell)
}

/// The argv of a shell- or exec-form command.
pub fn argv(cmd: &Command, shell: &[String]) -> Vec<String> {
    match cmd {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

/// Set environment variable `key` (replacing it, in place).
pub fn set_env(runtime: &mut Map<String, Value>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let env = runtime.entry("Env").or_insert_with(|| json!([]));
    if !env.is_array() {
        *env = json!([]);
    }
    if let Some(list) = env.as_array_mut() {
        let prefix = format!("{key}=");
        match list
            .iter()
            .position(|e| e.as_str().is_some_and(|s| s.starts_with(&prefix)))
        {
            Some(i) => list[i] = json!(entry),
            None => list.push(json!(entry)),
        }
    }
}

/// The value of environment variable `key`.
pub fn get_env(runtime: &Map<String, Value>, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    runtime
        .get("Env")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
}

fn obj<'m>(runtime: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let v = runtime.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("made an object just above")
}

/// Go's `%q` of a string list: `["a" "b"]`.
fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// A health check as dockerd's history text prints it: Go's `%q` of its
/// config struct (`&{["CMD-SHELL" "…"] "30s" "3s" "0s" '\x03'}`: the
/// test, interval, timeout, start period, the start interval only when
/// set, and the retries quoted as a rune).
fn go_health(hc: &Value) -> String {
    let test: Vec<String> = hc["Test"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let dur = |k: &str| format!("{:?}", go_duration_string(hc[k].as_i64().unwrap_or(0)));
    let mut fields = vec![
        go_quoted(&test),
        dur("Interval"),
        dur("Timeout"),
        dur("StartPeriod"),
    ];
    if hc["StartInterval"].as_i64().unwrap_or(0) != 0 {
        fields.push(dur("StartInterval"));
    }
    fields.push(go_rune(hc["Retries"].as_i64().unwrap_or(0)));
    format!("&{{{}}}", fields.join(" "))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration_string(ns: i64) -> String {
    fn frac(v: u64, div: u64, digits: usize) -> String {
        let (int, rem) = (v / div, v % div);
        if rem == 0 {
            return int.to_string();
        }
        let rem = format!("{rem:0digits$}");
        format!("{int}.{}", rem.trim_end_matches('0'))
    }
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 1_000, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 1_000_000, 6))
    } else {
        let secs = u / 1_000_000_000;
        let (h, m) = (secs / 3600, (secs / 60) % 60);
        let s = format!(
            "{}s",
            frac(
                (secs % 60) * 1_000_000_000 + u % 1_000_000_000,
                1_000_000_000,
                9
            )
        );
        match (h, m) {
            (0, 0) => s,
            (0, m) => format!("{m}m{s}"),
            (h, m) => format!("{h}h{m}m{s}"),
        }
    };
    format!("{sign}{body}")
}

/// Go's `%q` of an integer: a quoted rune (`'\x03'`, `'A'`).
fn go_rune(n: i64) -> String {
    let special = match n {
        7 => Some("\\a"),
        8 => Some("\\b"),
        9 => Some("\\t"),
        10 => Some("\\n"),
        11 => Some("\\v"),
        12 => Some("\\f"),
        13 => Some("\\r"),
        39 => Some("\\'"),
        92 => Some("\\\\"),
        _ => None,
    };
    if let Some(s) = special {
        return format!("'{s}'");
    }
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
        Some(c) if (c as u32) < 0x80 => format!("'\\x{:02x}'", c as u32),
        Some(c) if !c.is_control() => format!("'{c}'"),
        Some(c) if (c as u32) <= 0xffff => format!("'\\u{:04x}'", c as u32),
        Some(c) => format!("'\\U{:08x}'", c as u32),
        None => "'\\ufffd'".into(),
    }
}

/// A Go duration (`30s`, `1m30s`, `500ms`, or `0`) in nanoseconds.
pub fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    crate::containers::health::state::parse_go_duration(s)
}

/// Apply metadata step `step`; returns its history comment. `None`: not a
/// metadata step.
pub fn apply(
    step: &Step,
    meta: &mut Meta<'_>,
    env: Lookup<'_>,
    escape: char,
) -> Result<Option<String>, BuildError> {
    let word = |w: &str| vars::process_word(w, env, escape);
    let shell = shell_of(meta.runtime);
    let comment = match step {
        Step::Env(raw) => {
            let kvs = vars::key_values("ENV", raw, env, escape)?;
            let mut c = String::from("ENV");
            for (k, v) in &kvs {
                set_env(meta.runtime, k, v);
                c.push_str(&format!(" {k}={v}"));
            }
            c
        }
        Step::Label(raw) => {
            let kvs = vars::key_values("LABEL", raw, env, escape)?;
            let mut c = String::from("LABEL");
            for (k, v) in &kvs {
                obj(meta.runtime, "Labels").insert(k.clone(), json!(v));
                c.push_str(&format!(" {k}={v}"));
            }
            c
        }
        Step::Expose(ports) => {
            // dockerd's history keeps the ports as written (expanded),
            // sorted.
            let mut out = Vec::new();
            for p in ports {
                let p = word(p)?;
                for port in expand_ports(&p)? {
                    obj(meta.runtime, "ExposedPorts").insert(port, json!({}));
                }
                out.push(p);
            }
            out.sort();
            format!("EXPOSE {}", out.join(" "))
        }
        Step::Volume(list) => {
            let mut vols = Vec::new();
            for v in list {
                let v = word(v)?;
                if v.trim().is_empty() {
                    return Err(BuildError::InvalidArgument(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                obj(meta.runtime, "Volumes").insert(v.clone(), json!({}));
                vols.push(v);
            }
            format!("VOLUME [{}]", vols.join(" "))
        }
        Step::Workdir(w) => {
            let w = word(w)?;
            let current = meta
                .runtime
                .get("WorkingDir")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("/")
                .to_owned();
            let joined = if w.starts_with('/') {
                w
            } else {
                format!("{current}/{w}")
            };
            let cleaned = clean(&joined);
            meta.runtime.insert("WorkingDir".into(), json!(cleaned));
            format!("WORKDIR {cleaned}")
        }
        Step::User(u) => {
            let u = word(u)?;
            meta.runtime.insert("User".into(), json!(u));
            format!("USER {u}")
        }
        Step::Entrypoint(c) => {
            let argv = argv(c, &shell);
            meta.runtime.insert("Entrypoint".into(), json!(argv));
            if !*meta.cmd_set {
                meta.runtime.insert("Cmd".into(), Value::Null);
            }
            format!("ENTRYPOINT {}", go_quoted(&argv))
        }
        Step::Cmd(c) => {
            let argv = argv(c, &shell);
            meta.runtime.insert("Cmd".into(), json!(argv));
            *meta.cmd_set = true;
            format!("CMD {}", go_quoted(&argv))
        }
        Step::Healthcheck(h) => {
            let value = match h {
                Health::None => json!({ "Test": ["NONE"] }),
                Health::Cmd(flags, c) => {
                    let test: Vec<String> = match c {
                        Command::Exec(v) => {
                            ["CMD".to_owned()].into_iter().chain(v.clone()).collect()
                        }
                        Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                    };
                    let mut hc = json!({ "Test": test });
                    for (name, value) in flags {
                        let field = match name.as_str() {
                            "interval" => "Interval",
                            "timeout" => "Timeout",
                            "start-period" => "StartPeriod",
                            "start-interval" => "StartInterval",
                            "retries" => {
                                let n: i64 = value.parse().map_err(|_| {
                                    BuildError::InvalidArgument(format!(
                                        "invalid value for retries: {value}"
                                    ))
                                })?;
                                hc["Retries"] = json!(n);
                                continue;
                            }
                            _ => continue,
                        };
                        let ns = go_duration(value).ok_or_else(|| {
                            BuildError::InvalidArgument(format!(
                                "time: invalid duration \"{value}\""
                            ))
                        })?;
                        hc[field] = json!(ns);
                    }
                    hc
                }
            };
            let comment = format!("HEALTHCHECK {}", go_health(&value));
            meta.runtime.insert("Healthcheck".into(), value);
            comment
        }
        Step::Stopsignal(s) => {
            let s = word(s)?;
            meta.runtime.insert("StopSignal".into(), json!(s));
            format!("STOPSIGNAL {s}")
        }
        Step::Onbuild(text) => {
            let upper = text
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_uppercase();
            if matches!(upper.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(BuildError::InvalidArgument(format!(
                    "{upper} isn't allowed as an ONBUILD trigger"
                )));
            }
            let list = meta.runtime.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Some(l) = list.as_array_mut() {
                l.push(json!(text));
            }
            format!("ONBUILD {text}")
        }
        Step::Maintainer(m) => {
            *meta.author = Some(m.clone());
            format!("MAINTAINER {m}")
        }
        Step::Shell(s) => {
            meta.runtime.insert("Shell".into(), json!(s));
            format!("SHELL [{}]", s.join(" "))
        }
        _ => return Ok(None),
    };
    Ok(Some(comment))
}

/// `80` → `80/tcp`, `8000-8001/udp` → both ports.
fn expand_ports(p: &str) -> Result<Vec<String>, BuildError> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let bad = || BuildError::InvalidArgument(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let n = ports.parse::<u16>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi)
        .map(|n| format!("{n}/{}", proto.to_lowercase()))
        .collect())
}

/// Go's `path.Clean` for absolute paths.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `docker commit --change …`: apply each change (the instructions dockerd
/// accepts there) to `runtime`.
pub fn apply_changes(
    runtime: &mut Map<String, Value>,
    changes: &[String],
) -> Result<(), BuildError> {
    const VALID: [&str; 11] = [
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    for change in changes.iter().filter(|c| !c.trim().is_empty()) {
        let instr = change
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_uppercase();
        if !VALID.contains(&instr.as_str()) {
            return Err(BuildError::InvalidArgument(format!(
                "{} is not a valid change command",
                instr.to_lowercase()
            )));
        }
        let df = Dockerfile::parse(&format!("FROM scratch\n{change}\n"))?;
        let mut author = None;
        let mut cmd_set = true;
        let env_snapshot = runtime.clone();
        let lookup = move |k: &str| get_env(&env_snapshot, k);
        for i in df.stages.iter().flat_map(|s| &s.instructions) {
            apply(
                &i.step,
                &mut Meta {
                    runtime,
                    author: &mut author,
                    cmd_set: &mut cmd_set,
                },
                &lookup,
                '\\',
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: &str) -> (Map<String, Value>, Vec<String>) {
        let df = Dockerfile::parse(&format!("FROM scratch\n{steps}")).expect("parse");
        let mut rt = Map::new();
        let mut author = None;
        let mut cmd_set = false;
        let mut comments = Vec::new();
        for i in &df.stages[0].instructions {
            let snapshot = rt.clone();
            let lookup = move |k: &str| get_env(&snapshot, k);
            let c = apply(
                &i.step,
                &mut Meta {
                    runtime: &mut rt,
                    author: &mut author,
                    cmd_set: &mut cmd_set,
                },
                &lookup,
                '\\',
            )
            .expect("apply")
            .expect("metadata");
            comments.push(c);
        }
        (rt, comments)
    }

    #[test]
    fn config_and_history_as_dockerd() {
        let (rt, comments) = run(
            "ENV A=1 B=\"x y\"\nENV C=$A\nLABEL l=v\nEXPOSE 80 53/udp\nWORKDIR /a\nWORKDIR b\nCMD echo hi\nENTRYPOINT [\"tini\"]\nHEALTHCHECK --interval=5s --retries=2 CMD true\nSTOPSIGNAL SIGINT\nVOLUME /data\nUSER nobody\n",
        );
        assert_eq!(rt["Env"], json!(["A=1", "B=x y", "C=1"]));
        assert_eq!(rt["Labels"], json!({"l": "v"}));
        assert_eq!(rt["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(rt["WorkingDir"], json!("/a/b"));
        assert_eq!(rt["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(rt["Entrypoint"], json!(["tini"]));
        assert_eq!(rt["Healthcheck"]["Interval"], json!(5_000_000_000_i64));
        assert_eq!(rt["Healthcheck"]["Retries"], json!(2));
        assert_eq!(rt["StopSignal"], json!("SIGINT"));
        assert_eq!(rt["Volumes"], json!({"/data": {}}));
        assert_eq!(rt["User"], json!("nobody"));
        assert_eq!(comments[0], "ENV A=1 B=x y");
        assert_eq!(comments[6], r#"CMD ["/bin/sh" "-c" "echo hi"]"#);
        assert_eq!(comments[3], "EXPOSE 53/udp 80");
        assert_eq!(
            comments[8],
            r#"HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x02'}"#
        );
        assert_eq!(go_duration_string(90_000_000_000), "1m30s");
        assert_eq!(go_duration_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration_string(1_500_000), "1.5ms");
        assert_eq!(go_duration_string(2_250_000_000), "2.25s");
    }

    #[test]
    fn entrypoint_clears_an_inherited_cmd() {
        let (rt, _) = run("ENTRYPOINT [\"a\"]\n");
        assert_eq!(rt["Cmd"], Value::Null);
    }

    #[test]
    fn commit_changes_are_dockerds_subset() {
        let mut rt = Map::new();
        apply_changes(
            &mut rt,
            &[
                "CMD [\"sh\"]".into(),
                "ENV X=1".into(),
                "EXPOSE 8080".into(),
            ],
        )
        .expect("changes");
        assert_eq!(rt["Cmd"], json!(["sh"]));
        assert_eq!(rt["Env"], json!(["X=1"]));
        let err = apply_changes(&mut rt, &["RUN true".into()]).expect_err("RUN");
        assert_eq!(err.to_string(), "run is not a valid change command");
    }
}
