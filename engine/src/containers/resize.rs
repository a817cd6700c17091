//! `POST /containers/{id}/resize`: set the window size of a running
//! container's pty through its shim. As with dockerd (whose runtime ignores
//! a resize of a process without a console), a container without a TTY
//! accepts it and nothing changes; a container that is not running is a
//! conflict. A resize publishes docker's `resize` event.

use skiff_shim::protocol::ErrorKind;

use super::ContainerService;
use super::error::ContainerError;

impl ContainerService {
    /// Resize a running container's TTY to `height` rows × `width` columns.
    pub async fn resize(&self, what: &str, height: u16, width: u16) -> Result<(), ContainerError> {
        let record = self.resolve(what)?;
        if !record.state.status.is_live() {
            return Err(ContainerError::Conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        let tty = record.config.tty.unwrap_or(false);
        if tty {
            let shim = self.shim(&record.id);
            tokio::task::spawn_blocking(move || {
                shim.state()?;
                shim.resize(None, height, width)
            })
            .await?
            .map_err(|e| {
                // A shim that is gone, or says so: it exited meanwhile.
                let gone = e.kind() == Some(ErrorKind::Conflict)
                    || matches!(e, skiff_shim::Error::Connect { .. });
                if gone {
                    ContainerError::Conflict(format!("container {} is not running", record.id))
                } else {
                    ContainerError::ShimOf {
                        context: format!("resizing container {}", record.id),
                        source: e,
                    }
                }
            })?;
        }
        let (h, w) = (height.to_string(), width.to_string());
        self.record_event("resize", &record, &[("height", &h), ("width", &w)]);
        Ok(())
    }
}
