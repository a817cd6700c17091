//! The one background task that follows the engine's `/events`: every
//! event goes to the UI as `engine-event`, every change of reachability as
//! `engine-state`. When the engine goes away it retries with backoff
//! (250 ms doubling to 5 s), or at once when told to reconnect (the
//! machine changed state).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::Notify;

use super::{Engine, EngineStatus};

/// First retry delay after the engine went away.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// An `engine-event`: docker's event message, with docker's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineEvent {
    /// `container`, `image`, `network`, ...
    #[serde(rename = "Type")]
    pub typ: String,
    /// `create`, `start`, `die`, `pull`, `delete`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// What the event is about.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Unix seconds.
    pub time: i64,
}

/// The object of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// Container id, image reference, ...
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, labels, ...
    #[serde(rename = "Attributes")]
    pub attributes: HashMap<String, String>,
}

impl From<EventMessage> for EngineEvent {
    fn from(m: EventMessage) -> Self {
        let actor = m.actor.unwrap_or_default();
        EngineEvent {
            typ: m.typ.map(|t| t.to_string()).unwrap_or_default(),
            action: m.action.unwrap_or_default(),
            actor: Actor {
                id: actor.id.unwrap_or_default(),
                attributes: actor.attributes.unwrap_or_default(),
            },
            time: m.time.unwrap_or_default(),
        }
    }
}

/// Where the watcher sends what it sees.
#[derive(Clone)]
pub struct Sinks {
    /// Each engine event.
    pub event: Arc<dyn Fn(EngineEvent) + Send + Sync>,
    /// The engine's status, first and whenever reachability or the
    /// endpoint changes.
    pub state: Arc<dyn Fn(EngineStatus) + Send + Sync>,
}

impl Sinks {
    /// Sinks that send everything to `self`, then to `other` (e.g. the
    /// UI's and the tray's, fed by one follower).
    pub fn and(self, other: Sinks) -> Sinks {
        let (event_a, state_a) = (self.event, self.state);
        let (event_b, state_b) = (other.event, other.state);
        Sinks {
            event: Arc::new(move |event: EngineEvent| {
                event_a(event.clone());
                event_b(event);
            }),
            state: Arc::new(move |status: EngineStatus| {
                state_a(status.clone());
                state_b(status);
            }),
        }
    }
}

/// Runs at each (re)connection, before the events stream opens: reads
/// what the events will then keep up to date (e.g. the container list).
pub type OnConnect = Arc<dyn Fn(Engine) -> BoxFuture<'static, ()> + Send + Sync>;

/// How far back the events of a stream opened after an [`OnConnect`]
/// snapshot start: the engine replays them from its history, so nothing
/// that happened while the snapshot was read is missed (the engine's clock
/// may run a little behind or ahead of this computer's).
pub const SNAPSHOT_MARGIN_SECS: i64 = 5;

/// Follows the engine's events forever (spawn it; abort it to stop).
pub async fn watch(engine: Engine, sinks: Sinks, reconnect: Arc<Notify>) {
    follow(engine, sinks, reconnect, None).await;
}

/// [`watch`], with `on_connect` run at every (re)connection before the
/// stream opens; the stream then starts [`SNAPSHOT_MARGIN_SECS`] before
/// the snapshot, so applying its events in order to the snapshot gives the
/// engine's state (a replayed event is one the snapshot may already show:
/// applying it again, and those after it, ends in the same state).
pub async fn follow(
    engine: Engine,
    sinks: Sinks,
    reconnect: Arc<Notify>,
    on_connect: Option<OnConnect>,
) {
    let mut last: Option<(bool, String)> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        let status = engine.status().await;
        let key = (status.reachable, status.endpoint.clone());
        let reachable = status.reachable;
        if last.as_ref() != Some(&key) {
            last = Some(key);
            (sinks.state)(status);
        }
        if !reachable {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = reconnect.notified() => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        backoff = BACKOFF_MIN;
        let conn = match engine.connection().await {
            Ok(conn) => conn,
            Err(_) => continue,
        };
        let options = match &on_connect {
            Some(snapshot) => {
                let since = unix_now() - SNAPSHOT_MARGIN_SECS;
                snapshot(engine.clone()).await;
                Some(EventsOptions {
                    since: Some(since.to_string()),
                    ..Default::default()
                })
            }
            None => None,
        };
        let mut stream = conn.docker.events(options);
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(message)) => (sinks.event)(message.into()),
                    // The engine went away (or closed the stream).
                    Some(Err(_)) | None => break,
                },
                () = reconnect.notified() => break,
            }
        }
        engine.forget();
    }
}

/// Seconds since the Unix epoch on this computer's clock.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use bollard::models::{EventActor, EventMessageTypeEnum};

    use super::*;

    #[test]
    fn events_keep_dockers_field_names() {
        let event: EngineEvent = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(HashMap::from([("name".into(), "web".into())])),
            }),
            time: Some(1_700_000_000),
            ..Default::default()
        }
        .into();
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({
                "Type": "container",
                "Action": "start",
                "Actor": { "ID": "abc", "Attributes": { "name": "web" } },
                "time": 1_700_000_000
            })
        );
    }

    #[test]
    fn joined_sinks_feed_both_in_order() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sinks = |name: &'static str| {
            let (events, states) = (seen.clone(), seen.clone());
            Sinks {
                event: Arc::new(move |e: EngineEvent| {
                    events
                        .lock()
                        .expect("lock")
                        .push(format!("{name} {}", e.action))
                }),
                state: Arc::new(move |s: EngineStatus| {
                    states
                        .lock()
                        .expect("lock")
                        .push(format!("{name} {}", s.reachable))
                }),
            }
        };
        let both = sinks("ui").and(sinks("tray"));
        (both.event)(EngineEvent {
            typ: "container".into(),
            action: "start".into(),
            actor: Actor {
                id: "a".into(),
                attributes: HashMap::new(),
            },
            time: 1,
        });
        (both.state)(EngineStatus {
            reachable: true,
            endpoint: String::new(),
            version: None,
            error: None,
        });
        assert_eq!(
            *seen.lock().expect("lock"),
            ["ui start", "tray start", "ui true", "tray true"]
        );
    }

    #[tokio::test]
    async fn an_absent_engine_is_reported_once_while_retrying() {
        let engine = Engine::fixed("unix:///nonexistent/skiff-events.sock");
        let states = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = states.clone();
        let sinks = Sinks {
            event: Arc::new(|_| {}),
            state: Arc::new(move |s| seen.lock().expect("lock").push(s)),
        };
        let reconnect = Arc::new(Notify::new());
        let task = tokio::spawn(watch(engine, sinks, reconnect.clone()));
        tokio::time::sleep(Duration::from_millis(900)).await;
        reconnect.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
        task.abort();
        let states = states.lock().expect("lock");
        assert_eq!(states.len(), 1, "{states:?}");
        assert!(!states[0].reachable);
    }
}
