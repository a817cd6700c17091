//! The tray's menu as data: [`menu`] turns what the tray knows (the
//! machine's status, the containers) into the items to show, and
//! [`Command::from_id`] turns a clicked item's id back into what to do.
//! A view draws the items as they are; nothing here needs a display.

use super::recent::{Known, Recent, SHOWN};
use super::{MenuAction, TrayStatus};
use crate::engine::containers::Action;

/// The id of the disabled status line.
pub const STATUS_ID: &str = "status";
/// The id of the disabled running-containers line.
pub const COUNT_ID: &str = "count";

/// One entry of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A line of text that cannot be clicked.
    Label {
        /// The item id.
        id: String,
        /// The text.
        text: String,
    },
    /// A clickable item (greyed out when not `enabled`).
    Item {
        /// The item id, for [`Command::from_id`].
        id: String,
        /// The text.
        text: String,
        /// Whether it can be clicked.
        enabled: bool,
    },
    /// A submenu.
    Submenu {
        /// The text.
        text: String,
        /// Its entries.
        entries: Vec<Entry>,
    },
    /// A separator line.
    Separator,
}

/// What a click on a menu item asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// One of the fixed items.
    Menu(MenuAction),
    /// Stop or restart a container.
    Container {
        /// The container's id.
        id: String,
        /// [`Action::Stop`] or [`Action::Restart`].
        action: Action,
    },
}

const STOP_PREFIX: &str = "container-stop:";
const RESTART_PREFIX: &str = "container-restart:";

impl Command {
    /// The command of item `id` (`None` for labels and unknown ids).
    pub fn from_id(id: &str) -> Option<Command> {
        if let Some(action) = MenuAction::from_id(id) {
            return Some(Command::Menu(action));
        }
        let (container, action) = if let Some(c) = id.strip_prefix(STOP_PREFIX) {
            (c, Action::Stop)
        } else {
            (id.strip_prefix(RESTART_PREFIX)?, Action::Restart)
        };
        (!container.is_empty()).then(|| Command::Container {
            id: container.to_string(),
            action,
        })
    }

    /// The item id of this command.
    pub fn id(&self) -> String {
        match self {
            Command::Menu(action) => action.id().to_string(),
            Command::Container { id, action } => match action {
                Action::Restart => format!("{RESTART_PREFIX}{id}"),
                _ => format!("{STOP_PREFIX}{id}"),
            },
        }
    }

    /// What it does, in a few words (for error reports).
    pub fn label(&self) -> String {
        match self {
            Command::Menu(action) => action.label().to_string(),
            Command::Container { id, action } => {
                let short: String = id.chars().take(12).collect();
                match action {
                    Action::Restart => format!("Restarting {short}"),
                    _ => format!("Stopping {short}"),
                }
            }
        }
    }
}

/// `"No containers running"`, `"1 container running"`, `"3 containers running"`.
pub fn running_text(running: usize) -> String {
    match running {
        0 => "No containers running".to_string(),
        1 => "1 container running".to_string(),
        n => format!("{n} containers running"),
    }
}

/// A container's submenu: `name (state)` with Stop (only while it runs)
/// and Restart.
fn container_entry(c: &Known) -> Entry {
    let name = if c.name.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.name.clone()
    };
    let item = |action: Action, text: &str, enabled: bool| Entry::Item {
        id: Command::Container {
            id: c.id.clone(),
            action,
        }
        .id(),
        text: text.to_string(),
        enabled,
    };
    Entry::Submenu {
        text: format!("{name} ({})", c.state),
        entries: vec![
            item(Action::Stop, "Stop", c.is_running()),
            item(Action::Restart, "Restart", true),
        ],
    }
}

/// The menu for `status` and, when the engine answers, its `containers`
/// (`None`: not reachable, so no count and no containers are shown):
/// the status line, the running count, Start and Stop, the
/// [`SHOWN`] newest containers, Open Dashboard, and Quit last (so the
/// keyboard reaches Open Dashboard from the bottom as before).
pub fn menu(status: &TrayStatus, containers: Option<&Recent>) -> Vec<Entry> {
    let mut entries = vec![Entry::Label {
        id: STATUS_ID.to_string(),
        text: status.text.clone(),
    }];
    if let Some(recent) = containers {
        entries.push(Entry::Label {
            id: COUNT_ID.to_string(),
            text: running_text(recent.running()),
        });
    }
    let item = |action: MenuAction, enabled: bool| Entry::Item {
        id: action.id().to_string(),
        text: action.label().to_string(),
        enabled,
    };
    entries.push(Entry::Separator);
    entries.push(item(MenuAction::Start, status.can_start));
    entries.push(item(MenuAction::Stop, status.can_stop));
    if let Some(recent) = containers.filter(|r| !r.is_empty()) {
        entries.push(Entry::Separator);
        entries.extend(recent.last(SHOWN).iter().map(container_entry));
    }
    entries.push(Entry::Separator);
    entries.push(item(MenuAction::OpenDashboard, true));
    entries.push(Entry::Separator);
    entries.push(item(MenuAction::Quit, true));
    entries
}

/// `entries` with the status line's text replaced by `text` (how a view
/// shows a failed action until the next redraw).
pub fn with_status_line(entries: &[Entry], text: &str) -> Vec<Entry> {
    let mut entries = entries.to_vec();
    if let Some(Entry::Label { text: line, .. }) = entries
        .iter_mut()
        .find(|e| matches!(e, Entry::Label { id, .. } if id == STATUS_ID))
    {
        *line = text.to_string();
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::containers::Container;
    use crate::machine::{MachineControl, MachineInfo, MachineState};
    use crate::tray::recent::tests::{event, row};
    use crate::tray::status;

    fn info(state: MachineState) -> MachineInfo {
        let fake = crate::machine::fake::FakeMachine::stopped();
        fake.set(state);
        fake.info().expect("info").expect("a machine")
    }

    /// The entries as lines: `label:`, `item:` (`-` when disabled), `sub:`
    /// with its items indented, `---`.
    fn lines(entries: &[Entry]) -> Vec<String> {
        let mut out = Vec::new();
        for e in entries {
            match e {
                Entry::Label { text, .. } => out.push(format!("label: {text}")),
                Entry::Item { text, enabled, .. } => {
                    out.push(format!("item: {text}{}", if *enabled { "" } else { " -" }))
                }
                Entry::Submenu { text, entries } => {
                    out.push(format!("sub: {text}"));
                    out.extend(lines(entries).into_iter().map(|l| format!("  {l}")));
                }
                Entry::Separator => out.push("---".into()),
            }
        }
        out
    }

    #[test]
    fn a_stopped_machine_offers_start_and_no_containers() {
        let status = status(Some(&info(MachineState::Stopped)), false);
        assert_eq!(
            lines(&menu(&status, None)),
            [
                "label: Skiff is stopped",
                "---",
                "item: Start",
                "item: Stop -",
                "---",
                "item: Open Dashboard",
                "---",
                "item: Quit Skiff",
            ]
        );
    }

    #[test]
    fn a_running_machine_lists_the_count_and_the_five_newest() {
        let status = status(Some(&info(MachineState::Running)), true);
        let mut list: Vec<Container> = (1..=7)
            .map(|i| row(&format!("id{i}"), &format!("c{i}"), "exited", i))
            .collect();
        list[6].state = "running".into();
        list[5].state = "paused".into();
        let mut recent = Recent::from_list(&list);
        recent.apply(&event("start", "id1", "c1", 100));
        assert_eq!(
            lines(&menu(&status, Some(&recent))),
            [
                "label: Skiff is running",
                "label: 3 containers running",
                "---",
                "item: Start -",
                "item: Stop",
                "---",
                "sub: c7 (running)",
                "  item: Stop",
                "  item: Restart",
                "sub: c6 (paused)",
                "  item: Stop",
                "  item: Restart",
                "sub: c5 (exited)",
                "  item: Stop -",
                "  item: Restart",
                "sub: c4 (exited)",
                "  item: Stop -",
                "  item: Restart",
                "sub: c3 (exited)",
                "  item: Stop -",
                "  item: Restart",
                "---",
                "item: Open Dashboard",
                "---",
                "item: Quit Skiff",
            ]
        );
    }

    #[test]
    fn an_engine_without_containers_says_so() {
        let status = status(None, true);
        let lines = lines(&menu(&status, Some(&Recent::default())));
        assert_eq!(
            lines[..2],
            [
                "label: Engine running on this computer",
                "label: No containers running"
            ]
        );
        assert!(!lines.iter().any(|l| l.starts_with("sub:")));
        assert_eq!(running_text(1), "1 container running");
    }

    #[test]
    fn a_failure_replaces_the_status_line_only() {
        let status = status(Some(&info(MachineState::Running)), true);
        let shown = menu(&status, Some(&Recent::default()));
        let failed = with_status_line(&shown, "Stop failed: the machine is busy");
        assert_eq!(lines(&failed)[0], "label: Stop failed: the machine is busy");
        assert_eq!(lines(&failed)[1..], lines(&shown)[1..]);
        assert_eq!(with_status_line(&[], "x"), []);
    }

    #[test]
    fn every_item_id_parses_back_to_its_command() {
        let status = status(Some(&info(MachineState::Running)), true);
        let recent = Recent::from_list(&[row("abc123", "web", "running", 1)]);
        let mut ids = Vec::new();
        fn collect(entries: &[Entry], ids: &mut Vec<String>) {
            for e in entries {
                match e {
                    Entry::Item { id, .. } => ids.push(id.clone()),
                    Entry::Submenu { entries, .. } => collect(entries, ids),
                    _ => {}
                }
            }
        }
        collect(&menu(&status, Some(&recent)), &mut ids);
        let commands: Vec<Command> = ids
            .iter()
            .map(|id| Command::from_id(id).expect("a command"))
            .collect();
        assert!(commands.contains(&Command::Container {
            id: "abc123".into(),
            action: Action::Restart
        }));
        assert!(commands.contains(&Command::Menu(MenuAction::Quit)));
        for c in commands {
            assert_eq!(Command::from_id(&c.id()), Some(c));
        }
        assert_eq!(Command::from_id(STATUS_ID), None);
        assert_eq!(Command::from_id("container-stop:"), None);
        assert_eq!(Command::from_id("container-kill:x"), None);
    }
}
