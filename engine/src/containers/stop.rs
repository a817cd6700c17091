//! `docker stop` (the stop signal, then SIGKILL after the timeout) and
//! `docker kill`.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::ContainerService;
use super::error::ContainerError;
use super::record::Status;
use super::runtime::ShimRef;

/// Parse a signal as docker accepts it: `SIGTERM`, `TERM`, `15` (a number
/// from 1 to `SIGRTMAX`, 64; others are refused rather than failing later in
/// `kill(2)`).
pub fn parse_signal(s: &str) -> Result<i32, ContainerError> {
    if let Ok(n) = s.parse::<i64>() {
        return match i32::try_from(n) {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(ContainerError::InvalidArgument(format!(
                "Invalid signal: {s}"
            ))),
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| ContainerError::InvalidArgument(format!("Invalid signal: {s}")))
}

/// How long a SIGKILL waits for the container to exit (dockerd: 10 s).
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The default stop timeout, in seconds.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl ContainerService {
    fn shim_of(&self, id: &str) -> Result<ShimRef, ContainerError> {
        self.connect_shim(id)
            .map_err(|source| ContainerError::ShimOf {
                context: format!("container {id}"),
                source,
            })
    }

    /// Send a signal to a running container.
    pub async fn kill(&self, what: &str, signal: Option<&str>) -> Result<(), ContainerError> {
        let record = self.resolve(what)?;
        if !record.state.status.is_live() {
            return Err(ContainerError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                what, record.id
            )));
        }
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        if sig == Signal::SIGKILL as i32 {
            let _ = self.update(&record.id, |r| r.state.stopped_by_user = true);
        }
        // Like dockerd (daemon.Kill), a SIGKILL returns once the container
        // has exited, so that a remove right after the kill succeeds.
        let mut watch = (sig == Signal::SIGKILL as i32).then(|| self.watch(&record.id));
        let handle = self.shim_of(&record.id)?;
        tokio::task::spawn_blocking(move || handle.kill(sig)).await??;
        self.record_event("kill", &record, &[("signal", &sig.to_string())]);
        if let Some(watch) = watch.as_mut() {
            let exited = watch.wait_for(|r| r.as_ref().is_none_or(|r| !r.state.status.is_live()));
            let _ = tokio::time::timeout(KILL_WAIT, exited).await;
        }
        Ok(())
    }

    /// Stop a container: its stop signal, then SIGKILL after `timeout`
    /// seconds. `Ok(false)` when it was not running (docker's 304).
    pub async fn stop(
        self: &Arc<Self>,
        what: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool, ContainerError> {
        let record = self.resolve(what)?;
        if !record.state.status.is_live() {
            return Ok(false);
        }
        let _ = self.update(&record.id, |r| r.state.stopped_by_user = true);
        let mut watch = self.watch(&record.id);
        let sig = signal
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| record.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let secs = timeout
            .or(record.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let _ = self.kill(&record.id, Some(&sig)).await;
        skiff_failpoint::point!(skiff_failpoint::STOP_AFTER_SIGNAL);
        let exited = async {
            let _ = watch
                .wait_for(|r| r.as_ref().is_none_or(|r| !r.state.status.is_live()))
                .await;
        };
        if secs < 0 {
            exited.await;
        } else if tokio::time::timeout(Duration::from_secs(secs as u64), exited)
            .await
            .is_err()
        {
            let _ = self.kill(&record.id, Some("SIGKILL")).await;
            let _ = watch
                .wait_for(|r| r.as_ref().is_none_or(|r| !r.state.status.is_live()))
                .await;
        }
        self.record_event("stop", &record, &[]);
        Ok(true)
    }

    /// Whether a container is running (for other operations' checks).
    pub fn is_running(&self, id: &str) -> bool {
        self.store
            .get(id)
            .is_some_and(|r| r.state.status == Status::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_in_every_docker_form() {
        assert_eq!(parse_signal("SIGTERM").expect("name"), 15);
        assert_eq!(parse_signal("term").expect("short"), 15);
        assert_eq!(parse_signal("9").expect("number"), 9);
        assert_eq!(parse_signal("SIGUSR1").expect("usr1"), 10);
        assert!(parse_signal("SIGNOPE").is_err());
        // Numbers outside 1..=SIGRTMAX were passed on to kill(2), whose
        // EINVAL became a 500 (tests/tests/hostile_input.rs).
        for bad in ["0", "-9", "65", "99999", "99999999999"] {
            let e = parse_signal(bad).expect_err(bad);
            assert_eq!(e.to_string(), format!("Invalid signal: {bad}"));
        }
        assert_eq!(parse_signal("64").expect("SIGRTMAX"), 64);
    }
}
