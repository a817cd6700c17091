//! A thread that lives in a container's network namespace and makes sockets
//! there on request, for the async code on the daemon's runtime.
//!
//! A socket belongs to the namespace it was created in, whichever thread
//! uses it later; so only socket creation needs the namespace. One thread
//! per server (setns once, at start) instead of one per socket: forwarding a
//! query to a `--dns` server costs a channel round trip, not a thread spawn.
//! The thread ends when the last [`NsWorker`] is dropped.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;

use nix::sched::CloneFlags;
use tokio::sync::oneshot;

use crate::netns::NetNs;

type Job = Box<dyn FnOnce() + Send>;

/// Handle of the namespace thread.
#[derive(Clone, Debug)]
pub(crate) struct NsWorker {
    jobs: mpsc::Sender<Job>,
}

impl NsWorker {
    /// Spawns the thread and enters `ns` on it.
    pub fn spawn(ns: &NetNs) -> io::Result<Self> {
        let fd: OwnedFd = ns.as_fd().try_clone_to_owned()?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        std::thread::Builder::new()
            .name("skiff-dns-ns".into())
            // Socket calls only.
            .stack_size(256 * 1024)
            .spawn(move || {
                let entered = nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from);
                drop(fd);
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if ok {
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("the namespace thread ended at start"))??;
        Ok(NsWorker { jobs })
    }

    /// Runs `f` on the namespace thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| io::Error::other("the namespace thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the namespace thread dropped a job"))
    }
}
