//! [`Netlink`] over rtnetlink.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use nix::errno::Errno;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};
use tokio::task::JoinHandle;

use super::{Link, LinkError, LinkKind, MacAddr, Netlink, check_name};
use crate::netns::NetNs;

/// A netlink route socket bound to one network namespace (the one it was
/// opened in), and the task that drives it on the current tokio runtime.
/// Dropping it closes the socket.
#[derive(Debug)]
pub struct Rtnl {
    handle: Handle,
    task: JoinHandle<()>,
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Rtnl {
    /// A socket in the calling thread's network namespace. Must be called
    /// within a tokio runtime.
    pub fn current() -> Result<Self, LinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        Ok(Rtnl {
            handle,
            task: tokio::spawn(conn),
        })
    }

    /// A socket in `ns`, opened on a throw-away thread that entered it.
    /// Must be called within a tokio runtime.
    pub fn in_netns(ns: &NetNs) -> Result<Self, LinkError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| LinkError::Socket(io::Error::other(e)))?;
        let (conn, handle, _) = ns
            .run(|| {
                let _entered = runtime.enter();
                rtnetlink::new_connection()
            })?
            .map_err(LinkError::Socket)?;
        Ok(Rtnl {
            handle,
            task: tokio::spawn(conn),
        })
    }

    async fn index(&self, name: &str) -> Result<u32, LinkError> {
        check_name(name)?;
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg.header.index),
            Ok(None) => Err(LinkError::NotFound {
                name: name.to_string(),
            }),
            Err(e) => Err(error("get link", name, e)),
        }
    }

    async fn add(&self, op: &'static str, name: &str, msg: LinkMessage) -> Result<(), LinkError> {
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| error(op, name, e))
    }

    async fn set(&self, op: &'static str, name: &str, msg: LinkMessage) -> Result<(), LinkError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| error(op, name, e))
    }
}

fn with_mtu<T>(builder: LinkMessageBuilder<T>, mtu: Option<u32>) -> LinkMessageBuilder<T> {
    match mtu {
        Some(mtu) => builder.mtu(mtu),
        None => builder,
    }
}

/// Maps the kernel's errno to [`LinkError::NotFound`]/[`LinkError::Exists`].
fn error(op: &'static str, name: &str, source: rtnetlink::Error) -> LinkError {
    let errno = match &source {
        rtnetlink::Error::NetlinkError(msg) => Errno::from_raw(msg.raw_code().abs()),
        _ => Errno::UnknownErrno,
    };
    match errno {
        Errno::ENODEV => LinkError::NotFound {
            name: name.to_string(),
        },
        Errno::EEXIST => LinkError::Exists {
            name: name.to_string(),
        },
        _ => LinkError::Netlink {
            op,
            name: name.to_string(),
            source,
        },
    }
}

impl Netlink for Rtnl {
    async fn enter(&self, ns: &NetNs) -> Result<Self, LinkError> {
        Rtnl::in_netns(ns)
    }

    async fn add_bridge(&self, name: &str, mtu: Option<u32>) -> Result<(), LinkError> {
        check_name(name)?;
        let builder = with_mtu(LinkMessageBuilder::<LinkBridge>::new(name), mtu);
        self.add("add bridge", name, builder.build()).await
    }

    async fn add_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), LinkError> {
        check_name(name)?;
        check_name(peer)?;
        self.add(
            "add veth",
            name,
            with_mtu(LinkVeth::new(name, peer), mtu).build(),
        )
        .await?;
        if let Some(mtu) = mtu
            && let Err(e) = self.set_mtu(peer, mtu).await
        {
            // Do not leave a half-made pair behind.
            let _ = self.delete_link(name).await;
            return Err(e);
        }
        Ok(())
    }

    async fn set_controller(&self, name: &str, bridge: &str) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        let controller = self.index(bridge).await?;
        self.set(
            "set master",
            name,
            LinkUnspec::new_with_index(index)
                .controller(controller)
                .build(),
        )
        .await
    }

    async fn set_hairpin(&self, name: &str, on: bool) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        let msg = LinkBridgePort::new(index).hairpin(on).build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(|e| error("set hairpin", name, e))
    }

    async fn move_to_netns(&self, name: &str, ns: &NetNs) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        let fd = ns.as_fd().as_raw_fd();
        self.set(
            "set netns",
            name,
            LinkUnspec::new_with_index(index).setns_by_fd(fd).build(),
        )
        .await
    }

    async fn rename(&self, name: &str, new_name: &str) -> Result<(), LinkError> {
        check_name(new_name)?;
        let index = self.index(name).await?;
        self.set(
            "set name",
            name,
            LinkUnspec::new_with_index(index)
                .name(new_name.to_string())
                .build(),
        )
        .await
        .map_err(|e| match e {
            LinkError::Exists { .. } => LinkError::Exists {
                name: new_name.to_string(),
            },
            other => other,
        })
    }

    async fn set_mac(&self, name: &str, mac: MacAddr) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        self.set(
            "set address",
            name,
            LinkUnspec::new_with_index(index)
                .address(mac.0.to_vec())
                .build(),
        )
        .await
    }

    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        self.set(
            "set mtu",
            name,
            LinkUnspec::new_with_index(index).mtu(mtu).build(),
        )
        .await
    }

    async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        self.set(
            "set up",
            name,
            LinkUnspec::new_with_index(index).up().build(),
        )
        .await
    }

    async fn add_address(&self, name: &str, addr: Ipv4Net) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        self.handle
            .address()
            .add(index, IpAddr::V4(addr.addr()), addr.prefix_len())
            .execute()
            .await
            .map_err(|e| error("add address", name, e))
    }

    async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        self.handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(|e| error("add default route via", &gateway.to_string(), e))
    }

    async fn delete_link(&self, name: &str) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(|e| error("delete link", name, e))
    }

    async fn list_links(&self) -> Result<Vec<Link>, LinkError> {
        let messages: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| error("list links", "", e))?;
        Ok(messages.into_iter().map(to_link).collect())
    }

    async fn list_routes(&self) -> Result<Vec<Ipv4Net>, LinkError> {
        let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(|e| error("list routes", "", e))?;
        Ok(routes.iter().filter_map(main_table_prefix).collect())
    }
}

fn to_link(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: LinkKind::Other(String::new()),
        controller: None,
        mtu: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        mac: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Mtu(mtu) => link.mtu = Some(mtu),
            LinkAttribute::Controller(index) => link.controller = Some(index),
            LinkAttribute::Address(bytes) => {
                link.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(MacAddr)
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = match kind {
                            InfoKind::Bridge => LinkKind::Bridge,
                            InfoKind::Veth => LinkKind::Veth,
                            other => LinkKind::Other(other.to_string()),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// The destination prefix of a unicast route of the main table.
fn main_table_prefix(route: &RouteMessage) -> Option<Ipv4Net> {
    let table = route
        .attributes
        .iter()
        .find_map(|a| {
            if let RouteAttribute::Table(t) = a {
                Some(*t)
            } else {
                None
            }
        })
        .unwrap_or(u32::from(route.header.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || route.header.kind != RouteType::Unicast {
        return None;
    }
    let dst = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Ipv4Net::new(dst, route.header.destination_prefix_length).ok()
}
