//! Errors of the network service, worded as dockerd words them (moby's
//! `daemon/network.go`, libnetwork's bridge driver and IPAM).

use skiff_net::ipam::IpamError;
use skiff_net::link::LinkError;
use skiff_net::netns::NetNsError;
use skiff_net::nft::NftError;
use skiff_net::ports::PortError;
use skiff_net::proxy::ProxyError;

use crate::errdefs::ErrorKind;

/// A network service error. `Display` is the message docker clients print.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// No network by that name, id or id prefix.
    #[error("network {0} not found")]
    NotFound(String),
    /// A network of that name exists already (also a predefined one).
    #[error("network with name {0} already exists")]
    Duplicate(String),
    /// Removing `bridge`, `host` or `none`.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// Removing a network containers are attached to.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse {
        /// The network's name.
        name: String,
        /// Its id.
        id: String,
    },
    /// A request dockerd refuses, or one skiffd does not implement (named).
    #[error("{0}")]
    Invalid(String),
    /// A driver other than bridge (host and none are predefined only).
    #[error("plugin \"{0}\" not found")]
    UnknownDriver(String),
    /// The container is not connected to the network (`disconnect`).
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// The container, as given.
        container: String,
        /// The network, as given.
        network: String,
    },
    /// The container is connected already (`connect`).
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected {
        /// The container's name.
        container: String,
        /// The network's name.
        network: String,
    },
    /// Subnets and addresses.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// Setting up a container's connectivity (ports, proxy, links), in
    /// dockerd's words for the endpoint.
    #[error(
        "driver failed programming external connectivity on endpoint {endpoint} ({endpoint_id}): {source}"
    )]
    Publish {
        /// The container's name.
        endpoint: String,
        /// The endpoint's id.
        endpoint_id: String,
        /// Why.
        #[source]
        source: PublishError,
    },
    /// A link operation.
    #[error("network link: {0}")]
    Link(#[from] LinkError),
    /// A network namespace operation.
    #[error("network namespace: {0}")]
    Netns(#[from] NetNsError),
    /// Starting a container's embedded DNS server.
    #[error(transparent)]
    Dns(#[from] skiff_net::dns::DnsError),
    /// Applying skiff's nftables table.
    #[error("{0}")]
    Nft(#[from] NftError),
    /// Reading or writing the network store.
    #[error("network store {context}: {source}")]
    Store {
        /// What was being done.
        context: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Why a port could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The port allocator refused.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The proxy could not bind.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

impl NetworkError {
    /// The kind of failure (the API maps it to a status).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::UnknownDriver(_) | Self::NotConnected { .. } => {
                ErrorKind::NotFound
            }
            Self::Duplicate(_) => ErrorKind::Conflict,
            Self::Predefined(_) | Self::InUse { .. } | Self::AlreadyConnected { .. } => {
                ErrorKind::Forbidden
            }
            Self::Invalid(_) => ErrorKind::InvalidArgument,
            Self::Ipam(e) => match e {
                IpamError::NoMoreSubnets
                | IpamError::NoAvailableAddresses { .. }
                | IpamError::UnknownSubnet { .. } => ErrorKind::Internal,
                IpamError::PoolOverlap { .. } => ErrorKind::Forbidden,
                _ => ErrorKind::InvalidArgument,
            },
            Self::Publish { .. }
            | Self::Link(_)
            | Self::Netns(_)
            | Self::Dns(_)
            | Self::Nft(_)
            | Self::Store { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn store(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Store {
            context: context.into(),
            source,
        }
    }
}
