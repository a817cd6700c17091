use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Query};

use super::*;
use crate::dns::{Endpoint, NameTable};

const ME: &str = "aaaaaaaaaaaa0000";

fn table() -> NameTable {
    let t = NameTable::new();
    let ep = |id: &str, name: &str, aliases: &[&str], addrs: &[&str]| {
        let aliases: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
        Endpoint {
            network: "net".into(),
            container: id.into(),
            name: name.into(),
            names: Endpoint::dns_names(name, &aliases, id),
            links: Vec::new(),
            addresses: addrs.iter().map(|s| s.parse().expect("ip")).collect(),
        }
    };
    t.set(ep(ME, "me", &[], &["10.0.0.2"]));
    t.set(ep(
        "b1bbbbbbbbbbbbbb",
        "web1",
        &["web"],
        &["10.0.0.3", "fd00::3"],
    ));
    t.set(ep("b2bbbbbbbbbbbbbb", "web2", &["web"], &["10.0.0.4"]));
    t.set(ep("b3bbbbbbbbbbbbbb", "web3", &["web"], &["10.0.0.5"]));
    t
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
    m
}

fn scope(rotation: usize) -> Scope<'static> {
    Scope {
        container: ME,
        ndots_set: false,
        rotation,
    }
}

fn reply(q: &Message, rotation: usize) -> Message {
    match answer(q, &table(), scope(rotation)) {
        Outcome::Reply(m) => {
            // Through the wire and back, as the client sees it.
            Message::from_vec(&m.to_vec().expect("encode")).expect("decode")
        }
        Outcome::Forward => panic!("forwarded {q:?}"),
    }
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_of_a_container_name() {
    let q = query("web1.", RecordType::A);
    let r = reply(&q, 0);
    assert_eq!(r.metadata.id, 4242);
    assert_eq!(r.metadata.message_type, MessageType::Response);
    assert!(r.metadata.recursion_desired && r.metadata.recursion_available);
    assert!(!r.metadata.authoritative);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.queries, q.queries);
    assert_eq!(addrs(&r), vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))]);
    assert_eq!(r.answers[0].ttl, LOCAL_TTL);
    assert_eq!(&r.answers[0].name, q.queries[0].name());
}

#[test]
fn aaaa_of_a_name_and_empty_answer_without_ipv6() {
    let r = reply(&query("WEB1", RecordType::AAAA), 0);
    assert_eq!(addrs(&r), vec!["fd00::3".parse::<IpAddr>().expect("ip")]);
    let r = reply(&query("web2", RecordType::AAAA), 0);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
}

#[test]
fn several_answers_rotate() {
    let q = query("web", RecordType::A);
    let firsts: Vec<IpAddr> = (0..3).map(|n| addrs(&reply(&q, n))[0]).collect();
    assert_eq!(
        firsts,
        ["10.0.0.3", "10.0.0.4", "10.0.0.5"]
            .map(|s| s.parse::<IpAddr>().expect("ip"))
            .to_vec()
    );
    assert_eq!(addrs(&reply(&q, 1)).len(), 3);
}

#[test]
fn short_id_and_ptr() {
    let r = reply(&query("b2bbbbbbbbbb.", RecordType::A), 0);
    assert_eq!(addrs(&r), vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4))]);
    let r = reply(&query("3.0.0.10.in-addr.arpa.", RecordType::PTR), 0);
    match &r.answers[0].data {
        RData::PTR(p) => assert_eq!(p.0.to_ascii(), "web1.net."),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_names_other_types_and_foreign_ptrs_are_forwarded() {
    let t = table();
    for q in [
        query("example.com.", RecordType::A),
        query("web1.", RecordType::TXT),
        query("9.9.9.9.in-addr.arpa.", RecordType::PTR),
        query("0.0.10.in-addr.arpa.", RecordType::PTR),
    ] {
        assert!(
            matches!(answer(&q, &t, scope(0)), Outcome::Forward),
            "{q:?}"
        );
    }
}

#[test]
fn ndots_set_keeps_bare_unknown_names_local() {
    let t = table();
    let s = Scope {
        ndots_set: true,
        ..scope(0)
    };
    match answer(&query("nothere", RecordType::A), &t, s) {
        Outcome::Reply(m) => {
            assert_eq!(m.metadata.response_code, ResponseCode::NoError);
            assert!(m.answers.is_empty());
        }
        Outcome::Forward => panic!("forwarded"),
    }
    assert!(matches!(
        answer(&query("not.here", RecordType::A), &t, s),
        Outcome::Forward
    ));
}

#[test]
fn mx_of_a_known_name_is_empty_noerror() {
    let r = reply(&query("web1", RecordType::MX), 0);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
}

#[test]
fn bad_opcodes_and_empty_questions() {
    let t = table();
    let mut q = query("web1", RecordType::A);
    q.metadata.op_code = OpCode::Status;
    match answer(&q, &t, scope(0)) {
        Outcome::Reply(m) => assert_eq!(m.metadata.response_code, ResponseCode::NotImp),
        Outcome::Forward => panic!("forwarded"),
    }
    let empty = Message::query();
    match answer(&empty, &t, scope(0)) {
        Outcome::Reply(m) => assert_eq!(m.metadata.response_code, ResponseCode::FormErr),
        Outcome::Forward => panic!("forwarded"),
    }
}

#[test]
fn udp_replies_are_cut_to_the_client_limit_with_tc() {
    let t = NameTable::new();
    let many: Vec<IpAddr> = (0..100u8)
        .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(i))))
        .collect();
    t.set(Endpoint {
        network: "net".into(),
        container: ME.into(),
        name: "big".into(),
        names: vec!["big".into()],
        links: Vec::new(),
        addresses: many,
    });
    let q = query("big", RecordType::AAAA);
    assert_eq!(udp_limit(&q), 512);
    let Outcome::Reply(r) = answer(&q, &t, scope(0)) else {
        panic!("forwarded")
    };
    let udp = encode_within(r.clone(), udp_limit(&q), false).expect("encode");
    assert!(udp.len() <= 512);
    let cut = Message::from_vec(&udp).expect("decode");
    assert!(cut.metadata.truncation);
    assert!(!cut.answers.is_empty() && cut.answers.len() < 100);
    let tcp = Message::from_vec(&encode_within(r.clone(), MAX_TCP, true).expect("encode"))
        .expect("decode");
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 100);
    // A client announcing 4096 bytes over EDNS gets them all over UDP.
    let mut big = q.clone();
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    big.set_edns(edns);
    assert_eq!(udp_limit(&big), 4096);
    let whole = Message::from_vec(&encode_within(r, udp_limit(&big), false).expect("encode"))
        .expect("decode");
    assert_eq!(whole.answers.len(), 100);
}
