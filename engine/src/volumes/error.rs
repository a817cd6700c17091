//! Errors of the volume service, worded as dockerd words them (moby's
//! `daemon/volume/service/{errors,store}.go`, `daemon/volume/local`).

use std::path::PathBuf;

use super::mounter::MountError;
use crate::errdefs::ErrorKind;

/// A volume service error. `Display` is the message docker clients print.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume by that name.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Removing a volume containers still use.
    #[error("remove {name}: volume is in use - [{}]", .containers.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// The containers using it.
        containers: Vec<String>,
    },
    /// A create request the local driver refuses (name, options).
    #[error("create {name}: {reason}")]
    InvalidCreate {
        /// The volume's name as given.
        name: String,
        /// dockerd's reason.
        reason: String,
    },
    /// A driver other than `local`.
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    UnknownDriver {
        /// The volume's name.
        name: String,
        /// The driver asked for.
        driver: String,
    },
    /// Removing a volume still mounted through the driver.
    #[error("remove {0}: volume has active mounts")]
    ActiveMounts(String),
    /// A second prune while one runs.
    #[error("a prune operation is already running")]
    PruneRunning,
    /// The local driver's mount of a volume's device failed.
    #[error("failed to mount local volume: {0}")]
    Mount(#[source] MountError),
    /// Unmounting a volume's device failed.
    #[error("{0}")]
    Unmount(#[source] MountError),
    /// A filesystem operation on the volume store failed.
    #[error("{context} '{}': {source}", .path.display())]
    Io {
        /// What was being done (dockerd's wording where it has one).
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record that does not parse.
    #[error("error while unmarshaling volume options for volume: {name}: {source}")]
    Record {
        /// The volume.
        name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl VolumeError {
    /// The error's kind, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::UnknownDriver { .. } => ErrorKind::NotFound,
            Self::InvalidCreate { .. } => ErrorKind::InvalidArgument,
            Self::InUse { .. } | Self::PruneRunning => ErrorKind::Conflict,
            Self::ActiveMounts(_)
            | Self::Mount(_)
            | Self::Unmount(_)
            | Self::Io { .. }
            | Self::Record { .. } => ErrorKind::Internal,
        }
    }

    /// An [`VolumeError::Io`] maker for `map_err`.
    pub(crate) fn io<'a>(
        context: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            context,
            path: path.to_owned(),
            source,
        }
    }
}
