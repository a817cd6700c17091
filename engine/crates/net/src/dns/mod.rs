//! The embedded DNS server of containers on user-defined networks: what
//! dockerd's libnetwork `Resolver` is, one per container, at
//! `nameserver 127.0.0.11` in its resolv.conf.
//!
//! It answers, from [`Names`] (the networks service's view, see
//! [`NameTable`]), A/AAAA for container names, network aliases, `--link`
//! aliases and short ids of the networks the container is attached to, and
//! PTR for their addresses; several addresses (a `--scale`d service alias)
//! come in rotating order. Everything else is forwarded, byte for byte, to
//! the upstream resolvers (the host's resolv.conf nameservers or the
//! container's `--dns`, see [`crate::resolvconf`]) with a timeout each;
//! SERVFAIL when none answers. UDP and TCP; UDP replies larger than the
//! client accepts are cut and marked truncated. The rules, query by query,
//! are in [`answer`]; forwarding in [`forward`].
//!
//! ## Where it listens
//!
//! dockerd creates its two sockets inside the container's namespace on
//! `127.0.0.11` at random ports and installs iptables rules in that
//! namespace (`DOCKER_OUTPUT`/`DOCKER_POSTROUTING`) that DNAT
//! `127.0.0.11:53` to them and SNAT the replies back. The random ports keep
//! port 53 free for a DNS server the container itself runs on `0.0.0.0:53`.
//!
//! skiff binds `127.0.0.11:53` itself (UDP and TCP), inside the namespace:
//! no per-container rules, nothing to sweep after a crash, and one less
//! dependency on netfilter inside every container. The cost: a process in
//! the container that binds the wildcard address on port 53 gets
//! `EADDRINUSE`. [`DnsConfig::listen`] takes port 0 for dockerd's layout
//! (both sockets on one random port, reported by [`DnsHandle`]), should a
//! DNAT rule be added later.
//!
//! [`start`] makes the sockets on a thread of the server's own that enters
//! the container's namespace (`setns`) and stays there, hands them to the
//! tokio runtime, and keeps the thread to create the sockets of upstreams
//! reached from the container's namespace. `lo` must be up there for
//! `127.0.0.11` to be reachable; [`start`] brings it up if it is not (a
//! fresh namespace's is down; [`crate::link::attach`] also does it). Dropping the [`DnsHandle`] stops
//! the server: tasks aborted, sockets closed, the thread ends.
//!
//! Wire format: `hickory-proto`. Forwarding is a plain exchange on
//! hickory-proto's messages rather than `hickory-resolver`: see [`forward`].

pub mod answer;
pub mod forward;
mod names;
mod nsworker;
mod server;

pub use forward::{Transport, Upstream};
pub use names::{Endpoint, NameTable, Names};
pub use server::{
    DEFAULT_UPSTREAM_TIMEOUT, DnsConfig, DnsError, DnsHandle, EMBEDDED_DNS_IP, start,
};
