//! Progress reports of long image operations (pull, load, import), as typed
//! events. The API layer renders them as docker's JSON message stream.

use tokio::sync::mpsc;

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What it is about: a short layer id, a tag, or nothing for the whole operation.
    pub id: Option<String>,
    /// Docker's status words ("Pulling fs layer", "Downloading", "Pull complete", …).
    pub status: String,
    /// Bytes done and total, for progress bars.
    pub bytes: Option<(u64, Option<u64>)>,
    /// An auxiliary result (docker's `aux` message, e.g. a push's
    /// `{"Tag","Digest","Size"}`); `status` is empty then.
    pub aux: Option<serde_json::Value>,
}

/// Where progress goes. Sending never blocks and never fails: a client that
/// hung up does not stop the work.
#[derive(Debug, Clone, Default)]
pub struct ProgressSink(Option<mpsc::UnboundedSender<Progress>>);

impl ProgressSink {
    /// A sink that discards everything.
    pub fn discard() -> Self {
        Self(None)
    }

    /// A sink and the receiver of its events.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Progress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// Report a status.
    pub fn status(&self, id: Option<&str>, status: impl Into<String>) {
        self.send(Progress {
            id: id.map(str::to_owned),
            status: status.into(),
            bytes: None,
            aux: None,
        });
    }

    /// Report docker's `Retrying in N second(s)` for `id` before an attempt
    /// that starts after `delay` (at least 1 s is shown).
    pub fn retrying(&self, id: &str, delay: std::time::Duration) {
        let secs = delay.as_secs().max(1);
        let plural = if secs == 1 { "" } else { "s" };
        self.status(Some(id), format!("Retrying in {secs} second{plural}"));
    }

    /// Report bytes done of a total.
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: Option<u64>) {
        self.send(Progress {
            id: Some(id.to_owned()),
            status: status.to_owned(),
            bytes: Some((current, total)),
            aux: None,
        });
    }

    /// Report an auxiliary result.
    pub fn aux(&self, value: serde_json::Value) {
        self.send(Progress {
            id: None,
            status: String::new(),
            bytes: None,
            aux: Some(value),
        });
    }

    fn send(&self, p: Progress) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(p);
        }
    }
}
