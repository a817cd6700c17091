//! The machine manager of a build without one: no machine exists, and
//! starting one says why it cannot.

use futures_util::future::BoxFuture;

use super::{MachineConfig, MachineControl, MachineInfo, ParsedSettings, ProgressFn};
use crate::error::{Error, Result};

/// No machine manager: the app talks to a native engine only.
#[derive(Debug, Default)]
pub struct Unavailable;

fn unavailable() -> Error {
    Error::MachineUnavailable(
        "this build of skiff has no machine manager; it uses the engine running on this computer"
            .to_string(),
    )
}

impl MachineControl for Unavailable {
    fn info(&self) -> Result<Option<MachineInfo>> {
        Ok(None)
    }

    fn start<'a>(&'a self, _progress: ProgressFn<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(unavailable()) })
    }

    fn stop(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(unavailable()) })
    }

    fn console(&self, _lines: usize) -> Result<Vec<String>> {
        Err(unavailable())
    }

    fn config(&self) -> Result<Option<MachineConfig>> {
        Ok(None)
    }

    fn save_settings(&self, _settings: &ParsedSettings) -> Result<()> {
        Err(unavailable())
    }

    fn remove(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(unavailable()) })
    }

    fn create(&self, _config: &MachineConfig) -> Result<()> {
        Err(unavailable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_no_machine_and_refuses_to_start() {
        let m = Unavailable;
        assert_eq!(m.info().expect("info"), None);
        let err = m.start(&|_| {}).await.expect_err("start");
        assert_eq!(err.kind(), "machine_unavailable");
        assert!(m.console(5).is_err());
        assert_eq!(m.config().expect("config"), None);
        assert_eq!(
            m.remove().await.expect_err("remove").kind(),
            "machine_unavailable"
        );
    }
}
