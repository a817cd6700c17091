//! `POST /exec/{id}/resize`: set an exec's pty size.

use super::super::ContainerService;
use super::super::error::ContainerError;
use super::{ExecError, join_error};

impl ContainerService {
    /// `POST /exec/{id}/resize`: set the exec's pty size.
    pub async fn resize_exec(&self, id: &str, height: u16, width: u16) -> Result<(), ExecError> {
        let (exec, container) = self.live_exec(id)?;
        if !exec.started {
            return Err(
                ContainerError::InvalidArgument("exec process is not started".into()).into(),
            );
        }
        let shim = self.shim(&container.id);
        let exec_id = exec.id.clone();
        tokio::task::spawn_blocking(move || {
            shim.state()?;
            shim.resize(Some(&exec_id), height, width)
        })
        .await
        .map_err(|e| ExecError::from(join_error(e)))?
        .map_err(|e| {
            ExecError::from(match e.kind() {
                Some(
                    skiff_shim::protocol::ErrorKind::NotFound
                    | skiff_shim::protocol::ErrorKind::Conflict,
                ) => ContainerError::Conflict(e.to_string()),
                _ => ContainerError::Shim(e),
            })
        })
    }
}
