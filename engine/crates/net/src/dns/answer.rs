//! One query in, a local answer or "forward it" out: the embedded server's
//! wire handling, pure (no sockets), as dockerd's `Resolver.ServeDNS`.
//!
//! - A / AAAA of a name [`Names`] knows: its addresses of that family, TTL
//!   600, in rotated order (each answer starts one further along, so every
//!   replica of a scaled service comes first in turn; dockerd shuffles);
//!   none of that family: an empty NOERROR (never forwarded).
//! - MX of a known name: an empty NOERROR (RFC 5321 implicit MX).
//! - PTR of an address [`Names`] knows: `NAME.NETWORK.`.
//! - A / AAAA of an unknown single-label name when the container set
//!   `ndots` itself: an empty NOERROR, so its resolver tries the search
//!   domains (dockerd's rule) instead of us forwarding a bare name.
//! - Everything else: forwarded.
//!
//! Replies copy the id, opcode, RD and CD bits and the question, set RA, and
//! are cut to fit: over UDP to the client's EDNS payload size (at least 512),
//! dropping answers from the end and setting TC; over TCP to 65535.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::names::Names;

/// TTL of local answers (dockerd's `respTTL`).
pub const LOCAL_TTL: u32 = 600;

/// The largest DNS message over TCP.
pub const MAX_TCP: usize = 65535;

/// What to do with a query.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply.
    Reply(Message),
    /// Ask the upstream resolvers.
    Forward,
}

/// How the server answers for one container.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The container's id, the requester passed to [`Names`].
    pub container: &'a str,
    /// The container's resolv.conf sets `ndots` itself.
    pub ndots_set: bool,
    /// Rotation of multi-address answers (a counter the server increments).
    pub rotation: usize,
}

/// A reply skeleton for `query`: same id, opcode, RD, CD and question, RA set.
pub fn reply_to(query: &Message, code: ResponseCode) -> Message {
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.checking_disabled = query.metadata.checking_disabled;
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = code;
    resp.add_queries(query.queries.iter().cloned());
    resp
}

/// Decides `query` for `scope`.
pub fn answer(query: &Message, names: &dyn Names, scope: Scope<'_>) -> Outcome {
    if query.metadata.message_type != MessageType::Query {
        return Outcome::Reply(reply_to(query, ResponseCode::FormErr));
    }
    if query.metadata.op_code != OpCode::Query {
        return Outcome::Reply(reply_to(query, ResponseCode::NotImp));
    }
    let Some(q) = query.queries.first() else {
        return Outcome::Reply(reply_to(query, ResponseCode::FormErr));
    };
    let name = local_name(q.name());
    match q.query_type() {
        t @ (RecordType::A | RecordType::AAAA) => match names.lookup(scope.container, &name) {
            Some(addrs) => {
                let mut resp = reply_to(query, ResponseCode::NoError);
                let mut want: Vec<IpAddr> = addrs
                    .into_iter()
                    .filter(|a| a.is_ipv4() == (t == RecordType::A))
                    .collect();
                if !want.is_empty() {
                    let n = scope.rotation % want.len();
                    want.rotate_left(n);
                }
                for ip in want {
                    let data = match ip {
                        IpAddr::V4(v4) => RData::A(A(v4)),
                        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                    };
                    resp.add_answer(Record::from_rdata(q.name().clone(), LOCAL_TTL, data));
                }
                Outcome::Reply(resp)
            }
            None if scope.ndots_set && !name.contains('.') => {
                Outcome::Reply(reply_to(query, ResponseCode::NoError))
            }
            None => Outcome::Forward,
        },
        RecordType::MX => match names.lookup(scope.container, &name) {
            Some(_) => Outcome::Reply(reply_to(query, ResponseCode::NoError)),
            None => Outcome::Forward,
        },
        RecordType::PTR => {
            let Some(ip) = arpa_address(q.name()) else {
                return Outcome::Forward;
            };
            let Some(host) = names.reverse(scope.container, ip) else {
                return Outcome::Forward;
            };
            let Ok(mut target) = Name::from_utf8(&host) else {
                return Outcome::Forward;
            };
            target.set_fqdn(true);
            let mut resp = reply_to(query, ResponseCode::NoError);
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                LOCAL_TTL,
                RData::PTR(PTR(target)),
            ));
            Outcome::Reply(resp)
        }
        _ => Outcome::Forward,
    }
}

/// The name as [`Names`] takes it: lowercase, no trailing dot.
fn local_name(name: &Name) -> String {
    let s = name.to_lowercase().to_ascii();
    s.strip_suffix('.').unwrap_or(&s).to_owned()
}

/// The address of a full `in-addr.arpa` / `ip6.arpa` name.
fn arpa_address(name: &Name) -> Option<IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    let full = if net.addr().is_ipv4() { 32 } else { 128 };
    (net.prefix_len() == full).then(|| net.addr())
}

/// The most a reply to `query` may carry over UDP: the client's EDNS
/// payload size, at least 512.
pub fn udp_limit(query: &Message) -> usize {
    usize::from(query.max_payload())
}

/// Encodes `resp`, dropping answers from the end until it fits `limit`;
/// over UDP (`tcp == false`) a cut reply gets TC so the client retries over
/// TCP.
pub fn encode_within(
    mut resp: Message,
    limit: usize,
    tcp: bool,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut bytes = resp.to_vec()?;
    if bytes.len() <= limit {
        return Ok(bytes);
    }
    if !tcp {
        resp.metadata.truncation = true;
    }
    while bytes.len() > limit {
        if resp.answers.pop().is_none()
            && resp.additionals.pop().is_none()
            && resp.authorities.pop().is_none()
        {
            break;
        }
        bytes = resp.to_vec()?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
