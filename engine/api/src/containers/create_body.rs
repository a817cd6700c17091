//! The body of `POST /containers/create`, read as dockerd reads it: a
//! string `Cmd` / `Entrypoint` is a one-element list (docker's
//! `strslice`), a body without `HostConfig` takes the host options from its
//! top level (the API 1.24-era shape SDKs still send), and the options the
//! typed models would refuse with a serde error get dockerd's words.

use bollard_stubs::models::{ContainerConfig, HostConfig};
use serde_json::Value;

use crate::body::json_error;
use crate::error::ApiError;

/// The restart policy names dockerd accepts.
const RESTART_POLICIES: &[&str] = &["", "no", "always", "unless-stopped", "on-failure"];

/// Turns a string at `key` of `obj` into a one-element list.
fn strslice(obj: &mut serde_json::Map<String, Value>, key: &str) {
    if let Some(Value::String(s)) = obj.get(key) {
        let one = Value::Array(vec![Value::String(s.clone())]);
        obj.insert(key.to_owned(), one);
    }
}

/// Parses a create body into its container config (with `Image`) and host
/// config.
pub fn parse(bytes: &[u8]) -> Result<(ContainerConfig, HostConfig), ApiError> {
    let mut body: Value = serde_json::from_slice(bytes).map_err(|e| json_error(bytes, &e))?;
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::bad_request(
            "Config cannot be empty in order to create a container",
        ));
    };
    strslice(obj, "Cmd");
    strslice(obj, "Entrypoint");
    let host = match obj.get("HostConfig") {
        Some(h @ Value::Object(_)) => h.clone(),
        // API <= 1.24: the host options at the top level.
        _ => Value::Object(obj.clone()),
    };
    if let Some(name) = host.pointer("/RestartPolicy/Name") {
        let name = name.as_str().unwrap_or_default();
        if !RESTART_POLICIES.contains(&name) {
            return Err(ApiError::bad_request(format!(
                "invalid restart policy '{name}'"
            )));
        }
    }
    let config: ContainerConfig =
        serde_json::from_value(body.clone()).map_err(|e| json_error(bytes, &e))?;
    let host: HostConfig = serde_json::from_value(host).map_err(|e| json_error(bytes, &e))?;
    Ok((config, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_one_element_lists_and_the_legacy_shape_is_read() {
        let (config, host) = parse(
            br#"{"Image":"busybox","Cmd":"echo legacy","Memory":16777216,"CpuShares":512,"Binds":[]}"#,
        )
        .expect("legacy body");
        assert_eq!(config.cmd, Some(vec!["echo legacy".to_owned()]));
        assert_eq!(config.image.as_deref(), Some("busybox"));
        assert_eq!(host.memory, Some(16_777_216));
        assert_eq!(host.cpu_shares, Some(512));
        let (_, host) =
            parse(br#"{"Image":"b","Memory":1,"HostConfig":{"Memory":2}}"#).expect("both");
        assert_eq!(host.memory, Some(2), "HostConfig wins over the top level");
    }

    #[test]
    fn refusals_use_dockerds_words() {
        let msg = |b: &[u8]| parse(b).expect_err("refused").message;
        assert_eq!(msg(b""), "EOF");
        assert_eq!(msg(b"{"), "unexpected EOF");
        assert_eq!(
            msg(br#"{"Image":"b","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#),
            "invalid restart policy 'sometimes'"
        );
        assert!(msg(br#"{"Image":"b","Cmd":5}"#).starts_with("invalid JSON: "));
        assert_eq!(
            parse(b"{}").expect("empty object").0.image,
            None,
            "the service refuses a missing image"
        );
    }
}
