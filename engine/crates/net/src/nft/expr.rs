//! Small constructors for the `nft -j` statements skiff's rules use.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem,
};
use nftables::stmt::{Match, NAT, Operator, Statement};

use crate::Protocol;

fn string(s: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_string()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn prefix(addr: Ipv4Addr, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(string(&addr.to_string())),
        len: u32::from(len),
    }))
}

/// `left op right`.
pub(super) fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

/// `iifname "NAME"`.
pub(super) fn iifname(name: &str) -> Statement<'static> {
    matches(meta(MetaKey::Iifname), Operator::EQ, string(name))
}

/// `iifname != "NAME"`.
pub(super) fn neq_iifname(name: &str) -> Statement<'static> {
    matches(meta(MetaKey::Iifname), Operator::NEQ, string(name))
}

/// `oifname "NAME"`.
pub(super) fn oifname(name: &str) -> Statement<'static> {
    matches(meta(MetaKey::Oifname), Operator::EQ, string(name))
}

/// `oifname != "NAME"`.
pub(super) fn neq_oifname(name: &str) -> Statement<'static> {
    matches(meta(MetaKey::Oifname), Operator::NEQ, string(name))
}

/// `oifname { "A", "B" }`.
pub(super) fn oifname_in(names: &[&str]) -> Statement<'static> {
    let set = names.iter().map(|n| SetItem::Element(string(n))).collect();
    matches(
        meta(MetaKey::Oifname),
        Operator::EQ,
        Expression::Named(NamedExpression::Set(set)),
    )
}

/// `ip saddr ADDR`.
pub(super) fn saddr(ip: Ipv4Addr) -> Statement<'static> {
    matches(
        payload("ip", "saddr"),
        Operator::EQ,
        string(&ip.to_string()),
    )
}

/// `ip daddr ADDR`.
pub(super) fn daddr(ip: Ipv4Addr) -> Statement<'static> {
    matches(
        payload("ip", "daddr"),
        Operator::EQ,
        string(&ip.to_string()),
    )
}

/// `ip saddr SUBNET`.
pub(super) fn saddr_prefix(net: Ipv4Net) -> Statement<'static> {
    matches(
        payload("ip", "saddr"),
        Operator::EQ,
        prefix(net.network(), net.prefix_len()),
    )
}

/// `ip daddr != ADDR/LEN`.
pub(super) fn neq_daddr_prefix(addr: Ipv4Addr, len: u8) -> Statement<'static> {
    matches(payload("ip", "daddr"), Operator::NEQ, prefix(addr, len))
}

/// `tcp dport PORT` / `udp dport PORT` (nft adds the l4proto dependency).
pub(super) fn dport(protocol: Protocol, port: u16) -> Statement<'static> {
    matches(
        payload(protocol.as_str(), "dport"),
        Operator::EQ,
        Expression::Number(u32::from(port)),
    )
}

/// `fib daddr type local`.
pub(super) fn fib_daddr_local() -> Statement<'static> {
    let fib = Fib {
        result: FibResult::Type,
        flags: HashSet::from([FibFlag::Daddr]),
    };
    matches(
        Expression::Named(NamedExpression::Fib(fib)),
        Operator::EQ,
        string("local"),
    )
}

/// `dnat to ADDR:PORT`.
pub(super) fn dnat(ip: Ipv4Addr, port: u16) -> Statement<'static> {
    Statement::DNAT(Some(NAT {
        addr: Some(string(&ip.to_string())),
        family: None,
        port: Some(Expression::Number(u32::from(port))),
        flags: None,
    }))
}

/// `masquerade`.
pub(super) fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

/// `drop`.
pub(super) fn drop() -> Statement<'static> {
    Statement::Drop(None)
}
