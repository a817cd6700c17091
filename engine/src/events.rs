//! The events service: what `docker events` shows. Services publish events
//! typed by the object they are about ([`EventType`]); subscribers get past
//! events (a bounded in-memory history, as dockerd keeps) and live ones.
//!
//! The history outlives the bursts that fill it, so it is kept small and
//! packed: the last 256 events (dockerd's `eventsLimit`), each in
//! one allocation. An [`Event`] is a dozen small allocations (strings, a
//! map's nodes); a thousand of them made at a load's peak were scattered
//! over the whole heap and kept ~15 MiB of freed memory resident after it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

/// Past events kept for `since` replays (dockerd's `eventsLimit`).
const HISTORY: usize = 256;
/// Live events buffered per subscriber before it lags (dockerd's `bufferSize`).
const LIVE_BUFFER: usize = 1024;

/// The kind of object an event is about: docker's event `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A container (`create`, `start`, `die`, `exec_start: …`, …).
    Container,
    /// An image (`pull`, `tag`, `untag`, `delete`, `load`, …).
    Image,
    /// A volume (`create`, `mount`, `unmount`, `destroy`, …).
    Volume,
    /// A network (`create`, `connect`, `disconnect`, `destroy`, …).
    Network,
    /// The daemon itself (`reload`).
    Daemon,
    /// The builder (`prune`).
    Builder,
}

impl EventType {
    /// Docker's word for it, as in the event's `Type` and the `type` filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Image => "image",
            Self::Volume => "volume",
            Self::Network => "network",
            Self::Daemon => "daemon",
            Self::Builder => "builder",
        }
    }
}

/// One event. The action and attributes are docker's words for them, free
/// text where docker's are (`exec_start: sh -c …`, `health_status: healthy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What kind of object it is about.
    pub kind: EventType,
    /// `pull`, `tag`, `delete`, …
    pub action: String,
    /// The object's id (or reference, for pulls).
    pub actor: String,
    /// Actor attributes (`name`, labels, …).
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

/// The event bus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    history: Mutex<VecDeque<Packed>>,
    live: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Events {
    /// An empty bus.
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Self {
            inner: Arc::new(Inner {
                history: Mutex::new(VecDeque::with_capacity(HISTORY)),
                live,
            }),
        }
    }

    /// Publish an event now.
    pub fn publish(&self, kind: EventType, action: &str, actor: &str, attributes: &[(&str, &str)]) {
        let event = Event {
            kind,
            action: action.to_owned(),
            actor: actor.to_owned(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            time_nano: now_nanos(),
        };
        let mut history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(Packed::pack(&event));
        // Sent under the history lock, so a subscriber sees each event exactly once.
        let _ = self.inner.live.send(event);
    }

    /// How many subscribers follow the live events now (`/info`'s
    /// `NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.inner.live.receiver_count()
    }

    /// Past events at or after `since` (nanoseconds), and a receiver of the
    /// events published after them.
    pub fn subscribe(&self, since: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        let past = match since {
            Some(s) => history
                .iter()
                .filter(|e| e.time_nano >= s)
                .map(Packed::unpack)
                .collect(),
            None => Vec::new(),
        };
        (past, self.inner.live.subscribe())
    }
}

/// A past event in one allocation: its strings one after the other, each
/// after its length (`usize`, native endian) — the action, the actor, then
/// each attribute's key and value.
#[derive(Debug)]
struct Packed {
    kind: EventType,
    time_nano: i64,
    fields: Box<[u8]>,
}

impl Packed {
    fn pack(e: &Event) -> Self {
        let strings = [e.action.as_str(), e.actor.as_str()].into_iter().chain(
            e.attributes
                .iter()
                .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        );
        let len = strings.clone().map(|s| size_of::<usize>() + s.len()).sum();
        let mut fields = Vec::with_capacity(len);
        for s in strings {
            fields.extend_from_slice(&s.len().to_ne_bytes());
            fields.extend_from_slice(s.as_bytes());
        }
        Self {
            kind: e.kind,
            time_nano: e.time_nano,
            fields: fields.into_boxed_slice(),
        }
    }

    fn unpack(&self) -> Event {
        let mut rest = &self.fields[..];
        let mut next = || {
            let (len, tail) = rest.split_first_chunk::<{ size_of::<usize>() }>()?;
            let (s, tail) = tail.split_at_checked(usize::from_ne_bytes(*len))?;
            rest = tail;
            Some(String::from_utf8_lossy(s).into_owned())
        };
        let action = next().unwrap_or_default();
        let actor = next().unwrap_or_default();
        let mut attributes = BTreeMap::new();
        while let (Some(k), Some(v)) = (next(), next()) {
            attributes.insert(k, v);
        }
        Event {
            kind: self.kind,
            action,
            actor,
            attributes,
            time_nano: self.time_nano,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replays_since_and_delivers_live_events_once() {
        let bus = Events::new();
        bus.publish(
            EventType::Image,
            "pull",
            "busybox:latest",
            &[("name", "busybox")],
        );
        let mid = now_nanos();
        bus.publish(EventType::Image, "tag", "sha256:x", &[("name", "a:1")]);
        let (past, mut live) = bus.subscribe(Some(mid));
        assert_eq!(
            past.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["tag"]
        );
        bus.publish(EventType::Image, "delete", "sha256:x", &[]);
        let e = live.recv().await.expect("live event");
        assert_eq!((e.kind, e.action.as_str()), (EventType::Image, "delete"));
        assert!(live.try_recv().is_err(), "nothing twice");
        let (none, _) = bus.subscribe(None);
        assert!(none.is_empty());
    }

    #[test]
    fn a_packed_event_unpacks_unchanged() {
        let e = Event {
            kind: EventType::Container,
            action: "exec_start: sh -c 'echo é'".into(),
            actor: "abc".into(),
            attributes: [("name", "web"), ("", ""), ("label.x", "a\0b")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            time_nano: 42,
        };
        assert_eq!(Packed::pack(&e).unpack(), e);
        let bare = Event {
            attributes: BTreeMap::new(),
            action: String::new(),
            ..e
        };
        assert_eq!(Packed::pack(&bare).unpack(), bare);
    }

    #[test]
    fn the_history_keeps_the_last_events_only() {
        let bus = Events::new();
        for n in 0..HISTORY + 10 {
            bus.publish(EventType::Volume, "create", &n.to_string(), &[]);
        }
        let (past, _) = bus.subscribe(Some(0));
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].actor, "10");
        assert_eq!(past[HISTORY - 1].actor, (HISTORY + 9).to_string());
    }
}
