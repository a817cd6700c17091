//! `docker wait`: a container's exit code once it meets a condition.

use std::future::Future;
use std::sync::Arc;

use super::ContainerService;
use super::error::ContainerError;
use super::record::{ContainerRecord, Status};

/// What a wait waits for (docker's `condition=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// The container is not running: at once if it is not now.
    #[default]
    NotRunning,
    /// The container's next exit: a container that is not running must
    /// first start (a restart-policy restart does not end the wait).
    NextExit,
    /// The container is removed.
    Removed,
}

impl WaitCondition {
    /// Whether the condition is met by `current` (`None`: removed), given
    /// whether the container was seen running since the wait began.
    fn met(self, current: Option<&ContainerRecord>, was_live: bool) -> bool {
        match (self, current) {
            (Self::Removed, None) => true,
            (Self::Removed, Some(_)) => false,
            (_, None) => true,
            (Self::NextExit, Some(r)) => {
                was_live && !r.state.status.is_live() && r.state.status != Status::Created
            }
            (Self::NotRunning, Some(r)) => !r.state.status.is_live(),
        }
    }
}

impl ContainerService {
    /// Wait for container `what` to meet `condition`. The container is
    /// resolved and watched at once (an error if it does not exist); the
    /// future then resolves, when the condition is met, to the exit code of
    /// the container's last run (0 if it never ran). A removal also ends a
    /// wait for the other conditions.
    pub fn wait(
        self: &Arc<Self>,
        what: &str,
        condition: WaitCondition,
    ) -> Result<impl Future<Output = i64> + Send + 'static, ContainerError> {
        let record = self.resolve(what)?;
        let mut watch = self.watch(&record.id);
        let svc = Arc::clone(self);
        Ok(async move {
            let mut was_live = record.state.status.is_live();
            let mut last = Some(record);
            loop {
                let current = watch.borrow_and_update().clone();
                if let Some(r) = &current {
                    last = Some(r.clone());
                    was_live |= r.state.status.is_live();
                }
                if condition.met(current.as_ref(), was_live) || watch.changed().await.is_err() {
                    break;
                }
            }
            // The exit and the removal of an --rm container can come so
            // close together that the wait sees only the removal.
            match last {
                Some(r) if r.state.status.is_live() => svc.removed_exit_code(&r.id).unwrap_or(0),
                Some(r) => r.state.exit_code,
                None => 0,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::list::tests::record;

    #[test]
    fn conditions_are_dockers() {
        use WaitCondition::*;
        let (created, running, exited) = (
            record(Status::Created, 0),
            record(Status::Running, 0),
            record(Status::Exited, 0),
        );
        assert!(NotRunning.met(Some(&created), false));
        assert!(NotRunning.met(Some(&exited), true));
        assert!(!NotRunning.met(Some(&running), true));
        assert!(NotRunning.met(None, false), "removed ends every wait");
        assert!(!NextExit.met(Some(&exited), false), "must start first");
        assert!(!NextExit.met(Some(&created), true));
        assert!(!NextExit.met(Some(&running), true));
        assert!(NextExit.met(Some(&exited), true));
        assert!(NextExit.met(None, false));
        assert!(!Removed.met(Some(&exited), true));
        assert!(Removed.met(None, false));
    }
}
