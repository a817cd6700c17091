//! The machine layer's errors.

use std::io;
use std::path::PathBuf;

/// What went wrong managing a machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// No machine by that name.
    #[error("machine {name} does not exist (create it with `skiff machine create {name}`)")]
    NotFound {
        /// The machine's name.
        name: String,
    },
    /// A machine by that name exists already.
    #[error("machine {name} already exists")]
    AlreadyExists {
        /// The machine's name.
        name: String,
    },
    /// Machine names are `[a-z0-9][a-z0-9_.-]*`, at most 32 characters.
    #[error(
        "invalid machine name {name:?}: use lowercase letters, digits, '.', '_' and '-' (at most 32, starting with a letter or digit)"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// A setting is out of range or malformed.
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting (`cpus`, `registry-mirror`, ...).
        setting: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path involved.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("parsing {path}: {source}", path = path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The VM image artefacts are missing or do not match their manifest.
    #[error("vm image: {0}")]
    Image(String),
    /// Another process holds the machine's instance lock.
    #[error("machine {name} is busy: {what}")]
    Busy {
        /// The machine's name.
        name: String,
        /// What it is busy with.
        what: String,
    },
    /// The machine did not come up.
    #[error("machine {name} failed to start: {reason}{console}", console = console_tail(lines))]
    StartFailed {
        /// The machine's name.
        name: String,
        /// Why.
        reason: String,
        /// The console's last lines.
        lines: Vec<String>,
    },
    /// The machine did not stop in time.
    #[error("machine {name} did not stop: {reason}")]
    StopFailed {
        /// The machine's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The hypervisor backend is not available on this host.
    #[error("backend {backend} is not available on this host: {reason}")]
    Unsupported {
        /// The backend (`qemu`, `vz`, `wsl2`).
        backend: String,
        /// Why.
        reason: String,
    },
}

fn console_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nlast console lines:");
    for line in lines {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

impl MachineError {
    /// An I/O error with its context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        MachineError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = MachineError> = std::result::Result<T, E>;

/// Adds context to I/O results.
pub(crate) trait IoContext<T> {
    /// Maps the error to [`MachineError::Io`] with `context()`.
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| MachineError::io(context(), source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failure_shows_the_console_tail() {
        let err = MachineError::StartFailed {
            name: "default".into(),
            reason: "QEMU exited with status 1".into(),
            lines: vec!["skiff-init: mounting".into(), "Kernel panic".into()],
        };
        let text = err.to_string();
        assert!(text.contains("QEMU exited with status 1"), "{text}");
        assert!(
            text.ends_with("\n  skiff-init: mounting\n  Kernel panic"),
            "{text}"
        );
    }
}
