//! The ports published in the VM, learnt from skiffd's events: the relay
//! tells the host about them (`SKIFF-PORTS/1`, docs/vm.md), which listens
//! on its loopback at the same ports.
//!
//! [`EnginePorts`] is the relay's [`PortSource`]: it follows skiffd's
//! `GET /events` (container events only) and, on every container
//! `start`/`die`/`destroy` — and whenever it (re)connects — lists the
//! running containers (`GET /containers/json`) and reports each one's
//! published ports (`Ports[]` entries with a `PublicPort`). Nothing is
//! polled: between events the source sleeps; while skiffd is down it
//! retries the connection every [`RETRY`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use skiff_relay::GuestPorts;
use skiff_relay::port_table::{self, PortChange, PortSource};
use skiff_relay::ports::{Proto, Publication};

use crate::engine_http::{self, Body};
use crate::supervisor::ENGINE_SOCKET;

/// Pause before reconnecting to skiffd's events.
pub const RETRY: Duration = Duration::from_millis(500);
/// `/events` for container events only (`{"type":["container"]}`).
const EVENTS: &str = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";
/// Container actions that change what is published.
const ACTIONS: [&str; 3] = ["start", "die", "destroy"];

/// Published ports per running container, from a `/containers/json`
/// answer. Entries without a `PublicPort` (exposed, not published) and of
/// other protocols (sctp) are skipped.
pub fn publications(list: &[u8]) -> Result<BTreeMap<String, Vec<Publication>>, serde_json::Error> {
    let containers: Vec<serde_json::Value> = serde_json::from_slice(list)?;
    let mut out = BTreeMap::new();
    for c in containers {
        let Some(id) = c.get("Id").and_then(|v| v.as_str()) else {
            continue;
        };
        let ports = c
            .get("Ports")
            .and_then(|p| p.as_array())
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(publication)
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default();
        out.insert(id.to_string(), ports.into_iter().collect());
    }
    Ok(out)
}

fn publication(entry: &serde_json::Value) -> Option<Publication> {
    let port = u16::try_from(entry.get("PublicPort")?.as_u64()?).ok()?;
    if port == 0 {
        return None;
    }
    let proto = Proto::parse(entry.get("Type").and_then(|t| t.as_str()).unwrap_or("tcp"))?;
    let host_ip = match entry.get("IP").and_then(|ip| ip.as_str()) {
        None | Some("") => None,
        Some(ip) => Some(ip.parse::<IpAddr>().ok()?),
    };
    Some(Publication {
        proto,
        host_ip,
        port,
    })
}

/// Whether an `/events` line is a container action that changes what is
/// published.
pub fn is_port_event(line: &[u8]) -> bool {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(line) else {
        return false;
    };
    let action = event
        .get("Action")
        .or_else(|| event.get("status"))
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    event.get("Type").and_then(|t| t.as_str()) == Some("container") && ACTIONS.contains(&action)
}

/// skiffd's published ports as a [`PortSource`] (see the module docs).
#[derive(Debug)]
pub struct EnginePorts {
    socket: PathBuf,
    events: Option<Body>,
    partial: Vec<u8>,
    known: BTreeSet<String>,
    pending: VecDeque<PortChange>,
}

impl EnginePorts {
    /// The ports published by the engine listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> EnginePorts {
        EnginePorts {
            socket: socket.into(),
            events: None,
            partial: Vec::new(),
            known: BTreeSet::new(),
            pending: VecDeque::new(),
        }
    }

    /// Lists the running containers and queues the changes since the last
    /// listing.
    async fn refresh(&mut self) -> std::io::Result<()> {
        let list = engine_http::get(&self.socket, "/containers/json")
            .await?
            .read_all()
            .await?;
        let now = publications(&list)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        for gone in self.known.iter().filter(|id| !now.contains_key(*id)) {
            self.pending.push_back(PortChange::Gone {
                container: gone.clone(),
            });
        }
        self.known = now.keys().cloned().collect();
        for (container, ports) in now {
            self.pending
                .push_back(PortChange::Published { container, ports });
        }
        Ok(())
    }

    /// Waits for the next port-changing event (connecting first when
    /// needed, which refreshes too).
    async fn wait_event(&mut self) -> std::io::Result<()> {
        let events = match &mut self.events {
            Some(events) => events,
            None => {
                // Subscribe first, then list: nothing falls in between.
                let body = engine_http::get(&self.socket, EVENTS).await?;
                self.partial.clear();
                self.events = Some(body);
                return self.refresh().await;
            }
        };
        loop {
            while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                if is_port_event(&line) {
                    return self.refresh().await;
                }
            }
            match events.next().await? {
                Some(bytes) => self.partial.extend_from_slice(&bytes),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the engine ended its event stream",
                    ));
                }
            }
        }
    }
}

impl PortSource for EnginePorts {
    /// Never ends: a lost engine is reconnected after [`RETRY`].
    async fn next_change(&mut self) -> Option<PortChange> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Some(change);
            }
            if let Err(err) = self.wait_event().await {
                log_once(&err);
                self.events = None;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Starts following skiffd's published ports (on [`ENGINE_SOCKET`]) into a
/// fresh table; the returned [`GuestPorts`] serves it to every relay
/// session. Needs a tokio runtime.
pub fn spawn_publisher() -> GuestPorts {
    let ports = GuestPorts::default();
    let table = ports.table.clone();
    tokio::spawn(async move {
        port_table::follow(EnginePorts::new(ENGINE_SOCKET), &table).await;
    });
    ports
}

/// Logs a lost event stream once per kind of failure, not at every retry
/// while skiffd is still starting.
fn log_once(err: &std::io::Error) {
    use std::sync::Mutex;
    static LAST: Mutex<Option<std::io::ErrorKind>> = Mutex::new(None);
    if let Ok(mut last) = LAST.lock() {
        if *last != Some(err.kind()) {
            *last = Some(err.kind());
            crate::say!("published ports: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_from_the_container_list() {
        let list = br#"[
          {"Id":"a","Ports":[
            {"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
            {"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
            {"PrivatePort":443,"Type":"tcp"},
            {"IP":"127.0.0.1","PrivatePort":53,"PublicPort":5353,"Type":"udp"},
            {"PrivatePort":9,"PublicPort":9,"Type":"sctp"}]},
          {"Id":"b","Ports":[]}
        ]"#;
        let got = publications(list).expect("parse");
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        assert_eq!(
            got["a"],
            vec![
                Publication {
                    proto: Proto::Tcp,
                    host_ip: ip("0.0.0.0"),
                    port: 8080
                },
                Publication {
                    proto: Proto::Tcp,
                    host_ip: ip("::"),
                    port: 8080
                },
                Publication {
                    proto: Proto::Udp,
                    host_ip: ip("127.0.0.1"),
                    port: 5353
                },
            ]
        );
        assert_eq!(got["b"], vec![]);
        assert!(publications(b"{}").is_err());
    }

    #[test]
    fn only_container_starts_and_ends_matter() {
        assert!(is_port_event(
            br#"{"Type":"container","Action":"start","Actor":{"ID":"a"}}"#
        ));
        assert!(is_port_event(br#"{"Type":"container","Action":"die"}"#));
        assert!(is_port_event(br#"{"Type":"container","status":"destroy"}"#));
        assert!(!is_port_event(br#"{"Type":"container","Action":"create"}"#));
        assert!(!is_port_event(br#"{"Type":"network","Action":"connect"}"#));
        assert!(!is_port_event(b"not json"));
    }

    /// A fake skiffd: `/events` streams (chunked) one line per `events`
    /// message; `/containers/json` answers the current `list`.
    async fn fake_engine(
        path: PathBuf,
        list: std::sync::Arc<std::sync::Mutex<String>>,
        events: tokio::sync::broadcast::Sender<String>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let list = list.clone();
            let mut rx = events.subscribe();
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = conn.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).into_owned();
                if request.starts_with("GET /events?") {
                    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                    let _ = conn.write_all(head.as_bytes()).await;
                    while let Ok(line) = rx.recv().await {
                        let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
                        if conn.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                } else {
                    let body = list.lock().map(|l| l.clone()).unwrap_or_default();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                }
            });
        }
    }

    #[tokio::test]
    async fn engine_events_drive_the_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("docker.sock");
        let list = std::sync::Arc::new(std::sync::Mutex::new(
            r#"[{"Id":"a","Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}]}]"#
                .to_string(),
        ));
        let (events, _) = tokio::sync::broadcast::channel(16);
        let engine = tokio::spawn(fake_engine(path.clone(), list.clone(), events.clone()));
        let mut source = EnginePorts::new(&path);
        let tcp8080 = Publication {
            proto: Proto::Tcp,
            host_ip: Some("0.0.0.0".parse().expect("ip")),
            port: 8080,
        };
        // Connecting lists what runs already.
        assert_eq!(
            source.next_change().await,
            Some(PortChange::Published {
                container: "a".into(),
                ports: vec![tcp8080],
            })
        );
        // `a` dies, `b` starts with a UDP port.
        if let Ok(mut l) = list.lock() {
            *l = r#"[{"Id":"b","Ports":[{"PrivatePort":53,"PublicPort":53,"Type":"udp"}]}]"#
                .to_string();
        }
        // The subscription is up before the first change was returned.
        events
            .send(r#"{"Type":"container","Action":"create","Actor":{"ID":"b"}}"#.into())
            .expect("send");
        events
            .send(r#"{"Type":"container","Action":"start","Actor":{"ID":"b"}}"#.into())
            .expect("send");
        assert_eq!(
            source.next_change().await,
            Some(PortChange::Gone {
                container: "a".into()
            })
        );
        assert_eq!(
            source.next_change().await,
            Some(PortChange::Published {
                container: "b".into(),
                ports: vec![Publication {
                    proto: Proto::Udp,
                    host_ip: None,
                    port: 53,
                }],
            })
        );
        engine.abort();
    }
}
