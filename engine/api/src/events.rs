//! `GET /events`: past events since `since`, then live ones until `until`
//! (or forever), as a stream of JSON lines, filtered as docker filters them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use crate::call::Call;
use crate::error::ApiError;
use crate::query::Filters;
use crate::response::{self, Response};
use skiff_engine::daemon::Daemon;
use skiff_engine::events::{Event, EventType, now_nanos};
use skiff_engine::streams::receiver_stream;

/// A parsed events request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Nanoseconds since the epoch.
    pub since: Option<i64>,
    /// Nanoseconds since the epoch.
    pub until: Option<i64>,
    /// Filters.
    pub filters: Filters,
}

/// Parse docker's timestamp forms (`moby/api/types/time.GetTimestamp`): unix
/// seconds with an optional fraction, RFC 3339, or a Go duration meaning
/// "that long ago". Returns nanoseconds since the epoch.
pub fn parse_timestamp(value: &str, now: i64) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid timestamp {value:?}"));
    if let Some(d) = parse_duration(value) {
        return now.checked_sub(d).ok_or_else(bad);
    }
    if let Ok(t) =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
    {
        return i64::try_from(t.unix_timestamp_nanos()).map_err(|_| bad());
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos = if frac.is_empty() {
        0
    } else {
        // moby scales the fraction by 10^(9 - digits), whatever its length.
        let n: i64 = frac.parse().map_err(|_| bad())?;
        (n as f64 * 10f64.powi(9 - frac.len() as i32)) as i64
    };
    // Beyond ±292 years from 1970 nanoseconds overflow an i64.
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

/// A Go duration (`90s`, `1h30m`, `500ms`), in nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    skiff_engine::containers::health::state::parse_go_duration(s)
}

/// Parse an events request.
pub fn parse(call: &Call, now: i64) -> Result<Request, ApiError> {
    if call.method != Method::GET || call.path.trim_end_matches('/') != "/events" {
        return Err(ApiError::not_found("page not found"));
    }
    let since = call
        .query
        .non_empty("since")
        .map(|v| parse_timestamp(v, now))
        .transpose()?;
    let until = call
        .query
        .non_empty("until")
        .map(|v| parse_timestamp(v, now))
        .transpose()?;
    let filters = call.query.filters()?;
    filters.only(&[
        "type",
        "event",
        "image",
        "container",
        "label",
        "scope",
        "daemon",
        "network",
        "volume",
        "plugin",
        "node",
        "service",
        "secret",
        "config",
    ])?;
    Ok(Request {
        since,
        until,
        filters,
    })
}

/// Whether `e` passes docker's event filters (moby's `events.Filter`):
/// `container=` matches any event whose actor id or `name` starts with the
/// value; `image=` matches image events by id or name and container events
/// by their `image`, with or without the tag; `event=exec_create`,
/// `exec_start` and `health_status` match the actions that start with them
/// (`exec_create: sh -c …`).
pub fn matches(f: &Filters, e: &Event) -> bool {
    let any = |key: &str, ok: &dyn Fn(&str) -> bool| {
        f.get(key).is_empty() || f.get(key).iter().any(|v| ok(v))
    };
    let attr = |k: &str| e.attributes.get(k).map(String::as_str).unwrap_or_default();
    let name = attr("name");
    let fuzzy_event = f
        .get("event")
        .iter()
        .any(|v| matches!(v.as_str(), "exec_create" | "exec_start" | "health_status"));
    let strip_tag = |s: &str| -> String {
        let s = s.split('@').next().unwrap_or(s);
        match s.rfind(':') {
            Some(i) if !s[i..].contains('/') => s[..i].to_owned(),
            _ => s.to_owned(),
        }
    };
    let image_name = if e.kind == EventType::Image {
        name
    } else {
        attr("image")
    };
    any("type", &|v| v == e.kind.as_str())
        && any("event", &|v| {
            v == e.action || (fuzzy_event && e.action.starts_with(v))
        })
        && any("scope", &|v| v == "local")
        && any("image", &|v| {
            v == e.actor
                || (!image_name.is_empty() && (v == image_name || v == strip_tag(image_name)))
                || v == strip_tag(&e.actor)
                || (e.kind == EventType::Image && e.actor.starts_with(v))
        })
        && any("container", &|v| {
            e.actor.starts_with(v) || (!name.is_empty() && name.starts_with(v))
        })
        && any("volume", &|v| e.actor.starts_with(v))
        && f.get("label").iter().all(|l| match l.split_once('=') {
            Some((k, v)) => e.attributes.get(k).map(String::as_str) == Some(v),
            None => e.attributes.contains_key(l.as_str()),
        })
}

/// The JSON docker sends for an event: with the deprecated top-level
/// `status` and `id` for container and image events, and `from` (the
/// image) for container events that name one, as moby's `events.Log`.
pub fn event_json(e: &Event) -> serde_json::Value {
    let mut v = json!({
        "Type": e.kind.as_str(),
        "Action": e.action,
        "Actor": { "ID": e.actor, "Attributes": e.attributes },
        "scope": "local",
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    });
    if matches!(e.kind, EventType::Container | EventType::Image) {
        v["status"] = json!(e.action);
        v["id"] = json!(e.actor);
    }
    if e.kind == EventType::Container {
        if let Some(image) = e.attributes.get("image").filter(|i| !i.is_empty()) {
            v["from"] = json!(image);
        }
    }
    v
}

/// Handle `GET /events`.
pub async fn handle(daemon: &Arc<Daemon>, call: &Call) -> Result<Response, ApiError> {
    let now = now_nanos();
    let req = parse(call, now)?;
    let (past, mut live) = daemon.events.subscribe(req.since);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let line = |e: &Event| {
        let mut b = serde_json::to_vec(&event_json(e)).unwrap_or_default();
        b.push(b'\n');
        Ok(Bytes::from(b))
    };
    tokio::spawn(async move {
        let until = req.until;
        for e in past
            .iter()
            .filter(|e| until.is_none_or(|u| e.time_nano <= u) && matches(&req.filters, e))
        {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until
            .map(|u| tokio::time::Instant::now() + Duration::from_nanos((u - now).max(0) as u64));
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            tokio::select! {
                got = next => match got {
                    None => return, // until reached
                    Some(Ok(e)) => {
                        if matches(&req.filters, &e) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => tracing::warn!("events subscriber lagged by {n} events"),
                    Some(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let mut resp = response::stream("application/json", receiver_stream(rx));
    *resp.status_mut() = StatusCode::OK;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn timestamps_in_every_docker_form() {
        let now = 1_000_000_000_000_000_000;
        assert_eq!(
            parse_timestamp("1700000000", now).expect("secs"),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_timestamp("1700000000.5", now).expect("frac"),
            1_700_000_000_500_000_000
        );
        // bollard sends the whole nanosecond timestamp as the fraction.
        assert_eq!(
            parse_timestamp("1795865385.1795865385193092339", now).expect("long frac"),
            1_795_865_385_179_586_538
        );
        assert_eq!(
            parse_timestamp("10m", now).expect("duration"),
            now - 600_000_000_000
        );
        assert_eq!(
            parse_timestamp("1h30m", now).expect("duration"),
            now - 5_400_000_000_000
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:10Z", now).expect("rfc3339"),
            10_000_000_000
        );
        assert!(parse_timestamp("yesterday", now).is_err());
    }

    /// Timestamps whose nanoseconds overflow an i64 panicked
    /// (`/events?since=9999999999999` dropped the connection, found by
    /// tests/tests/hostile_input.rs) or wrapped; they are refused with a 400.
    #[test]
    fn timestamps_out_of_range_are_refused() {
        let now = 1_700_000_000_000_000_000;
        for bad in [
            "9999999999999",
            "-9999999999999",
            "9223372036.999999999",
            "9999-12-31T23:59:59Z",
            "99999999999h",
        ] {
            let e = parse_timestamp(bad, now).expect_err(bad);
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.message, format!("invalid timestamp {bad:?}"));
        }
        assert!(parse_timestamp("1s", i64::MIN).is_err());
    }

    #[test]
    fn filters_select_by_type_action_image_and_label() {
        let e = Event {
            kind: EventType::Image,
            action: "pull".into(),
            actor: "busybox:latest".into(),
            attributes: BTreeMap::from([("name".into(), "busybox".into())]),
            time_nano: 1,
        };
        let f = |raw: &str| Filters::parse(raw).expect("filters");
        assert!(matches(&f("{}"), &e));
        assert!(matches(
            &f(r#"{"type":["image"],"event":["pull","tag"]}"#),
            &e
        ));
        assert!(!matches(&f(r#"{"type":["container"]}"#), &e));
        assert!(matches(&f(r#"{"image":["busybox"]}"#), &e));
        assert!(!matches(&f(r#"{"image":["alpine"]}"#), &e));
        assert!(matches(&f(r#"{"label":["name=busybox"]}"#), &e));
        assert!(!matches(&f(r#"{"label":["missing"]}"#), &e));
        let c = Event {
            kind: EventType::Container,
            action: "exec_create: sh -c true".into(),
            actor: "abcdef".into(),
            attributes: BTreeMap::from([
                ("name".into(), "web1".into()),
                ("image".into(), "busybox:latest".into()),
            ]),
            time_nano: 2,
        };
        assert!(matches(&f(r#"{"event":["exec_create"]}"#), &c));
        assert!(!matches(&f(r#"{"event":["exec_die"]}"#), &c));
        assert!(matches(&f(r#"{"container":["web"]}"#), &c));
        assert!(
            !matches(&f(r#"{"volume":["web"]}"#), &c),
            "volume= filters every type"
        );
        assert!(matches(&f(r#"{"container":["abc"]}"#), &c));
        assert!(!matches(&f(r#"{"container":["db"]}"#), &c));
        assert!(
            !matches(&f(r#"{"container":["web"]}"#), &e),
            "image events are not a container's"
        );
        assert!(matches(&f(r#"{"image":["busybox"]}"#), &c));
        assert!(matches(&f(r#"{"image":["busybox:latest"]}"#), &c));
        assert!(!matches(&f(r#"{"image":["alpine"]}"#), &c));
        let j = event_json(&e);
        assert_eq!(j["Type"], "image");
        assert_eq!(j["Actor"]["Attributes"]["name"], "busybox");
        assert_eq!(j["timeNano"], 1);
        assert_eq!(j["status"], j["Action"], "deprecated fields of images");
        assert!(j.get("from").is_none());
        let j = event_json(&c);
        assert_eq!(j["from"], "busybox:latest");
        assert_eq!(j["id"], "abcdef");
    }
}
