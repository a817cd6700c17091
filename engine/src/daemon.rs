//! The daemon: the services of one skiffd, built from its configuration.

use std::path::Path;
use std::sync::Arc;

use skiff_registry::RegistryConfig;

use crate::build::{BuildError, BuildService};
use crate::config::Config;
use crate::containers::spec::InitConfig;
use crate::containers::{ContainerConfig, ContainerError, ContainerService};
use crate::events::Events;
use crate::host::HostFacts;
use crate::images::{ImageError, ImageService};
use crate::networks::{LinkKernel, NetworkError, NetworkService};
use crate::volumes::{VolumeError, VolumeService};

/// Everything a request can reach.
#[derive(Debug)]
pub struct Daemon {
    /// The effective configuration.
    pub config: Config,
    /// Facts about the host.
    pub host: HostFacts,
    /// This engine's stable id (persisted in the data root).
    pub id: String,
    /// The image service.
    pub images: Arc<ImageService>,
    /// The container service.
    pub containers: Arc<ContainerService>,
    /// The network service.
    pub networks: Arc<NetworkService>,
    /// The volume service.
    pub volumes: Arc<VolumeService>,
    /// The event bus.
    pub events: Events,
    /// The build service (`docker build`, `docker commit`).
    pub build: Arc<BuildService>,
}

/// Why the daemon could not open.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The image stores.
    #[error("images: {0}")]
    Images(#[from] ImageError),
    /// The container stores or runtime.
    #[error("containers: {0}")]
    Containers(#[from] ContainerError),
    /// The network state or the kernel's networking.
    #[error("networks: {0}")]
    Networks(#[source] Box<NetworkError>),
    /// Opened outside a tokio runtime (networking drives rtnetlink on it).
    #[error("the daemon must be opened within a tokio runtime")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// The volume store.
    #[error("volumes: {0}")]
    Volumes(#[from] VolumeError),
    /// The build service's directory.
    #[error("build: {0}")]
    Build(#[from] BuildError),
}

impl Daemon {
    /// Open the stores under the configured data root and build the services.
    pub fn open(config: Config) -> Result<Self, DaemonError> {
        std::fs::create_dir_all(&config.data_root).map_err(|e| {
            ImageError::Store(format!(
                "creating data root {}: {e}",
                config.data_root.display()
            ))
        })?;
        let registry = RegistryConfig {
            mirrors: config.registry_mirrors.clone(),
            insecure: config.insecure_registries.clone(),
            read_timeout: registry_read_timeout(),
        };
        let events = Events::new();
        let images = Arc::new(ImageService::open(
            &config.data_root,
            registry,
            events.clone(),
        )?);
        let container_config = ContainerConfig::new(
            InitConfig {
                default: config.init,
                path: config.init_path.clone(),
            },
            config.default_cgroupns_private,
        );
        let container_config = match &config.cgroup_parent {
            Some(parent) => container_config.with_cgroup_parent(parent.clone()),
            None => container_config,
        };
        let container_config = match &config.host_shares {
            Some(folders) => {
                container_config.with_host_shares(crate::mounts::HostShares::new(folders.clone()))
            }
            None => container_config,
        };
        let container_config = container_config.with_vm_host_ip(config.vm_host_ip);
        let containers = Arc::new(ContainerService::open(
            &config.data_root,
            images.clone(),
            events.clone(),
            container_config,
        )?);
        let rt = tokio::runtime::Handle::try_current().map_err(DaemonError::NoRuntime)?;
        let boxed = |e| DaemonError::Networks(Box::new(e));
        let kernel = Arc::new(LinkKernel::real(rt).map_err(boxed)?);
        let networks = Arc::new(
            NetworkService::open(
                &config.data_root,
                events.clone(),
                kernel,
                crate::networks::TABLE,
            )
            .map_err(boxed)?,
        );
        containers.set_networks(networks.clone());
        let volumes = Arc::new(VolumeService::open(&config.data_root, events.clone())?);
        // Before the API serves: every container's volume references.
        containers.attach_volumes(volumes.clone());
        let weak = Arc::downgrade(&containers);
        images.set_users(Arc::new(move |image| {
            weak.upgrade()
                .map(|c| c.users_of(image))
                .unwrap_or_default()
        }));
        let build = Arc::new(BuildService::open(
            &config.data_root,
            images.clone(),
            containers.clone(),
        )?);
        let id = engine_id(&config.data_root)?;
        Ok(Self {
            build,
            host: HostFacts::read(),
            id,
            images,
            containers,
            networks,
            volumes,
            events,
            config,
        })
    }
}

/// `SKIFF_REGISTRY_READ_TIMEOUT` (seconds): how long a registry may stay
/// silent (see [`RegistryConfig::read_timeout`]); the broken-registry tests
/// shorten it. Unset or unparsable: the default.
fn registry_read_timeout() -> Option<std::time::Duration> {
    let secs = std::env::var("SKIFF_REGISTRY_READ_TIMEOUT").ok()?;
    match secs.parse::<u64>() {
        Ok(n) if n > 0 => Some(std::time::Duration::from_secs(n)),
        _ => {
            tracing::warn!("SKIFF_REGISTRY_READ_TIMEOUT={secs:?} ignored: not a number of seconds");
            None
        }
    }
}

/// The engine id: made once, kept in `<data-root>/engine-id`.
fn engine_id(root: &Path) -> Result<String, ImageError> {
    let path = root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_owned());
        }
    }
    let raw: [u8; 16] = rand::random();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    skiff_store::atomic::write(&path, id.as_bytes())
        .map_err(|e| ImageError::Store(format!("writing {}: {e}", path.display())))?;
    Ok(id)
}
