//! The containers the tray shows: how many run, and the last few created
//! (docker's `ps -a --last N` order, newest first), kept from one list
//! read at (re)connection and then only from the engine's `/events`.

use std::collections::HashMap;

use crate::engine::containers::Container;
use crate::engine::events::EngineEvent;

/// How many containers the tray's menu lists.
pub const SHOWN: usize = 5;

/// A container as the tray knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The full id.
    pub id: String,
    /// The name, without docker's leading `/`.
    pub name: String,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `dead`.
    pub state: String,
    /// Unix seconds.
    pub created: i64,
    /// Creation order among containers of the same second: the list's
    /// order (the engine lists newest first), then the order of `create`
    /// events; larger is newer.
    pub seq: u64,
}

impl Known {
    /// Whether it runs (paused counts: it holds its processes).
    pub fn is_running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "restarting")
    }
}

/// Every container of the engine, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recent {
    by_id: HashMap<String, Known>,
    next_seq: u64,
}

impl Recent {
    /// The containers of a list read from the engine (newest first, as
    /// the engine lists them).
    pub fn from_list(list: &[Container]) -> Recent {
        let by_id = list
            .iter()
            .rev()
            .zip(0..)
            .map(|(c, seq)| {
                let known = Known {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    state: c.state.clone(),
                    created: c.created,
                    seq,
                };
                (c.id.clone(), known)
            })
            .collect();
        Recent {
            by_id,
            next_seq: list.len() as u64,
        }
    }

    /// Applies a container event (others are ignored); true when what the
    /// tray shows may have changed. An event for a container not known
    /// (its `create` came before the list) adds it.
    pub fn apply(&mut self, event: &EngineEvent) -> bool {
        if event.typ != "container" || event.actor.id.is_empty() {
            return false;
        }
        let id = &event.actor.id;
        let state = match event.action.as_str() {
            "destroy" => return self.by_id.remove(id).is_some(),
            "create" => "created",
            "start" | "restart" | "unpause" => "running",
            "pause" => "paused",
            "die" | "stop" => "exited",
            "rename" => "",
            _ => return false,
        };
        let name = event.actor.attributes.get("name").cloned();
        let seq = self.next_seq;
        let known = self.by_id.entry(id.clone()).or_insert_with(|| Known {
            id: id.clone(),
            name: String::new(),
            state: "created".to_string(),
            created: event.time,
            seq,
        });
        if known.seq == seq {
            self.next_seq += 1;
        }
        if event.action == "create" {
            known.created = event.time;
        }
        if let Some(name) = name {
            known.name = name;
        }
        if !state.is_empty() {
            known.state = state.to_string();
        }
        true
    }

    /// How many containers run.
    pub fn running(&self) -> usize {
        self.by_id.values().filter(|c| c.is_running()).count()
    }

    /// How many containers there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The `n` newest containers (by creation second, then creation
    /// order), newest first.
    pub fn last(&self, n: usize) -> Vec<Known> {
        let mut all: Vec<&Known> = self.by_id.values().collect();
        all.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.seq.cmp(&a.seq)));
        all.into_iter().take(n).cloned().collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::engine::events::Actor;

    pub(crate) fn row(id: &str, name: &str, state: &str, created: i64) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            state: state.into(),
            status: String::new(),
            created,
            ports: String::new(),
            published: Vec::new(),
            project: None,
            service: None,
            health: None,
        }
    }

    pub(crate) fn event(action: &str, id: &str, name: &str, time: i64) -> EngineEvent {
        EngineEvent {
            typ: "container".into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes: HashMap::from([("name".into(), name.into())]),
            },
            time,
        }
    }

    #[test]
    fn the_list_then_events_keep_count_and_order() {
        let mut recent = Recent::from_list(&[
            row("a", "old", "exited", 10),
            row("b", "web", "running", 20),
        ]);
        assert_eq!(recent.running(), 1);
        assert!(recent.apply(&event("create", "c", "new", 30)));
        assert!(recent.apply(&event("start", "c", "new", 31)));
        assert_eq!(recent.running(), 2);
        let names: Vec<String> = recent.last(2).into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["new", "web"]);
        assert!(recent.apply(&event("die", "b", "web", 40)));
        assert!(recent.apply(&event("rename", "b", "front", 41)));
        assert_eq!(recent.running(), 1);
        assert_eq!(recent.last(5)[1].name, "front");
        assert_eq!(recent.last(5)[1].state, "exited");
        assert!(recent.apply(&event("destroy", "c", "new", 50)));
        assert!(!recent.apply(&event("destroy", "c", "new", 51)));
        assert_eq!(recent.len(), 2);
        assert_eq!(recent.running(), 0);
    }

    #[test]
    fn containers_of_one_second_keep_the_engines_order() {
        // Listed newest first, all created in the same second.
        let mut recent = Recent::from_list(&[
            row("z", "third", "created", 7),
            row("a", "second", "created", 7),
            row("m", "first", "created", 7),
        ]);
        recent.apply(&event("create", "b", "fourth", 7));
        let names: Vec<String> = recent.last(5).into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["fourth", "third", "second", "first"]);
    }

    #[test]
    fn other_events_change_nothing() {
        let mut recent = Recent::from_list(&[row("a", "web", "running", 1)]);
        let before = recent.clone();
        let mut image = event("pull", "busybox", "busybox", 2);
        image.typ = "image".into();
        assert!(!recent.apply(&image));
        assert!(!recent.apply(&event("exec_start: sh", "a", "web", 3)));
        assert!(!recent.apply(&event("attach", "a", "web", 3)));
        assert_eq!(recent, before);
    }

    #[test]
    fn replayed_events_end_in_the_engines_state() {
        // The list already shows the result of the events replayed after it.
        let mut recent = Recent::from_list(&[row("c", "job", "exited", 30)]);
        for e in [
            event("create", "c", "job", 30),
            event("start", "c", "job", 31),
            event("die", "c", "job", 32),
        ] {
            recent.apply(&e);
        }
        assert_eq!(recent, Recent::from_list(&[row("c", "job", "exited", 30)]));
        // A container created and removed in the window is not kept.
        recent.apply(&event("create", "d", "tmp", 33));
        recent.apply(&event("destroy", "d", "tmp", 34));
        assert_eq!(recent.len(), 1);
    }
}
