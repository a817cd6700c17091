//! skiff's NAT and filter rules, as one nftables table of its own.
//!
//! [`Firewall`] is the whole desired state (every bridge network and every
//! published port); [`Firewall::replace_batch`] turns it into one `nft -j`
//! transaction that creates the table if missing, deletes it and re-creates
//! it with the rules, atomically (the kernel applies a batch all or nothing).
//! [`delete_batch`] removes the table, and succeeds when it is absent. No
//! batch here flushes the ruleset or touches any other table, so dockerd's
//! iptables-nft tables beside it stay as they are.
//!
//! The table (family `ip`), following dockerd's iptables rules:
//! - `prerouting` (nat, dstnat) and `output` (nat, dstnat; not for
//!   127.0.0.0/8, as dockerd) jump to `published` for traffic to a local address;
//! - `published`: per published port, `[ip daddr HOST] [iifname != BRIDGE]
//!   tcp|udp dport HOST_PORT dnat to CONTAINER:PORT`. The bridge exclusion
//!   is there unless [`Firewall::hairpin`] is set: with the userland proxy a
//!   container reaching a published port goes through the proxy; without it
//!   the kernel DNAT serves it (hairpin);
//! - `postrouting` (nat, srcnat): per non-internal bridge with masquerade on,
//!   `ip saddr SUBNET oifname != BRIDGE masquerade`; per published port,
//!   `ip saddr C ip daddr C tcp|udp dport PORT masquerade` (the hairpin
//!   return path, as dockerd adds);
//! - `forward` (filter, policy accept): per internal bridge, drop what enters
//!   it from or leaves it to another interface; per bridge, drop what goes
//!   from it to any other skiff bridge (isolation between networks).

mod apply;
mod expr;

use std::borrow::Cow;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde::{Deserialize, Serialize};

pub use apply::{NftError, apply, delete, list_table};

use crate::Protocol;
use expr::{
    dnat, drop, fib_daddr_local, iifname, masquerade, neq_iifname, neq_oifname, oifname, oifname_in,
};

/// The chain names inside skiff's table.
pub mod chains {
    /// nat prerouting hook.
    pub const PREROUTING: &str = "prerouting";
    /// nat output hook.
    pub const OUTPUT: &str = "output";
    /// The DNAT rules of published ports (jumped to).
    pub const PUBLISHED: &str = "published";
    /// nat postrouting hook.
    pub const POSTROUTING: &str = "postrouting";
    /// filter forward hook.
    pub const FORWARD: &str = "forward";
}

/// One bridge network's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeRules {
    /// The bridge interface (`skiff0`, `br-1234abcd`).
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// `--internal`: no traffic in or out of the bridge but between its ports.
    pub internal: bool,
    /// `com.docker.network.bridge.enable_ip_masquerade` (default true).
    pub masquerade: bool,
}

/// One published port (`-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// tcp or udp.
    pub protocol: Protocol,
    /// The host address; `None` (or 0.0.0.0) is every local address.
    /// Loopback addresses get no DNAT (the `output` chain skips
    /// 127.0.0.0/8, as dockerd's does): the userland proxy serves them.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address on `bridge`.
    pub container_ip: Ipv4Addr,
    /// The container port.
    pub container_port: u16,
    /// The bridge the container is reached through.
    pub bridge: String,
}

/// The complete desired state of skiff's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firewall {
    /// The table's name (`skiff`; tests use a unique one).
    pub table: String,
    /// Every bridge network.
    pub bridges: Vec<BridgeRules>,
    /// Every published port.
    pub ports: Vec<PublishedPort>,
    /// DNAT published ports for traffic from the container's own bridge too
    /// (no userland proxy: dockerd's `--userland-proxy=false`).
    pub hairpin: bool,
}

const FAMILY: NfFamily = NfFamily::IP;

impl Firewall {
    /// An empty table named `table`.
    pub fn new(table: impl Into<String>) -> Self {
        Firewall {
            table: table.into(),
            bridges: Vec::new(),
            ports: Vec::new(),
            hairpin: false,
        }
    }

    /// The table's objects: the table, its chains, then its rules.
    pub fn objects(&self) -> Vec<NfObject<'static>> {
        let mut out = vec![NfObject::ListObject(NfListObject::Table(table(
            &self.table,
        )))];
        let hooked = [
            (
                chains::PREROUTING,
                NfChainType::NAT,
                NfHook::Prerouting,
                -100,
            ),
            (chains::OUTPUT, NfChainType::NAT, NfHook::Output, -100),
            (
                chains::POSTROUTING,
                NfChainType::NAT,
                NfHook::Postrouting,
                100,
            ),
            (chains::FORWARD, NfChainType::Filter, NfHook::Forward, 0),
        ];
        for (name, kind, hook, prio) in hooked {
            let mut chain = self.chain(name);
            chain._type = Some(kind);
            chain.hook = Some(hook);
            chain.prio = Some(prio);
            chain.policy = Some(NfChainPolicy::Accept);
            out.push(NfObject::ListObject(NfListObject::Chain(chain)));
        }
        out.push(NfObject::ListObject(NfListObject::Chain(
            self.chain(chains::PUBLISHED),
        )));

        let jump = || {
            Statement::Jump(JumpTarget {
                target: Cow::Borrowed(chains::PUBLISHED),
            })
        };
        out.push(self.rule(chains::PREROUTING, vec![fib_daddr_local(), jump()]));
        let not_loopback = expr::neq_daddr_prefix(Ipv4Addr::new(127, 0, 0, 0), 8);
        out.push(self.rule(
            chains::OUTPUT,
            vec![not_loopback, fib_daddr_local(), jump()],
        ));

        for port in &self.ports {
            out.push(self.rule(chains::PUBLISHED, self.dnat_rule(port)));
        }
        for b in self.bridges.iter().filter(|b| b.masquerade && !b.internal) {
            let stmts = vec![
                expr::saddr_prefix(b.subnet),
                neq_oifname(&b.bridge),
                masquerade(),
            ];
            out.push(self.rule(chains::POSTROUTING, stmts));
        }
        for port in &self.ports {
            let stmts = vec![
                expr::saddr(port.container_ip),
                expr::daddr(port.container_ip),
                expr::dport(port.protocol, port.container_port),
                masquerade(),
            ];
            out.push(self.rule(chains::POSTROUTING, stmts));
        }
        for b in self.bridges.iter().filter(|b| b.internal) {
            out.push(self.rule(
                chains::FORWARD,
                vec![iifname(&b.bridge), neq_oifname(&b.bridge), drop()],
            ));
            out.push(self.rule(
                chains::FORWARD,
                vec![oifname(&b.bridge), neq_iifname(&b.bridge), drop()],
            ));
        }
        for b in &self.bridges {
            let others: Vec<&str> = self
                .bridges
                .iter()
                .map(|o| o.bridge.as_str())
                .filter(|o| *o != b.bridge)
                .collect();
            if !others.is_empty() {
                out.push(self.rule(
                    chains::FORWARD,
                    vec![iifname(&b.bridge), oifname_in(&others), drop()],
                ));
            }
        }
        out
    }

    /// One transaction that replaces skiff's table with this state: create
    /// it if missing (so the delete cannot fail), delete it, create it anew.
    pub fn replace_batch(&self) -> Nftables<'static> {
        let mut objects = vec![
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(&self.table)))),
            NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(table(&self.table)))),
        ];
        objects.extend(self.objects().into_iter().map(|o| match o {
            NfObject::ListObject(l) => NfObject::CmdObject(NfCmd::Add(l)),
            cmd => cmd,
        }));
        Nftables {
            objects: objects.into(),
        }
    }

    fn dnat_rule(&self, port: &PublishedPort) -> Vec<Statement<'static>> {
        let mut stmts = Vec::with_capacity(4);
        if let Some(ip) = port.host_ip.filter(|ip| !ip.is_unspecified()) {
            stmts.push(expr::daddr(ip));
        }
        if !self.hairpin {
            stmts.push(neq_iifname(&port.bridge));
        }
        stmts.push(expr::dport(port.protocol, port.host_port));
        stmts.push(dnat(port.container_ip, port.container_port));
        stmts
    }

    fn chain(&self, name: &'static str) -> Chain<'static> {
        Chain {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Borrowed(name),
            ..Chain::default()
        }
    }

    fn rule(&self, chain: &'static str, expr: Vec<Statement<'static>>) -> NfObject<'static> {
        NfObject::ListObject(NfListObject::Rule(Rule {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Borrowed(chain),
            expr: expr.into(),
            ..Rule::default()
        }))
    }
}

/// One transaction that deletes skiff's table `name`, and succeeds when it
/// does not exist.
pub fn delete_batch(name: &str) -> Nftables<'static> {
    Nftables {
        objects: vec![
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(name)))),
            NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(table(name)))),
        ]
        .into(),
    }
}

fn table(name: &str) -> Table<'static> {
    Table {
        family: FAMILY,
        name: Cow::Owned(name.to_string()),
        handle: None,
    }
}

#[cfg(test)]
mod tests;
