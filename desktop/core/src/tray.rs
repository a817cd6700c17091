//! The tray icon: a status icon (running / starting / stopped), a disabled
//! status line, the running container count, Start, Stop, the last
//! containers with Stop and Restart, Open Dashboard and Quit.
//!
//! The logic ([`Tray`]: what the status says, what each menu item does)
//! talks to a [`TrayView`]; the app's `tray::native` (Tauri's tray) and
//! the `skiff-tray` program are the real ones, tests use a recording
//! double. The menu is data ([`menu`]), the containers are kept from the
//! engine's events ([`recent`]). Quit leaves the app only: the machine
//! and its containers keep running.

pub mod menu;
pub mod recent;
pub mod tasks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::engine::Engine;
use crate::engine::containers::{self, Container};
use crate::engine::events::EngineEvent;
use crate::error::{Error, Result};
use crate::machine::{Machine, MachineInfo, MachineState, StartProgress};
use menu::{Command, Entry};
use recent::Recent;

/// Which tray icon to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIconKind {
    /// The engine answers.
    Running,
    /// The machine is booting.
    Starting,
    /// Nothing runs (or the machine is broken).
    Stopped,
}

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayStatus {
    /// The disabled status line (also the tooltip).
    pub text: String,
    /// The icon.
    pub icon: TrayIconKind,
    /// Start is offered.
    pub can_start: bool,
    /// Stop is offered.
    pub can_stop: bool,
}

/// The tray's status for a machine (`None`: no machine, the engine runs on
/// this computer) and the engine's reachability.
pub fn status(machine: Option<&MachineInfo>, engine_reachable: bool) -> TrayStatus {
    let (text, icon, can_start, can_stop) = match machine.map(|m| (m.state, m.reason.as_deref())) {
        Some((MachineState::Running, _)) => (
            "Skiff is running".to_string(),
            TrayIconKind::Running,
            false,
            true,
        ),
        Some((MachineState::Starting, _)) => (
            "Skiff is starting…".to_string(),
            TrayIconKind::Starting,
            false,
            false,
        ),
        Some((MachineState::Stopped, _)) => (
            "Skiff is stopped".to_string(),
            TrayIconKind::Stopped,
            true,
            false,
        ),
        Some((MachineState::Broken, reason)) => (
            match reason {
                Some(reason) => format!("Skiff cannot start: {reason}"),
                None => "Skiff cannot start".to_string(),
            },
            TrayIconKind::Stopped,
            true,
            false,
        ),
        None if engine_reachable => (
            "Engine running on this computer".to_string(),
            TrayIconKind::Running,
            false,
            false,
        ),
        None => (
            "Engine not reachable".to_string(),
            TrayIconKind::Stopped,
            false,
            false,
        ),
    };
    TrayStatus {
        text,
        icon,
        can_start,
        can_stop,
    }
}

/// A menu item of the tray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuAction {
    /// Start the machine.
    Start,
    /// Stop the machine.
    Stop,
    /// Show the main window.
    OpenDashboard,
    /// Leave the app (the machine keeps running).
    Quit,
}

impl MenuAction {
    /// Every item, in menu order.
    pub const ALL: [MenuAction; 4] = [
        MenuAction::Start,
        MenuAction::Stop,
        MenuAction::OpenDashboard,
        MenuAction::Quit,
    ];

    /// The menu item id.
    pub fn id(self) -> &'static str {
        match self {
            MenuAction::Start => "start",
            MenuAction::Stop => "stop",
            MenuAction::OpenDashboard => "open-dashboard",
            MenuAction::Quit => "quit",
        }
    }

    /// The menu item label.
    pub fn label(self) -> &'static str {
        match self {
            MenuAction::Start => "Start",
            MenuAction::Stop => "Stop",
            MenuAction::OpenDashboard => "Open Dashboard",
            MenuAction::Quit => "Quit Skiff",
        }
    }

    /// The action of menu item `id`.
    pub fn from_id(id: &str) -> Option<MenuAction> {
        MenuAction::ALL.into_iter().find(|a| a.id() == id)
    }
}

/// What the tray logic drives: the tray itself and the app around it.
pub trait TrayView: Send + Sync {
    /// Shows `status` (status line, icon, Start/Stop enabled).
    fn show_status(&self, status: &TrayStatus);
    /// Shows, unminimises and focuses the main window.
    fn open_dashboard(&self);
    /// Leaves the app.
    fn quit(&self);
    /// Tells the user an action failed (`what`: the action, in a few
    /// words).
    fn report_error(&self, what: &str, err: &Error);
    /// Shows the whole menu (a view with fixed items may ignore it and
    /// keep to [`TrayView::show_status`]).
    fn show_menu(&self, _entries: &[Entry]) {}
}

/// The tray logic.
pub struct Tray {
    machine: Machine,
    view: Arc<dyn TrayView>,
    progress: Arc<dyn Fn(StartProgress) + Send + Sync>,
    engine_reachable: AtomicBool,
    engine: Option<Engine>,
    /// The engine's containers; `None` until listed, and while the engine
    /// is not reachable.
    containers: Mutex<Option<Recent>>,
}

impl Tray {
    /// A tray over `machine` drawn by `view`; start progress from the tray
    /// goes to `progress` too (the UI shows it).
    pub fn new(
        machine: Machine,
        view: Arc<dyn TrayView>,
        progress: Arc<dyn Fn(StartProgress) + Send + Sync>,
    ) -> Tray {
        Tray {
            machine,
            view,
            progress,
            engine_reachable: AtomicBool::new(false),
            engine: None,
            containers: Mutex::new(None),
        }
    }

    /// The tray with container items acting on `engine`.
    pub fn with_engine(mut self, engine: Engine) -> Tray {
        self.engine = Some(engine);
        self
    }

    /// The status for the machine's last known state.
    pub fn status(&self) -> TrayStatus {
        status(
            self.machine.current().as_ref(),
            self.engine_reachable.load(Ordering::SeqCst),
        )
    }

    /// The menu for the last known state.
    pub fn menu(&self) -> Vec<Entry> {
        menu::menu(&self.status(), self.lock_containers().as_ref())
    }

    /// Redraws the tray from the last known state.
    pub fn refresh(&self) {
        let status = self.status();
        self.view.show_status(&status);
        self.view
            .show_menu(&menu::menu(&status, self.lock_containers().as_ref()));
    }

    fn lock_containers(&self) -> std::sync::MutexGuard<'_, Option<Recent>> {
        // A panic while holding the lock leaves a valid value behind.
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the engine's reachability and redraws; an unreachable
    /// engine's containers are forgotten until the next list.
    pub fn set_engine_reachable(&self, reachable: bool) {
        self.engine_reachable.store(reachable, Ordering::SeqCst);
        if !reachable {
            *self.lock_containers() = None;
        }
        self.refresh();
    }

    /// Replaces the containers with a list read from the engine, and
    /// redraws.
    pub fn set_containers(&self, list: &[Container]) {
        *self.lock_containers() = Some(Recent::from_list(list));
        self.refresh();
    }

    /// Applies an engine event to the containers (once listed); redraws
    /// when what the menu shows may have changed.
    pub fn apply_event(&self, event: &EngineEvent) {
        let changed = self
            .lock_containers()
            .as_mut()
            .is_some_and(|recent| recent.apply(event));
        if changed {
            self.refresh();
        }
    }

    /// Lists the containers of the engine (at each connection, before its
    /// events are followed); a failure leaves none shown.
    pub async fn snapshot(&self, engine: &Engine) {
        match containers::list(engine).await {
            Ok(list) => self.set_containers(&list),
            Err(err) => tracing::warn!("tray: listing the containers: {err}"),
        }
    }

    /// Runs the menu item `id` (labels and unknown ids do nothing).
    pub async fn click(&self, id: &str) -> Result<()> {
        match Command::from_id(id) {
            Some(command) => self.command(command).await,
            None => Ok(()),
        }
    }

    /// Runs a command; failures are reported through the view too.
    pub async fn command(&self, command: Command) -> Result<()> {
        let (id, action) = match &command {
            Command::Menu(action) => return self.handle(*action).await,
            Command::Container { id, action } => (id, *action),
        };
        let result = match &self.engine {
            Some(engine) => containers::act(engine, id, action).await,
            None => Err(Error::Internal(
                "this tray has no engine to act on".to_string(),
            )),
        };
        if let Err(err) = &result {
            self.view.report_error(&command.label(), err);
        }
        result
    }

    /// Runs a menu item; failures are reported through the view too.
    pub async fn handle(&self, action: MenuAction) -> Result<()> {
        let result = match action {
            MenuAction::Start => {
                let progress = |p: StartProgress| {
                    self.refresh();
                    (self.progress)(p);
                };
                self.machine.start(&progress).await
            }
            MenuAction::Stop => self.machine.stop().await,
            MenuAction::OpenDashboard => {
                self.view.open_dashboard();
                Ok(())
            }
            MenuAction::Quit => {
                self.view.quit();
                Ok(())
            }
        };
        self.refresh();
        if let Err(err) = &result {
            self.view.report_error(action.label(), err);
        }
        result
    }
}

/// Redraws `tray` whenever the machine's state changes (spawn it).
pub async fn follow(tray: Arc<Tray>, mut states: watch::Receiver<Option<MachineInfo>>) {
    tray.refresh();
    while states.changed().await.is_ok() {
        tray.refresh();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::machine::fake::FakeMachine;

    /// Records what the tray logic asked of the view.
    #[derive(Default)]
    struct Recorder {
        statuses: Mutex<Vec<TrayStatus>>,
        calls: Mutex<Vec<&'static str>>,
    }

    impl Recorder {
        fn last(&self) -> TrayStatus {
            self.statuses
                .lock()
                .expect("lock")
                .last()
                .cloned()
                .expect("a status was shown")
        }
        fn icons(&self) -> Vec<TrayIconKind> {
            let mut icons: Vec<TrayIconKind> = self
                .statuses
                .lock()
                .expect("lock")
                .iter()
                .map(|s| s.icon)
                .collect();
            icons.dedup();
            icons
        }
        fn calls(&self) -> Vec<&'static str> {
            self.calls.lock().expect("lock").clone()
        }
    }

    impl TrayView for Recorder {
        fn show_status(&self, status: &TrayStatus) {
            self.statuses.lock().expect("lock").push(status.clone());
        }
        fn open_dashboard(&self) {
            self.calls.lock().expect("lock").push("open_dashboard");
        }
        fn quit(&self) {
            self.calls.lock().expect("lock").push("quit");
        }
        fn report_error(&self, _what: &str, _err: &Error) {
            self.calls.lock().expect("lock").push("report_error");
        }
    }

    fn tray(fake: Arc<FakeMachine>) -> (Arc<Tray>, Arc<Recorder>, Arc<Mutex<Vec<String>>>) {
        let machine = Machine::new(fake);
        machine.refresh().expect("info");
        let view = Arc::new(Recorder::default());
        let phases = Arc::new(Mutex::new(Vec::new()));
        let seen = phases.clone();
        let tray = Tray::new(
            machine,
            view.clone(),
            Arc::new(move |p: StartProgress| seen.lock().expect("lock").push(p.phase)),
        );
        (Arc::new(tray), view, phases)
    }

    #[tokio::test]
    async fn start_starts_the_machine_and_the_status_follows() {
        let fake = Arc::new(FakeMachine::stopped());
        let (tray, view, phases) = tray(fake.clone());
        tray.refresh();
        assert_eq!(view.last().text, "Skiff is stopped");
        assert!(view.last().can_start && !view.last().can_stop);
        let action = MenuAction::from_id("start").expect("start item");
        tray.handle(action).await.expect("start");
        assert_eq!(fake.starts(), 1);
        assert_eq!(
            view.icons(),
            [
                TrayIconKind::Stopped,
                TrayIconKind::Starting,
                TrayIconKind::Running
            ]
        );
        assert_eq!(view.last().text, "Skiff is running");
        assert!(!view.last().can_start && view.last().can_stop);
        assert_eq!(
            *phases.lock().expect("lock"),
            ["launching", "booting", "engine", "ready"]
        );
        tray.handle(MenuAction::Stop).await.expect("stop");
        assert_eq!(fake.stops(), 1);
        assert_eq!(view.last().icon, TrayIconKind::Stopped);
    }

    #[tokio::test]
    async fn the_status_follows_changes_made_elsewhere() {
        let fake = Arc::new(FakeMachine::stopped());
        let (tray, view, _) = tray(fake.clone());
        let machine = tray.machine.clone();
        let task = tokio::spawn(follow(tray.clone(), machine.subscribe()));
        fake.set(MachineState::Running);
        machine.refresh().expect("info");
        for _ in 0..100 {
            let shown = view.statuses.lock().expect("lock").last().cloned();
            if shown.is_some_and(|s| s.icon == TrayIconKind::Running) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(view.last().text, "Skiff is running");
        task.abort();
    }

    #[tokio::test]
    async fn quit_and_open_dashboard_touch_nothing_else() {
        let fake = Arc::new(FakeMachine::stopped());
        fake.set(MachineState::Running);
        let (tray, view, _) = tray(fake.clone());
        tray.handle(MenuAction::OpenDashboard).await.expect("open");
        tray.handle(MenuAction::Quit).await.expect("quit");
        assert_eq!(view.calls(), ["open_dashboard", "quit"]);
        assert_eq!((fake.starts(), fake.stops()), (0, 0));
        assert_eq!(
            tray.machine.current().map(|m| m.state),
            Some(MachineState::Running)
        );
    }

    #[tokio::test]
    async fn a_failed_start_is_reported_and_shows_broken() {
        let (tray, view, _) = tray(Arc::new(FakeMachine::failing()));
        let err = tray.handle(MenuAction::Start).await.expect_err("fails");
        assert_eq!(err.kind(), "machine_error");
        assert_eq!(view.calls(), ["report_error"]);
        assert_eq!(view.last().text, "Skiff cannot start");
        assert!(view.last().can_start);
    }

    #[test]
    fn without_a_machine_the_status_is_the_engines() {
        assert_eq!(status(None, true).icon, TrayIconKind::Running);
        assert_eq!(status(None, false).text, "Engine not reachable");
        assert!(!status(None, true).can_start);
        assert_eq!(MenuAction::from_id("nope"), None);
        for action in MenuAction::ALL {
            assert_eq!(MenuAction::from_id(action.id()), Some(action));
        }
    }
}
