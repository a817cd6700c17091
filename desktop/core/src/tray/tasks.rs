//! What keeps a [`Tray`] current: the machine's state (read every
//! [`MACHINE_POLL`] — the manager has no push API) and the engine's
//! `/events` (the containers are listed once per connection, then kept
//! from the events; nothing polls the engine).
//!
//! [`spawn`] runs all of it for a program that is only a tray
//! (`skiff-tray`); the app, whose follower also feeds its UI, takes the
//! pieces: [`follower`] and [`poll_machine`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::Tray;
use crate::engine::Engine;
use crate::engine::events::{self, EngineEvent, OnConnect, Sinks};
use crate::machine::Machine;

/// How often the machine's state is read.
pub const MACHINE_POLL: Duration = Duration::from_secs(2);

/// What an `/events` follower needs to keep `tray` current: sinks that
/// apply each event to its containers and record the engine's
/// reachability, and the snapshot (one container list) to take at each
/// connection before the events stream opens.
pub fn follower(tray: &Arc<Tray>) -> (Sinks, OnConnect) {
    let event_tray = tray.clone();
    let state_tray = tray.clone();
    let sinks = Sinks {
        event: Arc::new(move |event: EngineEvent| event_tray.apply_event(&event)),
        state: Arc::new(move |status| state_tray.set_engine_reachable(status.reachable)),
    };
    let snapshot_tray = tray.clone();
    let on_connect: OnConnect = Arc::new(move |engine: Engine| {
        let tray = snapshot_tray.clone();
        Box::pin(async move { tray.snapshot(&engine).await })
    });
    (sinks, on_connect)
}

/// Reads the machine's state every [`MACHINE_POLL`], forever (spawn it;
/// subscribers of [`Machine::subscribe`] see the changes).
pub async fn poll_machine(machine: Machine) {
    loop {
        let _ = machine.refresh();
        tokio::time::sleep(MACHINE_POLL).await;
    }
}

/// Spawns the tasks that keep `tray` current on the current tokio runtime.
pub fn spawn(tray: Arc<Tray>, engine: Engine, machine: Machine) {
    let reconnect = Arc::new(Notify::new());
    let (sinks, on_connect) = follower(&tray);
    tokio::spawn(events::follow(
        engine.clone(),
        sinks,
        reconnect.clone(),
        Some(on_connect),
    ));
    tokio::spawn(poll_machine(machine.clone()));

    let mut states = machine.subscribe();
    tokio::spawn(async move {
        tray.refresh();
        while states.changed().await.is_ok() {
            tray.refresh();
            // The machine's socket may now be the best endpoint, or gone.
            engine.forget();
            reconnect.notify_one();
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::engine::EngineStatus;
    use crate::error::Error;
    use crate::machine::MachineState;
    use crate::machine::fake::FakeMachine;
    use crate::tray::menu::{COUNT_ID, Entry};
    use crate::tray::recent::tests::{event, row};
    use crate::tray::{TrayStatus, TrayView};

    /// Keeps the last menu shown.
    #[derive(Default)]
    struct LastMenu(Mutex<Vec<Entry>>);

    impl LastMenu {
        /// The count line and the container submenus' titles.
        fn summary(&self) -> Vec<String> {
            let entries = self.0.lock().expect("lock");
            entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Label { id, text } if id == COUNT_ID => Some(text.clone()),
                    Entry::Submenu { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect()
        }
    }

    impl TrayView for LastMenu {
        fn show_status(&self, _status: &TrayStatus) {}
        fn show_menu(&self, entries: &[Entry]) {
            *self.0.lock().expect("lock") = entries.to_vec();
        }
        fn open_dashboard(&self) {}
        fn quit(&self) {}
        fn report_error(&self, _what: &str, _err: &Error) {}
    }

    fn reachable(reachable: bool) -> EngineStatus {
        EngineStatus {
            reachable,
            endpoint: "unix:///test.sock".into(),
            version: None,
            error: None,
        }
    }

    #[test]
    fn the_followers_sinks_keep_the_menus_containers_from_events() {
        let fake = Arc::new(FakeMachine::stopped());
        fake.set(MachineState::Running);
        let machine = Machine::new(fake);
        machine.refresh().expect("info");
        let view = Arc::new(LastMenu::default());
        let tray = Arc::new(Tray::new(machine, view.clone(), Arc::new(|_| {})));
        let (sinks, _snapshot) = follower(&tray);

        (sinks.state)(reachable(true));
        // Reachable but not listed yet: no count, no containers.
        assert!(view.summary().is_empty());
        tray.set_containers(&[row("a", "db", "running", 1)]);
        assert_eq!(view.summary(), ["1 container running", "db (running)"]);
        (sinks.event)(event("create", "b", "web", 2));
        (sinks.event)(event("start", "b", "web", 3));
        assert_eq!(
            view.summary(),
            ["2 containers running", "web (running)", "db (running)"]
        );
        (sinks.event)(event("die", "a", "db", 4));
        assert_eq!(
            view.summary(),
            ["1 container running", "web (running)", "db (exited)"]
        );
        // A lost engine's containers are forgotten until the next list.
        (sinks.state)(reachable(false));
        assert!(view.summary().is_empty());
        (sinks.event)(event("start", "a", "db", 5));
        assert!(view.summary().is_empty());
    }
}
