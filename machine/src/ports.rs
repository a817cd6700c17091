//! Published ports on the host: the supervisor forwards the ports the
//! guest publishes ([`skiff_relay::PortForwarder`], over the relay session)
//! and records what it forwards in `<machine>/ports.json`, which the
//! desktop app and `skiff` read ([`read`]). Failures (a host port already
//! taken, an address that is not forwarded) are in that file's `error`
//! fields and in the supervisor's log (`skiff machine logs`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use skiff_relay::{PortForwarder, PortStatus};
use tokio::task::JoinHandle;

use crate::error::{MachineError, Result};
use crate::paths::MachineDir;

/// One forwarded port as `ports.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The port, in the guest and on the host.
    pub port: u16,
    /// The guest's publications forwarded here, e.g. `0.0.0.0:8080/tcp`.
    pub published: Vec<String>,
    /// The host addresses listened on, e.g. `127.0.0.1:8080`.
    pub listening: Vec<String>,
    /// Why (part of) it is not forwarded, e.g. the host port is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&PortStatus> for PortInfo {
    fn from(s: &PortStatus) -> PortInfo {
        PortInfo {
            proto: s.proto.as_str().to_string(),
            port: s.port,
            published: s.publications.iter().map(ToString::to_string).collect(),
            listening: s.listening.iter().map(ToString::to_string).collect(),
            error: s.error.clone(),
        }
    }
}

/// Writes `ports.json` now and after every change of `forwarder`'s status,
/// atomically, until the task is aborted or the forwarder dropped.
pub fn spawn_status_writer(dir: &MachineDir, forwarder: &PortForwarder) -> JoinHandle<()> {
    let path = dir.ports();
    let mut status = forwarder.status();
    tokio::spawn(async move {
        loop {
            let infos: Vec<PortInfo> = status.borrow_and_update().iter().map(Into::into).collect();
            if let Err(err) = write(&path, &infos) {
                tracing::warn!("{err}");
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    })
}

fn write(path: &Path, infos: &[PortInfo]) -> Result<()> {
    let data = serde_json::to_vec_pretty(infos).map_err(|source| MachineError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    crate::fsutil::write_atomic(path, &data)
}

/// The ports `ports.json` lists (none when it does not exist). Only
/// meaningful while the machine runs: callers check its state first.
pub fn read(dir: &MachineDir) -> Result<Vec<PortInfo>> {
    let path = dir.ports();
    match std::fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|source| MachineError::Json {
            path: path.clone(),
            source,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(MachineError::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_relay::ports::{Proto, Publication};

    #[test]
    fn status_round_trips_through_the_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = crate::paths::Home::at(tmp.path().to_path_buf())
            .machine("default")
            .expect("dir");
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        assert_eq!(read(&dir).expect("no file"), Vec::new());
        let status = PortStatus {
            proto: Proto::Tcp,
            port: 8080,
            publications: vec![Publication {
                proto: Proto::Tcp,
                host_ip: Some("0.0.0.0".parse().expect("ip")),
                port: 8080,
            }],
            listening: vec!["127.0.0.1:8080".parse().expect("addr")],
            error: Some("cannot listen on [::1]:8080/tcp: address in use".into()),
        };
        let info = PortInfo::from(&status);
        write(&dir.ports(), std::slice::from_ref(&info)).expect("write");
        let back = read(&dir).expect("read");
        assert_eq!(back, vec![info]);
        assert_eq!(back[0].published, vec!["0.0.0.0:8080/tcp".to_string()]);
        assert_eq!(back[0].listening, vec!["127.0.0.1:8080".to_string()]);
    }

    /// A relay session (both halves in this process) whose guest publishes
    /// a port already taken on the host: `ports.json` says so.
    #[tokio::test]
    async fn a_taken_port_reaches_ports_json() {
        use skiff_relay::port_table::PortChange;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = crate::paths::Home::at(tmp.path().to_path_buf())
            .machine("default")
            .expect("dir");
        std::fs::create_dir_all(dir.dir()).expect("mkdir");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();

        let (h, g) = tokio::io::duplex(1 << 16);
        let guest_ports = skiff_relay::GuestPorts::default();
        guest_ports.table.apply(PortChange::Published {
            container: "c1".into(),
            ports: vec![Publication {
                proto: Proto::Tcp,
                host_ip: None,
                port,
            }],
        });
        let guest = tokio::spawn(async move {
            let engine = std::path::Path::new("/nonexistent/skiff-machine-test.sock");
            let _ = skiff_relay::guest::serve_with_ports(g, engine, guest_ports).await;
        });
        let forwarder = std::sync::Arc::new(PortForwarder::new());
        let writer = spawn_status_writer(&dir, &forwarder);
        let mut status = forwarder.status();
        let (_conns, mut rx) = tokio::sync::mpsc::channel::<tokio::io::DuplexStream>(1);
        let host = {
            let forwarder = forwarder.clone();
            tokio::spawn(async move {
                let _ = skiff_relay::host::serve_session_with_ports(&mut rx, h, &forwarder).await;
            })
        };
        let wait = status.wait_for(|s| !s.is_empty());
        tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .expect("no progress in 30 s")
            .expect("forwarder alive");
        // The writer runs on its own task: wait for its file.
        let infos = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                if let Ok(infos) = read(&dir) {
                    if !infos.is_empty() {
                        return infos;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("ports.json written");
        assert_eq!(infos.len(), 1, "{infos:?}");
        assert_eq!(infos[0].port, port);
        let error = infos[0].error.clone().expect("the taken port is reported");
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        guest.abort();
        host.abort();
        writer.abort();
    }
}
