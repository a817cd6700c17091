use serde_json::{Value, json};

use super::*;

fn bridge(name: &str, subnet: &str, internal: bool) -> BridgeRules {
    BridgeRules {
        bridge: name.into(),
        subnet: subnet.parse().expect("subnet"),
        internal,
        masquerade: true,
    }
}

fn web_port() -> PublishedPort {
    PublishedPort {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: 8080,
        container_ip: Ipv4Addr::new(10, 1, 0, 2),
        container_port: 80,
        bridge: "br0".into(),
    }
}

fn rules_of(v: &Value, chain: &str) -> Vec<Value> {
    v["nftables"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o.get("add").and_then(|a| a.get("rule")))
        .filter(|r| r["chain"] == chain)
        .map(|r| r["expr"].clone())
        .collect()
}

#[test]
fn one_bridge_one_port_is_the_expected_nft_json() {
    let fw = Firewall {
        bridges: vec![bridge("br0", "10.1.0.0/24", false)],
        ports: vec![web_port()],
        ..Firewall::new("skiff")
    };
    let got = serde_json::to_value(fw.replace_batch()).expect("json");
    let t = |name: &str, extra: Value| {
        let mut c = json!({"family": "ip", "table": "skiff", "name": name});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        json!({"add": {"chain": c}})
    };
    let rule = |chain: &str, expr: Value| json!({"add": {"rule": {"family": "ip", "table": "skiff", "chain": chain, "expr": expr}}});
    let expected = json!({"nftables": [
        {"add": {"table": {"family": "ip", "name": "skiff"}}},
        {"delete": {"table": {"family": "ip", "name": "skiff"}}},
        {"add": {"table": {"family": "ip", "name": "skiff"}}},
        t("prerouting", json!({"type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"})),
        t("output", json!({"type": "nat", "hook": "output", "prio": -100, "policy": "accept"})),
        t("postrouting", json!({"type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"})),
        t("forward", json!({"type": "filter", "hook": "forward", "prio": 0, "policy": "accept"})),
        t("published", json!({})),
        rule("prerouting", json!([
            {"match": {"left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local", "op": "=="}},
            {"jump": {"target": "published"}}
        ])),
        rule("output", json!([
            {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}, "op": "!="}},
            {"match": {"left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local", "op": "=="}},
            {"jump": {"target": "published"}}
        ])),
        rule("published", json!([
            {"match": {"left": {"meta": {"key": "iifname"}}, "right": "br0", "op": "!="}},
            {"match": {"left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080, "op": "=="}},
            {"dnat": {"addr": "10.1.0.2", "port": 80}}
        ])),
        rule("postrouting", json!([
            {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.1.0.0", "len": 24}}, "op": "=="}},
            {"match": {"left": {"meta": {"key": "oifname"}}, "right": "br0", "op": "!="}},
            {"masquerade": null}
        ])),
        rule("postrouting", json!([
            {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.1.0.2", "op": "=="}},
            {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.1.0.2", "op": "=="}},
            {"match": {"left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80, "op": "=="}},
            {"masquerade": null}
        ])),
    ]});
    assert_eq!(
        got,
        expected,
        "got:\n{}",
        serde_json::to_string_pretty(&got).unwrap_or_default()
    );
}

#[test]
fn host_ip_udp_and_hairpin_shape_the_dnat_rule() {
    let port = PublishedPort {
        protocol: Protocol::Udp,
        host_ip: Some(Ipv4Addr::new(127, 0, 0, 1)),
        host_port: 5353,
        container_port: 53,
        ..web_port()
    };
    let fw = Firewall {
        ports: vec![port],
        hairpin: true,
        ..Firewall::new("t")
    };
    let got = serde_json::to_value(fw.replace_batch()).expect("json");
    assert_eq!(
        rules_of(&got, "published"),
        [json!([
            {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1", "op": "=="}},
            {"match": {"left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 5353, "op": "=="}},
            {"dnat": {"addr": "10.1.0.2", "port": 53}}
        ])]
    );
}

#[test]
fn bridges_are_isolated_and_internal_ones_have_no_way_out() {
    let fw = Firewall {
        bridges: vec![
            bridge("br0", "10.1.0.0/24", false),
            bridge("br1", "10.2.0.0/24", true),
            bridge("br2", "10.3.0.0/24", false),
        ],
        ..Firewall::new("t")
    };
    let got = serde_json::to_value(fw.replace_batch()).expect("json");
    let iif = |n: &str, op: &str| json!({"match": {"left": {"meta": {"key": "iifname"}}, "right": n, "op": op}});
    let oif = |n: &str, op: &str| json!({"match": {"left": {"meta": {"key": "oifname"}}, "right": n, "op": op}});
    let oif_set = |a: &str, b: &str| json!({"match": {"left": {"meta": {"key": "oifname"}}, "right": {"set": [a, b]}, "op": "=="}});
    let drop = json!({"drop": null});
    assert_eq!(
        rules_of(&got, "forward"),
        [
            json!([iif("br1", "=="), oif("br1", "!="), drop]),
            json!([oif("br1", "=="), iif("br1", "!="), drop]),
            json!([iif("br0", "=="), oif_set("br1", "br2"), drop]),
            json!([iif("br1", "=="), oif_set("br0", "br2"), drop]),
            json!([iif("br2", "=="), oif_set("br0", "br1"), drop]),
        ]
    );
    // The internal bridge is not masqueraded; the two others are.
    let masq = rules_of(&got, "postrouting");
    assert_eq!(masq.len(), 2);
    assert!(masq.iter().all(|r| r[1] != oif("br1", "!=")));
}

#[test]
fn delete_batch_only_names_skiffs_table() {
    let got = serde_json::to_value(delete_batch("skiff-test")).expect("json");
    assert_eq!(
        got,
        json!({"nftables": [
            {"add": {"table": {"family": "ip", "name": "skiff-test"}}},
            {"delete": {"table": {"family": "ip", "name": "skiff-test"}}},
        ]})
    );
}

#[test]
fn no_batch_flushes_anything() {
    let fw = Firewall {
        bridges: vec![bridge("br0", "10.1.0.0/24", false)],
        ports: vec![web_port()],
        ..Firewall::new("skiff")
    };
    for batch in [fw.replace_batch(), delete_batch("skiff")] {
        let text = serde_json::to_string(&batch).expect("json");
        assert!(!text.contains("flush"), "{text}");
        assert!(!text.contains("ruleset"), "{text}");
    }
}
