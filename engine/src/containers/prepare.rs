//! Getting an `--rm` container ready while its client attaches.
//!
//! `docker run` creates a container, then attaches to it and asks to be
//! told of its removal, and only then starts it: several milliseconds of
//! round trips during which skiffd would sit idle. For a container created
//! with AutoRemove (what `docker run --rm` makes), create therefore begins
//! the slow half of start at once — mount the root filesystem, write the
//! bundle, spawn the shim with the process's start deferred — and start
//! takes the result (waiting for it if it is not done). The container's
//! record stays `created` until start runs its process, as without this.
//!
//! A container removed before it starts has its prepared shim deleted by
//! the removal. If the preparation fails, start simply does it again (and
//! reports its error the usual way). A shim prepared by an earlier skiffd
//! (which died between create and start) is deleted by the next start or
//! removal, like any shim left behind, and by [`ContainerService::reconcile`].

use std::sync::{Arc, Condvar, Mutex};

use super::ContainerService;
use super::runtime::ShimRef;

/// A preparation: `None` while it runs, then what it gave (`Some(None)`
/// if it failed, or once taken).
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    result: Mutex<Option<Option<ShimRef>>>,
    done: Condvar,
}

impl Prepared {
    fn finish(&self, handle: Option<ShimRef>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        self.done.notify_all();
    }

    /// Blocking: waits for the preparation to end; its shim, if it made one.
    fn wait(&self) -> Option<ShimRef> {
        let mut r = self.result.lock().unwrap_or_else(|p| p.into_inner());
        while r.is_none() {
            r = self.done.wait(r).unwrap_or_else(|p| p.into_inner());
        }
        r.as_mut().and_then(Option::take)
    }
}

impl ContainerService {
    /// Start preparing container `id` (just created) in the background, if
    /// it is removed on exit; a no-op outside a tokio runtime.
    pub(crate) fn prepare(self: &Arc<Self>, id: &str) {
        let Some(record) = self.store.get(id) else {
            return;
        };
        if !record.host_config.auto_remove.unwrap_or(false) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let prepared = Arc::new(Prepared::default());
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), prepared.clone());
        let svc = self.clone();
        let id = id.to_owned();
        rt.spawn_blocking(move || {
            let handle = match svc.spawn_shim(&id) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::debug!("preparing container {id}: {e}");
                    None
                }
            };
            prepared.finish(handle);
        });
    }

    /// Blocking: the shim prepared for `id` (waiting for the preparation
    /// to end), if there is one; start uses it.
    pub(crate) fn take_prepared(&self, id: &str) -> Option<ShimRef> {
        let prepared = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)?;
        prepared.wait()
    }

    /// Blocking: deletes the shim prepared for `id`, if there is one (the
    /// container is being removed without having started).
    pub(crate) fn discard_prepared(&self, id: &str) {
        if let Some(h) = self.take_prepared(id)
            && let Err(e) = h.delete(true)
        {
            tracing::warn!("deleting the prepared shim of container {id}: {e}");
        }
    }
}

#[cfg(test)]
impl ContainerService {
    /// Blocking: waits for every preparation still running and deletes its
    /// shim, so that a test's data root can be removed without a
    /// background preparation writing into it meanwhile.
    pub(crate) fn settle_preparations(&self) {
        let ids: Vec<String> = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for id in ids {
            self.discard_prepared(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn waiting_ends_when_the_preparation_does() {
        let p = Arc::new(Prepared::default());
        let q = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            q.finish(None);
        });
        assert!(p.wait().is_none());
        t.join().expect("join");
        // Taken (or failed) once, nothing the second time.
        assert!(p.wait().is_none());
    }
}
