//! A container's persisted record: what docker keeps in `config.v2.json`.
//! The configs are the Engine API's own types, as dockerd stores them.

use bollard_stubs::models::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};
use skiff_oci::Digest;

/// A container's lifecycle status, as docker names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Between an exit and a restart-policy restart.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process exited.
    Exited,
    /// Could not be cleaned up.
    Dead,
}

impl Status {
    /// Docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }

    /// Whether a process exists (running or paused).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }
}

/// The mutable state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct State {
    /// Lifecycle status.
    pub status: Status,
    /// Host pid of the container's process (0 when none).
    pub pid: i64,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// Why the last start failed, if it did.
    pub error: String,
    /// RFC 3339 time of the last start (docker's zero time when never).
    pub started_at: String,
    /// RFC 3339 time of the last exit (docker's zero time when never).
    pub finished_at: String,
    /// Whether the last run was killed by the OOM killer.
    pub oom_killed: bool,
    /// Set when the user stopped it (restart policies then do not restart it).
    #[serde(default)]
    pub stopped_by_user: bool,
}

/// Docker's zero time, used for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Everything skiffd keeps about one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex characters.
    pub id: String,
    /// The name, without docker's leading `/`.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's id.
    pub image_id: Digest,
    /// The process: entrypoint + cmd merged, first element.
    pub path: String,
    /// The rest of the process's argv.
    pub args: Vec<String>,
    /// The container config (merged with the image's).
    pub config: ContainerConfig,
    /// The host config as given.
    pub host_config: HostConfig,
    /// Lifecycle state.
    pub state: State,
    /// Restarts made by the restart policy.
    #[serde(default)]
    pub restart_count: i64,
    /// The parent cgroup in effect at create (normalised): the container's
    /// `HostConfig.CgroupParent`, else the daemon's `--cgroup-parent`.
    /// `None` in records older than the field, which used
    /// [`super::cgroups::DEFAULT_PARENT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Its mounts, resolved at create (volume names filled in), sorted for
    /// mounting: dockerd's `MountPoints`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<crate::mounts::MountSpec>,
}

impl ContainerRecord {
    /// The first 12 characters of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// The container's cgroup, relative to each hierarchy's root.
    pub fn cgroup(&self) -> String {
        let parent = self
            .cgroup_parent
            .as_deref()
            .unwrap_or(super::cgroups::DEFAULT_PARENT);
        super::cgroups::relative_path(parent, &self.id)
    }
}
