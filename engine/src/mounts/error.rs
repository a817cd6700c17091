//! Mount parsing errors, worded as dockerd words them (moby's
//! `daemon/volume/mounts/{mounts,validate,parser,linux_parser}.go`,
//! `daemon/errors.go`, `github.com/moby/sys/mount`).

use crate::errdefs::ErrorKind;

/// Why a mount was refused. `Display` is dockerd's message.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A `-v` string that is not of any accepted shape.
    #[error("invalid volume specification: '{0}'")]
    InvalidSpec(String),
    /// A `-v` string whose parts parse but whose mount config is invalid.
    #[error("invalid volume specification: '{spec}': {source}")]
    InvalidSpecConfig {
        /// The string as given.
        spec: String,
        /// What is wrong with it.
        #[source]
        source: Box<MountError>,
    },
    /// A `-v` (or `--volumes-from`) mode that is not a valid combination.
    #[error("invalid mode: {0}")]
    InvalidMode(String),
    /// A mount config (a `--mount`, or a `-v` once split) that is invalid.
    #[error("invalid mount config for type \"{kind}\": {source}")]
    Config {
        /// The mount's type as given.
        kind: String,
        /// What is wrong with it.
        #[source]
        source: ConfigError,
    },
    /// An empty `--volumes-from`.
    #[error("volumes-from specification cannot be an empty string")]
    EmptyVolumesFrom,
    /// Two mounts on one destination.
    #[error("Duplicate mount point: {0}")]
    Duplicate(String),
    /// A `HostConfig.Tmpfs` destination that is `/` or relative.
    #[error("{0}")]
    TmpfsDestination(#[source] ConfigError),
    /// A `HostConfig.Tmpfs` option that is neither a mount flag nor a known
    /// tmpfs data key.
    #[error("invalid tmpfs option {0:?}")]
    TmpfsOption(String),
    /// In Skiff's VM: a bind source outside every host folder shared into
    /// the VM that does not exist there (see [`super::shares`]).
    #[error(
        "bind source path {path} is not shared with the Skiff VM (shared folders: {shared}): \
         a folder of the host is seen in the VM only when shared (skiff machine create --mount HOST_PATH)"
    )]
    NotShared {
        /// The bind source as given.
        path: String,
        /// The shared folders, comma-separated (`none`).
        shared: String,
    },
}

impl MountError {
    /// The error's kind: every parse error is the caller's (400).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// What is wrong with a mount config (the part after
/// `invalid mount config for type "…": `).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required field is empty.
    #[error("field {0} must not be empty")]
    MissingField(&'static str),
    /// A field that does not belong to this mount type.
    #[error("field {0} must not be specified")]
    ExtraField(&'static str),
    /// The destination is `/`.
    #[error("invalid specification: destination can't be '/'")]
    TargetIsRoot,
    /// A path that must be absolute is not.
    #[error("invalid mount path: '{0}' mount path must be absolute")]
    NotAbsolute(String),
    /// An unknown bind propagation.
    #[error("invalid propagation mode: {0}")]
    Propagation(String),
    /// A `--mount type=bind` source that does not exist.
    #[error("bind source path does not exist: {0}")]
    SourceMissing(String),
    /// The source could not be examined.
    #[error("{0}")]
    Stat(#[source] std::io::Error),
    /// A subpath on an anonymous volume.
    #[error("must not set Subpath when using anonymous volumes")]
    AnonymousSubpath,
    /// A subpath that leaves the volume.
    #[error("subpath must be a relative path within the volume")]
    InvalidSubpath,
    /// A tmpfs option entry that is not `[key]` or `[key, value]`.
    #[error("invalid option array length")]
    TmpfsOptionLength,
    /// A tmpfs option docker does not accept (`exec`, `noexec` only).
    #[error("invalid option: {0}")]
    TmpfsOption(String),
    /// A mount type docker does not know (or that skiffd does not support).
    #[error("mount type unknown")]
    UnknownType,
}
