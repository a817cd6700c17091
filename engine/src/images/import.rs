//! `docker import`: a root filesystem tar (plain or compressed) becomes a
//! one-layer image, with `--change` instructions applied to its config.

use std::io::Read;

use serde_json::{Map, Value, json};
use skiff_oci::Digest;
use skiff_oci::documents::{History, ImageConfig, RootFs};
use skiff_oci::reference::Reference;
use skiff_store::images::ImageRecord;

use super::error::ImageError;
use super::layer::{self, Expect};
use super::{ImageService, now_rfc3339};

/// An import request.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `repo` (may carry a tag).
    pub repo: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `message`: the history comment.
    pub message: Option<String>,
    /// `changes`: Dockerfile instructions (CMD, ENTRYPOINT, ENV, …).
    pub changes: Vec<String>,
}

/// Apply one Dockerfile-style `--change` to a runtime config object.
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<(), ImageError> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let exec_form = || -> Value {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) => json!(v),
            Err(_) => json!(["/bin/sh", "-c", rest]),
        }
    };
    let bad = || ImageError::InvalidArgument(format!("invalid change {change:?}"));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), exec_form());
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), exec_form());
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), json!(rest));
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "ENV" => {
            let (k, v) = rest
                .split_once('=')
                .or_else(|| rest.split_once(' '))
                .ok_or_else(bad)?;
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(bad)?;
            let key = k.trim();
            list.retain(|e| {
                e.as_str()
                    .map(|s| !s.starts_with(&format!("{key}=")))
                    .unwrap_or(true)
            });
            list.push(json!(format!("{key}={}", v.trim().trim_matches('"'))));
        }
        "LABEL" => {
            let (k, v) = rest.split_once('=').ok_or_else(bad)?;
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            labels.as_object_mut().ok_or_else(bad)?.insert(
                k.trim().trim_matches('"').into(),
                json!(v.trim().trim_matches('"')),
            );
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_owned()
                } else {
                    format!("{p}/tcp")
                };
                ports.as_object_mut().ok_or_else(bad)?.insert(p, json!({}));
            }
        }
        "HEALTHCHECK" => {
            config.insert("Healthcheck".into(), healthcheck(rest)?);
        }
        "VOLUME" => {
            let vols = config.entry("Volumes").or_insert_with(|| json!({}));
            let list: Vec<String> = serde_json::from_str(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(str::to_owned).collect());
            for v in list {
                vols.as_object_mut().ok_or_else(bad)?.insert(v, json!({}));
            }
        }
        _ => {
            return Err(ImageError::InvalidArgument(format!(
                "{instr} is not a valid change command"
            )));
        }
    }
    Ok(())
}

/// The `Healthcheck` of a `HEALTHCHECK [--interval=…] [--timeout=…]
/// [--start-period=…] [--start-interval=…] [--retries=N] CMD …` or
/// `HEALTHCHECK NONE` instruction (`rest`: what follows the keyword), as
/// dockerd's builder reads it.
pub fn healthcheck(rest: &str) -> Result<Value, ImageError> {
    use crate::containers::health::state::parse_go_duration;
    let bad = |m: String| ImageError::InvalidArgument(m);
    let mut out = Map::new();
    let mut rest = rest.trim_start();
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (name, value) = flag[..end].split_once('=').ok_or_else(|| {
            bad(format!(
                "HEALTHCHECK: flag --{} needs a value",
                &flag[..end]
            ))
        })?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            other => return Err(bad(format!("Unknown flag: {other}"))),
        };
        let n = if key == "Retries" {
            value
                .parse::<i64>()
                .map_err(|_| bad(format!("invalid retries value {value:?}")))?
        } else {
            parse_go_duration(value)
                .ok_or_else(|| bad(format!("time: invalid duration \"{value}\"")))?
        };
        out.insert(key.into(), json!(n));
        rest = flag[end..].trim_start();
    }
    let (kind, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let test = match kind.to_ascii_uppercase().as_str() {
        "NONE" if args.is_empty() && out.is_empty() => json!(["NONE"]),
        "NONE" => return Err(bad("HEALTHCHECK NONE takes no arguments".into())),
        "CMD" if !args.is_empty() => match serde_json::from_str::<Vec<String>>(args) {
            Ok(argv) => json!(
                std::iter::once("CMD".to_owned())
                    .chain(argv)
                    .collect::<Vec<_>>()
            ),
            Err(_) => json!(["CMD-SHELL", args]),
        },
        other => {
            return Err(bad(format!(
                "Unknown type \"{other}\" in HEALTHCHECK (try CMD)"
            )));
        }
    };
    out.insert("Test".into(), test);
    Ok(Value::Object(out))
}

impl ImageService {
    /// Import a root filesystem tar as a new image; returns its id.
    pub fn import(&self, input: impl Read, req: &ImportRequest) -> Result<Digest, ImageError> {
        let target = match req.repo.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(repo) => {
                let r = Reference::parse(repo)?;
                Some(match req.tag.as_deref().filter(|t| !t.is_empty()) {
                    Some(t) => r.with_tag(t)?,
                    None => r.with_default_tag(),
                })
            }
        };
        let mut runtime = Map::new();
        for c in &req.changes {
            apply_change(&mut runtime, c)?;
        }
        let _writing = self.gc_lock.blocking_read();
        let input = std::io::BufReader::with_capacity(1 << 20, input);
        let info = layer::unpack_stream(
            &self.stores,
            input,
            Some(self.stores.content.writer()?),
            &Expect::default(),
            None,
        )?;
        let now = now_rfc3339();
        let config = ImageConfig {
            architecture: crate::host::oci_arch(std::env::consts::ARCH).into(),
            os: "linux".into(),
            created: Some(now.clone()),
            config: Some(Value::Object(runtime)),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![info.diff_id.clone()],
            },
            history: vec![History {
                created: Some(now.clone()),
                created_by: None,
                comment: Some(
                    req.message
                        .clone()
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "Imported from -".into()),
                ),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Store(e.to_string()))?;
        let id = self.stores.content.write_blob(&bytes, None)?;
        self.stores.images.update(|ix| {
            ix.images.insert(
                id.clone(),
                ImageRecord {
                    last_tag_time: target.as_ref().map(|_| now.clone()),
                    ..ImageRecord::new(id.clone(), vec![info.diff_id.clone()], info.unpacked_size)
                },
            );
            if let Some(t) = &target {
                ix.tags.insert(t.to_string(), id.clone());
            }
        })?;
        self.event("import", &id.to_string(), &id.to_string());
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_changes_read_like_dockerfile_ones() {
        assert_eq!(
            healthcheck("--interval=1s --retries=2 CMD wget -q localhost").expect("shell"),
            json!({"Interval": 1_000_000_000i64, "Retries": 2, "Test": ["CMD-SHELL", "wget -q localhost"]})
        );
        assert_eq!(
            healthcheck(r#"CMD ["true", "x"]"#).expect("exec form"),
            json!({"Test": ["CMD", "true", "x"]})
        );
        assert_eq!(
            healthcheck("NONE").expect("none"),
            json!({"Test": ["NONE"]})
        );
        assert!(healthcheck("--timeout=1s NONE").is_err());
        assert!(healthcheck("--interval=soon CMD true").is_err());
        assert!(healthcheck("RUN true").is_err());
    }

    #[test]
    fn changes_apply_like_dockerfile_instructions() {
        let mut c = Map::new();
        apply_change(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).expect("cmd");
        apply_change(&mut c, "ENTRYPOINT /bin/run it").expect("entrypoint");
        apply_change(&mut c, "ENV A=1").expect("env");
        apply_change(&mut c, "ENV A=2").expect("env again");
        apply_change(&mut c, "WORKDIR /srv").expect("workdir");
        apply_change(&mut c, "EXPOSE 80 53/udp").expect("expose");
        apply_change(&mut c, "LABEL a=b").expect("label");
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/run it"]));
        assert_eq!(c["Env"], json!(["A=2"]));
        assert_eq!(c["WorkingDir"], json!("/srv"));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b"}));
        assert!(apply_change(&mut c, "FROM x").is_err());
    }
}
