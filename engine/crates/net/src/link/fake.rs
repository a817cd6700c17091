//! A [`Netlink`] test double: records every call and keeps a small model of
//! links per namespace, so services can be tested without privileges.
//!
//! The model follows the kernel where the service depends on it: names are
//! unique per namespace, deleting one end of a veth deletes its peer
//! wherever it is, a moved link leaves the namespace, and unknown names give
//! [`LinkError::NotFound`]. [`FakeNetlink::fail_on`] makes one operation fail.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::Ipv4Net;

use super::{Link, LinkError, LinkKind, MacAddr, Netlink, check_name};
use crate::netns::NetNs;

/// A namespace as the fake knows it: `None` is the one it was created for,
/// otherwise the (device, inode) of the namespace file.
pub type NsKey = Option<(u64, u64)>;

/// One recorded call (the namespace it was made on is recorded beside it).
/// Each variant's fields are the arguments of the [`Netlink`] method it
/// names, documented there.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// [`Netlink::add_bridge`].
    AddBridge { name: String, mtu: Option<u32> },
    /// [`Netlink::add_veth`].
    AddVeth {
        name: String,
        peer: String,
        mtu: Option<u32>,
    },
    /// [`Netlink::set_controller`].
    SetController { name: String, bridge: String },
    /// [`Netlink::set_hairpin`].
    SetHairpin { name: String, on: bool },
    /// [`Netlink::move_to_netns`].
    MoveToNetns { name: String, ns: NsKey },
    /// [`Netlink::rename`].
    Rename { name: String, new_name: String },
    /// [`Netlink::set_mac`].
    SetMac { name: String, mac: MacAddr },
    /// [`Netlink::set_mtu`].
    SetMtu { name: String, mtu: u32 },
    /// [`Netlink::set_up`].
    SetUp { name: String },
    /// [`Netlink::add_address`].
    AddAddress { name: String, addr: Ipv4Net },
    /// [`Netlink::add_default_route`].
    AddDefaultRoute { gateway: Ipv4Addr },
    /// [`Netlink::delete_link`].
    DeleteLink { name: String },
}

/// A link of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeLink {
    /// Where it is.
    pub ns: NsKey,
    /// Its name there.
    pub name: String,
    /// Bridge or veth (`lo` is not modelled).
    pub kind: LinkKind,
    /// The bridge it is plugged into, by name.
    pub controller: Option<String>,
    /// Up.
    pub up: bool,
    /// Bridge port hairpin mode.
    pub hairpin: bool,
    /// MAC, once set.
    pub mac: Option<MacAddr>,
    /// MTU, once set.
    pub mtu: Option<u32>,
    /// Addresses.
    pub addrs: Vec<Ipv4Net>,
    /// Identity shared by the two ends of a veth pair.
    pub pair: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<(NsKey, Call)>,
    links: Vec<FakeLink>,
    routes: Vec<(NsKey, Ipv4Net)>,
    fail_on: Option<&'static str>,
    next_pair: u64,
}

/// The test double. Clones share one model.
#[derive(Clone, Debug, Default)]
pub struct FakeNetlink {
    state: Arc<Mutex<State>>,
    ns: NsKey,
}

impl FakeNetlink {
    /// An empty model, acting on the namespace `None`.
    pub fn new() -> Self {
        FakeNetlink::default()
    }

    /// Every call so far, with the namespace it was made on.
    pub fn calls(&self) -> Vec<(NsKey, Call)> {
        self.lock().calls.clone()
    }

    /// Every link of the model.
    pub fn links(&self) -> Vec<FakeLink> {
        self.lock().links.clone()
    }

    /// Makes every later call of the operation named like the [`Call`]
    /// variant (`"AddAddress"`) fail with a netlink error.
    pub fn fail_on(&self, op: &'static str) {
        self.lock().fail_on = Some(op);
    }

    /// Sets the routes [`Netlink::list_routes`] returns in this namespace.
    pub fn set_routes(&self, routes: &[Ipv4Net]) {
        let mut st = self.lock();
        let ns = self.ns;
        st.routes.retain(|(n, _)| *n != ns);
        st.routes.extend(routes.iter().map(|r| (ns, *r)));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the model from the others.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `call`, fails it if asked to, then applies `f` to the model.
    fn record<T>(
        &self,
        op: &'static str,
        call: Call,
        f: impl FnOnce(&mut State, NsKey) -> Result<T, LinkError>,
    ) -> Result<T, LinkError> {
        let mut st = self.lock();
        st.calls.push((self.ns, call));
        if st.fail_on == Some(op) {
            return Err(LinkError::Netlink {
                op,
                name: String::new(),
                source: rtnetlink::Error::RequestFailed,
            });
        }
        f(&mut st, self.ns)
    }
}

impl State {
    fn find(&mut self, ns: NsKey, name: &str) -> Result<&mut FakeLink, LinkError> {
        self.links
            .iter_mut()
            .find(|l| l.ns == ns && l.name == name)
            .ok_or_else(|| LinkError::NotFound {
                name: name.to_string(),
            })
    }

    fn add(
        &mut self,
        ns: NsKey,
        name: &str,
        kind: LinkKind,
        mtu: Option<u32>,
        pair: Option<u64>,
    ) -> Result<(), LinkError> {
        check_name(name)?;
        if self.links.iter().any(|l| l.ns == ns && l.name == name) {
            return Err(LinkError::Exists {
                name: name.to_string(),
            });
        }
        let link = FakeLink {
            ns,
            name: name.into(),
            kind,
            controller: None,
            up: false,
            hairpin: false,
            mac: None,
            mtu,
            addrs: vec![],
            pair,
        };
        self.links.push(link);
        Ok(())
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

impl Netlink for FakeNetlink {
    async fn enter(&self, ns: &NetNs) -> Result<Self, LinkError> {
        Ok(FakeNetlink {
            state: Arc::clone(&self.state),
            ns: Some(ns.id()?),
        })
    }

    async fn add_bridge(&self, name: &str, mtu: Option<u32>) -> Result<(), LinkError> {
        self.record(
            "AddBridge",
            Call::AddBridge { name: s(name), mtu },
            |st, ns| st.add(ns, name, LinkKind::Bridge, mtu, None),
        )
    }

    async fn add_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), LinkError> {
        self.record(
            "AddVeth",
            Call::AddVeth {
                name: s(name),
                peer: s(peer),
                mtu,
            },
            |st, ns| {
                check_name(peer)?;
                if st.links.iter().any(|l| l.ns == ns && l.name == peer) {
                    return Err(LinkError::Exists { name: s(peer) });
                }
                st.next_pair += 1;
                let pair = Some(st.next_pair);
                st.add(ns, name, LinkKind::Veth, mtu, pair)?;
                st.add(ns, peer, LinkKind::Veth, mtu, pair)
            },
        )
    }

    async fn set_controller(&self, name: &str, bridge: &str) -> Result<(), LinkError> {
        self.record(
            "SetController",
            Call::SetController {
                name: s(name),
                bridge: s(bridge),
            },
            |st, ns| {
                st.find(ns, bridge)?;
                st.find(ns, name)?.controller = Some(s(bridge));
                Ok(())
            },
        )
    }

    async fn set_hairpin(&self, name: &str, on: bool) -> Result<(), LinkError> {
        self.record(
            "SetHairpin",
            Call::SetHairpin { name: s(name), on },
            |st, ns| {
                let link = st.find(ns, name)?;
                if link.controller.is_none() {
                    // The kernel refuses bridge port options on a link that is no port.
                    return Err(LinkError::NotFound { name: s(name) });
                }
                link.hairpin = on;
                Ok(())
            },
        )
    }

    async fn move_to_netns(&self, name: &str, target: &NetNs) -> Result<(), LinkError> {
        let key = Some(target.id()?);
        self.record(
            "MoveToNetns",
            Call::MoveToNetns {
                name: s(name),
                ns: key,
            },
            |st, ns| {
                if st.links.iter().any(|l| l.ns == key && l.name == name) {
                    return Err(LinkError::Exists { name: s(name) });
                }
                let link = st.find(ns, name)?;
                link.ns = key;
                link.up = false;
                link.controller = None;
                Ok(())
            },
        )
    }

    async fn rename(&self, name: &str, new_name: &str) -> Result<(), LinkError> {
        self.record(
            "Rename",
            Call::Rename {
                name: s(name),
                new_name: s(new_name),
            },
            |st, ns| {
                check_name(new_name)?;
                if st.links.iter().any(|l| l.ns == ns && l.name == new_name) {
                    return Err(LinkError::Exists { name: s(new_name) });
                }
                st.find(ns, name)?.name = s(new_name);
                Ok(())
            },
        )
    }

    async fn set_mac(&self, name: &str, mac: MacAddr) -> Result<(), LinkError> {
        self.record("SetMac", Call::SetMac { name: s(name), mac }, |st, ns| {
            st.find(ns, name)?.mac = Some(mac);
            Ok(())
        })
    }

    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), LinkError> {
        self.record("SetMtu", Call::SetMtu { name: s(name), mtu }, |st, ns| {
            st.find(ns, name)?.mtu = Some(mtu);
            Ok(())
        })
    }

    async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        self.record("SetUp", Call::SetUp { name: s(name) }, |st, ns| {
            if name == "lo" {
                return Ok(());
            }
            st.find(ns, name)?.up = true;
            Ok(())
        })
    }

    async fn add_address(&self, name: &str, addr: Ipv4Net) -> Result<(), LinkError> {
        self.record(
            "AddAddress",
            Call::AddAddress {
                name: s(name),
                addr,
            },
            |st, ns| {
                let link = st.find(ns, name)?;
                if link.addrs.contains(&addr) {
                    return Err(LinkError::Exists { name: s(name) });
                }
                link.addrs.push(addr);
                Ok(())
            },
        )
    }

    async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        self.record(
            "AddDefaultRoute",
            Call::AddDefaultRoute { gateway },
            |st, ns| {
                st.routes.push((ns, Ipv4Net::default()));
                Ok(())
            },
        )
    }

    async fn delete_link(&self, name: &str) -> Result<(), LinkError> {
        self.record(
            "DeleteLink",
            Call::DeleteLink { name: s(name) },
            |st, ns| {
                let pair = st.find(ns, name)?.pair;
                st.links.retain(|l| {
                    !(l.ns == ns && l.name == name) && (pair.is_none() || l.pair != pair)
                });
                Ok(())
            },
        )
    }

    async fn list_links(&self) -> Result<Vec<Link>, LinkError> {
        let st = self.lock();
        let links = st.links.iter().filter(|l| l.ns == self.ns).enumerate();
        Ok(links
            .map(|(i, l)| Link {
                index: u32::try_from(i).unwrap_or(u32::MAX).saturating_add(2),
                name: l.name.clone(),
                kind: l.kind.clone(),
                controller: None,
                mtu: l.mtu,
                up: l.up,
                mac: l.mac,
            })
            .collect())
    }

    async fn list_routes(&self) -> Result<Vec<Ipv4Net>, LinkError> {
        Ok(self
            .lock()
            .routes
            .iter()
            .filter(|(ns, _)| *ns == self.ns)
            .map(|(_, r)| *r)
            .collect())
    }
}

#[cfg(test)]
mod tests;
