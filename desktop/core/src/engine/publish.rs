//! Published ports of the run dialog (`-p`), read as the docker CLI reads
//! them: `[ip:][hostPort:]containerPort[/proto]`, ranges refused (the
//! dialog publishes one port a line).

use std::collections::HashMap;

use bollard::models::PortBinding;

use crate::error::{Error, Result};

/// The `ExposedPorts` and `PortBindings` of a create body.
pub type Publish = (Vec<String>, HashMap<String, Option<Vec<PortBinding>>>);

/// Parses `-p` entries (blank ones skipped).
pub fn parse(entries: &[String]) -> Result<Publish> {
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let bad = |why: &str| Error::InvalidRequest(format!("the port `{entry}` {why}"));
        let (spec, proto) = match entry.rsplit_once('/') {
            Some((spec, proto)) => (spec, proto.to_ascii_lowercase()),
            None => (entry, "tcp".to_string()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad("has an unknown protocol (tcp, udp or sctp)"));
        }
        let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
        let (container, host_port, host_ip) = match parts.as_slice() {
            [c] => (*c, "", ""),
            [c, h] => (*c, *h, ""),
            [c, h, ip] => (*c, *h, ip.trim_start_matches('[').trim_end_matches(']')),
            _ => return Err(bad("is not [ip:][host:]container[/proto]")),
        };
        let number = |text: &str| text.parse::<u16>().ok().filter(|p| *p > 0);
        if number(container).is_none() {
            return Err(bad(
                "names no container port (1-65535; ranges are not supported here)",
            ));
        }
        if !host_port.is_empty() && number(host_port).is_none() {
            return Err(bad("names no host port (1-65535)"));
        }
        if !host_ip.is_empty() && host_ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad("names no IP address to listen on"));
        }
        let key = format!("{container}/{proto}");
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: (!host_ip.is_empty()).then(|| host_ip.to_string()),
                host_port: (!host_port.is_empty()).then(|| host_port.to_string()),
            });
    }
    Ok((exposed, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_like_docker_run_p() {
        let (exposed, bindings) = parse(&[
            "8080:80".into(),
            "127.0.0.1:5353:53/udp".into(),
            "9000".into(),
            " ".into(),
        ])
        .expect("valid");
        assert_eq!(exposed, ["80/tcp", "53/udp", "9000/tcp"]);
        let one = |key: &str| bindings[key].clone().expect("bindings")[0].clone();
        assert_eq!(one("80/tcp").host_port.as_deref(), Some("8080"));
        assert_eq!(one("80/tcp").host_ip, None);
        assert_eq!(one("53/udp").host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(one("9000/tcp").host_port, None);
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["80-90:80", "x:80", "8080:80/icmp", "nope:1:80", "0"] {
            let err = parse(&[bad.to_string()]).expect_err(bad);
            assert!(err.sentence().contains(bad), "{err}");
        }
    }
}
