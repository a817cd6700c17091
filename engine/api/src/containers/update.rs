//! `POST /containers/{id}/update` (`docker update`): the body (docker's
//! `UpdateConfig`: the `Resources` plus `RestartPolicy`) parsed into an
//! [`UpdateRequest`]; a field skiffd does not apply, set to anything but
//! its zero value, is refused by name.

use serde_json::{Map, Value};
use skiff_engine::containers::update::UpdateRequest;

use crate::error::ApiError;

/// The fields of `UpdateConfig` that skiffd applies.
const SUPPORTED: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "KernelMemory",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "RestartPolicy",
];

/// Whether a JSON value is its type's zero (what Go's encoder writes for
/// a field the client left unset).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

fn int(body: &Map<String, Value>, key: &str) -> Result<i64, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request(format!("invalid JSON: {key} is not an integer"))),
    }
}

fn text(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "invalid JSON: {key} is not a string"
        ))),
    }
}

/// Parse an update body.
pub fn parse(bytes: &[u8]) -> Result<UpdateRequest, ApiError> {
    let body: Map<String, Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let mut unsupported: Vec<&str> = body
        .iter()
        .filter(|(k, v)| !SUPPORTED.contains(&k.as_str()) && !is_zero(v))
        .map(|(k, _)| k.as_str())
        .collect();
    if !unsupported.is_empty() {
        unsupported.sort_unstable();
        return Err(ApiError::bad_request(format!(
            "skiffd does not support updating {}",
            unsupported.join(", ")
        )));
    }
    let restart_policy = match body.get("RestartPolicy") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some((text(p, "Name")?, int(p, "MaximumRetryCount")?)),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid JSON: RestartPolicy is not an object",
            ));
        }
    };
    Ok(UpdateRequest {
        memory: int(&body, "Memory")?,
        memory_swap: int(&body, "MemorySwap")?,
        memory_reservation: int(&body, "MemoryReservation")?,
        kernel_memory: int(&body, "KernelMemory")?,
        nano_cpus: int(&body, "NanoCpus")?,
        cpu_shares: int(&body, "CpuShares")?,
        cpu_period: int(&body, "CpuPeriod")?,
        cpu_quota: int(&body, "CpuQuota")?,
        cpuset_cpus: text(&body, "CpusetCpus")?,
        cpuset_mems: text(&body, "CpusetMems")?,
        pids_limit: match body.get("PidsLimit") {
            None | Some(Value::Null) => None,
            Some(_) => Some(int(&body, "PidsLimit")?),
        },
        blkio_weight: int(&body, "BlkioWeight")?,
        restart_policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_body_parses_and_zero_fields_are_ignored() {
        // What `docker update --memory 64m --memory-swap 128m --cpus 0.5
        // --pids-limit 20 --restart on-failure:3` sends (abridged zeros).
        let req = parse(
            br#"{"BlkioWeight":0,"BlkioWeightDevice":null,"CgroupParent":"","CpuPeriod":0,
            "CpuQuota":0,"CpuShares":0,"CpusetCpus":"","Devices":null,"Memory":67108864,
            "MemorySwap":134217728,"NanoCpus":500000000,"OomKillDisable":null,"PidsLimit":20,
            "Ulimits":null,"MemorySwappiness":null,
            "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
        )
        .expect("parsed");
        assert_eq!(req.memory, 64 << 20);
        assert_eq!(req.memory_swap, 128 << 20);
        assert_eq!(req.nano_cpus, 500_000_000);
        assert_eq!(req.pids_limit, Some(20));
        assert_eq!(req.restart_policy, Some(("on-failure".into(), 3)));
        assert_eq!(parse(b"").expect("empty"), UpdateRequest::default());
    }

    #[test]
    fn fields_skiffd_does_not_apply_are_refused_by_name() {
        let err = parse(br#"{"Memory":0,"OomKillDisable":true,"Ulimits":[{"Name":"nofile"}]}"#)
            .expect_err("refused");
        assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message,
            "skiffd does not support updating OomKillDisable, Ulimits"
        );
    }
}
