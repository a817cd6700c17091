//! The guest's table of published ports, and the seam that fills it.
//!
//! A [`PortSource`] (in the VM: skiffd's events — container start/die and
//! the inspected `NetworkSettings.Ports` — or a port table skiffd exposes;
//! in tests: a fake) yields [`PortChange`]s; [`follow`] applies them to a
//! [`PortTable`]; every relay session's publication stream
//! ([`crate::ports`]) watches the table and sends the host the difference.
//! No polling: the table changes when the source says so.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use tokio::sync::watch;

use crate::ports::Publication;

/// One change of a container's published ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortChange {
    /// The container (by id) publishes exactly these ports now (a start,
    /// or a changed inspect).
    Published {
        /// The container's id.
        container: String,
        /// Its published ports.
        ports: Vec<Publication>,
    },
    /// The container publishes nothing any more (it died or was removed).
    Gone {
        /// The container's id.
        container: String,
    },
}

/// Where port changes come from.
pub trait PortSource: Send {
    /// The next change; `None` when the source ended (the engine went away;
    /// the caller decides whether to resubscribe).
    fn next_change(&mut self) -> impl Future<Output = Option<PortChange>> + Send;
}

/// Ports a `tokio::sync::mpsc` channel delivers (tests, or an event loop
/// feeding the channel).
impl PortSource for tokio::sync::mpsc::Receiver<PortChange> {
    fn next_change(&mut self) -> impl Future<Output = Option<PortChange>> + Send {
        self.recv()
    }
}

/// The ports published in the guest, per container. Cheap to clone; all
/// clones share one table.
#[derive(Debug, Clone)]
pub struct PortTable {
    tx: watch::Sender<BTreeMap<String, BTreeSet<Publication>>>,
}

impl Default for PortTable {
    fn default() -> Self {
        PortTable::new()
    }
}

impl PortTable {
    /// An empty table.
    pub fn new() -> PortTable {
        PortTable {
            tx: watch::Sender::new(BTreeMap::new()),
        }
    }

    /// Applies one change; watchers are woken only when the set of
    /// published ports changed.
    pub fn apply(&self, change: PortChange) {
        self.tx.send_if_modified(|table| match change {
            PortChange::Published { container, ports } => {
                let ports: BTreeSet<Publication> = ports.into_iter().collect();
                if ports.is_empty() {
                    table.remove(&container).is_some()
                } else if table.get(&container) == Some(&ports) {
                    false
                } else {
                    table.insert(container, ports);
                    true
                }
            }
            PortChange::Gone { container } => table.remove(&container).is_some(),
        });
    }

    /// Every port published now, over all containers.
    pub fn current(&self) -> BTreeSet<Publication> {
        union(&self.tx.borrow())
    }

    /// A watcher of the table.
    pub fn watch(&self) -> PortWatch {
        PortWatch {
            rx: self.tx.subscribe(),
        }
    }
}

/// Watches a [`PortTable`].
#[derive(Debug)]
pub struct PortWatch {
    rx: watch::Receiver<BTreeMap<String, BTreeSet<Publication>>>,
}

impl PortWatch {
    /// The published ports now, marking them seen.
    pub fn current(&mut self) -> BTreeSet<Publication> {
        union(&self.rx.borrow_and_update())
    }

    /// Waits until the table changed since the last [`PortWatch::current`],
    /// then returns the new set. Never returns while the table lives.
    pub async fn changed(&mut self) -> BTreeSet<Publication> {
        if self.rx.changed().await.is_err() {
            // The table is gone: nothing will change any more.
            std::future::pending::<()>().await;
        }
        self.current()
    }
}

fn union(table: &BTreeMap<String, BTreeSet<Publication>>) -> BTreeSet<Publication> {
    table.values().flatten().copied().collect()
}

/// Applies every change `source` yields to `table`; returns when the source
/// ends.
pub async fn follow<S: PortSource>(mut source: S, table: &PortTable) {
    while let Some(change) = source.next_change().await {
        tracing::debug!(?change, "published ports changed");
        table.apply(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;

    fn tcp(port: u16) -> Publication {
        Publication {
            proto: Proto::Tcp,
            host_ip: None,
            port,
        }
    }

    #[tokio::test]
    async fn changes_from_a_source_reach_a_watcher() {
        let table = PortTable::new();
        let mut watch = table.watch();
        assert!(watch.current().is_empty());
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let following = {
            let table = table.clone();
            tokio::spawn(async move { follow(rx, &table).await })
        };
        tx.send(PortChange::Published {
            container: "a".into(),
            ports: vec![tcp(80), tcp(443)],
        })
        .await
        .expect("send");
        assert_eq!(watch.changed().await, [tcp(80), tcp(443)].into());
        tx.send(PortChange::Published {
            container: "b".into(),
            ports: vec![tcp(80), tcp(8080)],
        })
        .await
        .expect("send");
        assert_eq!(watch.changed().await, [tcp(80), tcp(443), tcp(8080)].into());
        tx.send(PortChange::Gone {
            container: "a".into(),
        })
        .await
        .expect("send");
        assert_eq!(watch.changed().await, [tcp(80), tcp(8080)].into());
        drop(tx);
        following.await.expect("follow ends with its source");
        assert_eq!(table.current(), [tcp(80), tcp(8080)].into());
    }

    #[test]
    fn unchanged_ports_do_not_wake_watchers() {
        let table = PortTable::new();
        let mut watch = table.watch();
        table.apply(PortChange::Published {
            container: "a".into(),
            ports: vec![tcp(80)],
        });
        assert_eq!(watch.current(), [tcp(80)].into());
        table.apply(PortChange::Published {
            container: "a".into(),
            ports: vec![tcp(80)],
        });
        table.apply(PortChange::Gone {
            container: "nobody".into(),
        });
        assert!(!watch.rx.has_changed().expect("table alive"));
        table.apply(PortChange::Published {
            container: "a".into(),
            ports: vec![],
        });
        assert!(watch.current().is_empty());
    }
}
