//! The network service's OS seam: every kernel call it makes, blocking.
//!
//! [`Kernel`] is object-safe and blocking (the service is called from
//! blocking threads: a container's start runs in `spawn_blocking`); the one
//! implementation, [`LinkKernel`], drives skiff-net's async [`Netlink`] on
//! the daemon's tokio runtime, so the real one is `LinkKernel<Rtnl>` and
//! the unit tests' `LinkKernel<FakeNetlink>` (with the firewall recorded
//! instead of applied). Proxies run on that runtime too.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use ipnet::Ipv4Net;
use skiff_net::dns::{self, DnsConfig, DnsHandle};
use skiff_net::link::{self, BridgeConfig, EndpointConfig, Link, LinkError, Netlink};
use skiff_net::netns::NetNs;
use skiff_net::nft::{self, Firewall};
use skiff_net::proxy::{self, ProxyHandle, ProxySpec};
use tokio::runtime::Handle;

use super::error::{NetworkError, PublishError};

/// The kernel calls of the network service (blocking; never call them
/// from a tokio worker thread).
pub trait Kernel: Send + Sync + fmt::Debug {
    /// The namespace's IPv4 routes (what default pools must not overlap).
    fn routes(&self) -> Result<Vec<Ipv4Net>, NetworkError>;
    /// The namespace's links.
    fn links(&self) -> Result<Vec<Link>, NetworkError>;
    /// Makes sure a bridge exists, has its address and is up (idempotent),
    /// and that the namespace forwards IPv4. A bridge this kernel made sure
    /// of before with the same configuration, and has not removed since,
    /// is taken as it is (no kernel call); [`Kernel::attach`] forgets it
    /// when it finds it gone, so the next call makes it again.
    fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<(), NetworkError>;
    /// Whether a link of that name exists (a bridge made sure of and not
    /// removed since counts without a kernel call).
    fn link_exists(&self, name: &str) -> Result<bool, NetworkError> {
        Ok(self.links()?.iter().any(|l| l.name == name))
    }
    /// Deletes a bridge (gone already is fine).
    fn remove_bridge(&self, name: &str) -> Result<(), NetworkError>;
    /// A new, empty network namespace (see [`NetNs::create`]).
    fn new_netns(&self) -> Result<NetNs, NetworkError>;
    /// Keeps `ns` alive at `path` (a bind mount, as `ip netns add`), so the
    /// runtime joins it by path and it outlives a daemon restart.
    fn pin_netns(&self, ns: &NetNs, path: &std::path::Path) -> Result<(), NetworkError>;
    /// Undoes [`Kernel::pin_netns`] (gone already is fine).
    fn unpin_netns(&self, path: &std::path::Path) -> Result<(), NetworkError>;
    /// Plugs a container into a bridge ([`link::attach`]). A bridge found
    /// missing is forgotten (see [`Kernel::ensure_bridge`]).
    fn attach(&self, ep: &EndpointConfig<'_>) -> Result<(), NetworkError>;
    /// Unplugs it ([`link::detach`]; gone already is fine).
    fn detach(&self, host_ifname: &str) -> Result<(), NetworkError>;
    /// Replaces skiff's nftables table with `fw` (nothing to do when `fw`
    /// is the table applied last).
    fn apply_firewall(&self, fw: &Firewall) -> Result<(), NetworkError>;
    /// Binds a published port's host address and starts its proxy.
    fn proxy(&self, spec: ProxySpec) -> Result<ProxyHandle, PublishError>;
    /// Starts an embedded DNS server in the namespace at `netns`
    /// ([`dns::start`]); `None` when the kernel makes no real namespaces
    /// (tests: nothing started).
    fn start_dns(&self, netns: &Path, config: DnsConfig)
    -> Result<Option<DnsHandle>, NetworkError>;
}

/// [`Kernel`] over a [`Netlink`] on a tokio runtime.
pub struct LinkKernel<N> {
    nl: N,
    rt: Handle,
    /// Run `nft` (the real kernel) or only record the table (tests).
    nft: bool,
    /// Make real namespaces (root) or stand-ins (tests).
    real_netns: bool,
    /// The last firewall applied.
    last: Mutex<Option<Firewall>>,
    /// Bridges made sure of (and not removed since), with their
    /// configuration: a container's join then costs no bridge call.
    bridges: Mutex<Vec<BridgeConfig>>,
}

impl<N> fmt::Debug for LinkKernel<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkKernel")
            .field("nft", &self.nft)
            .finish()
    }
}

impl LinkKernel<link::Rtnl> {
    /// The real kernel: rtnetlink in the daemon's network namespace, `nft`.
    /// Must be called within the tokio runtime `rt`.
    pub fn real(rt: Handle) -> Result<Self, NetworkError> {
        let _entered = rt.enter();
        Ok(LinkKernel {
            nl: link::Rtnl::current()?,
            rt,
            nft: true,
            real_netns: true,
            last: Mutex::new(None),
            bridges: Mutex::new(Vec::new()),
        })
    }
}

impl<N: Netlink> LinkKernel<N> {
    /// A kernel over `nl` that records the firewall instead of running
    /// `nft` and gives containers stand-in namespaces (unit tests).
    pub fn recording(nl: N, rt: Handle) -> Self {
        LinkKernel {
            nl,
            rt,
            nft: false,
            real_netns: false,
            last: Mutex::new(None),
            bridges: Mutex::new(Vec::new()),
        }
    }

    /// The netlink seam (the fake's recorded calls, in tests).
    pub fn netlink(&self) -> &N {
        &self.nl
    }

    fn known_bridges(&self) -> std::sync::MutexGuard<'_, Vec<BridgeConfig>> {
        self.bridges.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget_bridge(&self, name: &str) {
        self.known_bridges().retain(|b| b.name != name);
    }

    /// The last firewall applied.
    pub fn firewall(&self) -> Option<Firewall> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<N: Netlink> Kernel for LinkKernel<N> {
    fn routes(&self) -> Result<Vec<Ipv4Net>, NetworkError> {
        Ok(self.rt.block_on(self.nl.list_routes())?)
    }

    fn links(&self) -> Result<Vec<Link>, NetworkError> {
        Ok(self.rt.block_on(self.nl.list_links())?)
    }

    fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<(), NetworkError> {
        // Held throughout: joins running at once make a bridge once.
        let mut known = self.known_bridges();
        if known.contains(cfg) {
            return Ok(());
        }
        self.rt.block_on(link::ensure_bridge(&self.nl, cfg))?;
        if self.real_netns {
            // Containers reach beyond their bridge only with forwarding on
            // (per network namespace; the daemon's own).
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                .map_err(|e| NetworkError::store("enabling net.ipv4.ip_forward", e))?;
        }
        known.retain(|b| b.name != cfg.name);
        known.push(cfg.clone());
        Ok(())
    }

    fn link_exists(&self, name: &str) -> Result<bool, NetworkError> {
        if self.known_bridges().iter().any(|b| b.name == name) {
            return Ok(true);
        }
        Ok(self.links()?.iter().any(|l| l.name == name))
    }

    fn remove_bridge(&self, name: &str) -> Result<(), NetworkError> {
        self.forget_bridge(name);
        Ok(self.rt.block_on(link::remove_bridge(&self.nl, name))?)
    }

    fn new_netns(&self) -> Result<NetNs, NetworkError> {
        if self.real_netns {
            return Ok(NetNs::create()?);
        }
        // A stand-in with an identity of its own (an unlinked file), so
        // the fake models each container's namespace apart.
        let raw: u64 = rand::random();
        let path = std::env::temp_dir().join(format!("skiff-fake-netns-{raw:016x}"));
        let file = std::fs::File::create(&path)
            .map_err(|e| NetworkError::store(format!("creating {}", path.display()), e))?;
        let _ = std::fs::remove_file(&path);
        Ok(NetNs::from_fd(file.into()))
    }

    fn pin_netns(&self, ns: &NetNs, path: &std::path::Path) -> Result<(), NetworkError> {
        if self.real_netns {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| NetworkError::store(format!("creating {}", dir.display()), e))?;
            }
            ns.pin(path)?;
        }
        Ok(())
    }

    fn unpin_netns(&self, path: &std::path::Path) -> Result<(), NetworkError> {
        if self.real_netns {
            NetNs::unpin(path)?;
        }
        Ok(())
    }

    fn attach(&self, ep: &EndpointConfig<'_>) -> Result<(), NetworkError> {
        match self.rt.block_on(link::attach(&self.nl, ep)) {
            Err(LinkError::NotFound { name }) if name == ep.bridge => {
                // Deleted behind our back: made again at the next ensure.
                self.forget_bridge(ep.bridge);
                Err(LinkError::NotFound { name }.into())
            }
            other => Ok(other?),
        }
    }

    fn detach(&self, host_ifname: &str) -> Result<(), NetworkError> {
        Ok(self.rt.block_on(link::detach(&self.nl, host_ifname))?)
    }

    fn apply_firewall(&self, fw: &Firewall) -> Result<(), NetworkError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // The table this daemon applied last is in the kernel already: no
        // `nft` run (a container without ports joining a bridge that has
        // other containers changes nothing). The first apply after a start
        // always runs, so a table left by a dead daemon is replaced.
        if last.as_ref() == Some(fw) {
            return Ok(());
        }
        if self.nft {
            self.rt.block_on(nft::apply(fw))?;
        }
        *last = Some(fw.clone());
        Ok(())
    }

    fn proxy(&self, spec: ProxySpec) -> Result<ProxyHandle, PublishError> {
        Ok(self.rt.block_on(proxy::start(spec))?)
    }

    fn start_dns(
        &self,
        netns: &Path,
        config: DnsConfig,
    ) -> Result<Option<DnsHandle>, NetworkError> {
        if !self.real_netns {
            return Ok(None);
        }
        let ns = NetNs::open(netns)?;
        Ok(Some(self.rt.block_on(dns::start(Some(&ns), config))?))
    }
}
