//! `docker restart`.

use std::sync::Arc;

use super::ContainerService;
use super::error::ContainerError;

impl ContainerService {
    /// Restart a container: stop it as `docker stop` does (its stop signal,
    /// SIGKILL after `timeout` seconds; nothing if it is not running), then
    /// start it.
    pub async fn restart(
        self: &Arc<Self>,
        what: &str,
        timeout: Option<i64>,
    ) -> Result<(), ContainerError> {
        self.stop(what, timeout, None).await?;
        self.start(what).await?;
        // After die/stop/start, as dockerd publishes it.
        let record = self.resolve(what)?;
        self.record_event("restart", &record, &[]);
        Ok(())
    }
}
