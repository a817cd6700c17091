//! Host-side file changes under the shared folders, made visible to
//! inotify watchers in containers (dev servers' hot reload).
//!
//! virtiofs carries no change notifications from the host: a file edited
//! on the host is read anew by the guest, but nothing in the guest hears of
//! it. The supervisor watches each shared folder recursively with the
//! `notify` crate (inotify on Linux, FSEvents on macOS) and, for every
//! created, written or renamed-to path, sends `touch <guest path>` on the
//! control port ([`crate::control::touch_line`]); the guest then raises
//! the events itself (`skiff-init`'s `touch.rs`: an open-for-write + close,
//! changing neither content, mode nor times). Attribute changes (a chmod,
//! a chown, new times) are forwarded too: each nudge first re-reads the
//! file's attributes from the host, which is what keeps the guest's
//! cached view of a file current (a binary built on the host is chmodded
//! executable after its last write). Access events are not forwarded: the
//! guest's nudge causes only those on the host, so nothing loops.
//!
//! Paths changing in a burst are sent once per [`COALESCE`].

use std::collections::BTreeSet;
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::shares::{self, ShareDevice};

/// Changes within this long of the first are sent together, each path once.
pub const COALESCE: Duration = Duration::from_millis(20);

/// The watches; dropping it stops them.
pub struct ShareWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Whether an event of `kind` is forwarded to the guest.
pub fn forwarded(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Data(_))
            | EventKind::Modify(ModifyKind::Name(_))
            | EventKind::Modify(ModifyKind::Metadata(_))
            | EventKind::Modify(ModifyKind::Any)
    )
}

/// Watches `devices`' host folders (read-only shares too: a host edit is
/// still news to the guest) and sends each changed path's `touch` line to
/// `lines`. Folders that cannot be watched are logged and skipped.
pub fn spawn(
    devices: &[ShareDevice],
    lines: mpsc::Sender<String>,
) -> Result<ShareWatcher, notify::Error> {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let devices_for_events = devices.to_vec();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !forwarded(&event.kind) {
            return;
        }
        for path in &event.paths {
            if let Some(guest) = shares::to_guest(&devices_for_events, path) {
                let _ = tx.send(guest);
            }
        }
    })?;
    for d in devices {
        if let Err(err) = watcher.watch(&d.host, RecursiveMode::Recursive) {
            tracing::warn!(
                "watching {} for changes: {err} (containers' file watchers will not hear of host edits there)",
                d.host.display()
            );
        }
    }
    tokio::spawn(coalesce(rx, lines));
    Ok(ShareWatcher { _watcher: watcher })
}

/// Sends each path of a burst once, `COALESCE` after its first change.
async fn coalesce(mut rx: mpsc::UnboundedReceiver<String>, lines: mpsc::Sender<String>) {
    while let Some(first) = rx.recv().await {
        let mut batch = BTreeSet::from([first]);
        let deadline = tokio::time::Instant::now() + COALESCE;
        while let Ok(Some(path)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            batch.insert(path);
        }
        for path in batch {
            // A full queue (the guest is not reading: paused) drops the
            // nudge rather than stalling the supervisor.
            if lines.try_send(crate::control::touch_line(&path)).is_err() {
                tracing::debug!("control port busy: no touch for {path}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind};

    #[test]
    fn content_names_and_attributes_are_forwarded_not_access() {
        assert!(forwarded(&EventKind::Create(CreateKind::File)));
        assert!(forwarded(&EventKind::Modify(ModifyKind::Data(
            DataChange::Content
        ))));
        assert!(forwarded(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Permissions
        ))));
        assert!(!forwarded(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
    }

    #[tokio::test]
    async fn a_host_edit_becomes_a_touch_of_its_guest_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let host = tmp.path().join("src");
        std::fs::create_dir(&host).expect("mkdir");
        let device = ShareDevice {
            tag: "skiff0".into(),
            host: host.clone(),
            guest: "/work/src".into(),
            read_only: false,
        };
        let (tx, mut rx) = mpsc::channel(16);
        let _w = spawn(&[device], tx).expect("watch");
        std::fs::write(host.join("app.js"), "v2").expect("write");
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a line in time")
            .expect("line");
        assert_eq!(line, "touch /work/src/app.js\n");
    }
}
