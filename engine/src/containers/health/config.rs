//! A container's healthcheck settings: the user's `Config.Healthcheck`
//! merged over the image's as dockerd's `merge` does, checked as its
//! `validateHealthCheck` does, and read into a [`Schedule`] with dockerd's
//! defaults.

use std::time::Duration;

use bollard_stubs::models::{ContainerConfig, HealthConfig};

use super::super::error::ContainerError;

/// dockerd's `MinimumDuration` for the durations of a healthcheck.
const MINIMUM_NANOS: i64 = 1_000_000;
/// Default interval between probes (and before the first).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default time a probe may take.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default interval between probes within the start period.
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Default failures in a row that make a container unhealthy.
const DEFAULT_RETRIES: i64 = 3;

/// Fill the unset parts of the user's healthcheck from the image's
/// (`image`: the image config's `Healthcheck`, if any).
pub fn merge(user: &mut ContainerConfig, image: Option<HealthConfig>) {
    let Some(image) = image else {
        return;
    };
    let Some(mine) = user.healthcheck.as_mut() else {
        user.healthcheck = Some(image);
        return;
    };
    if mine.test.as_ref().is_none_or(Vec::is_empty) {
        mine.test = image.test;
    }
    let unset = |v: Option<i64>| v.is_none_or(|v| v == 0);
    if unset(mine.interval) {
        mine.interval = image.interval;
    }
    if unset(mine.timeout) {
        mine.timeout = image.timeout;
    }
    if unset(mine.start_period) {
        mine.start_period = image.start_period;
    }
    if unset(mine.start_interval) {
        mine.start_interval = image.start_interval;
    }
    if unset(mine.retries) {
        mine.retries = image.retries;
    }
}

/// Refuse what dockerd refuses at create: a duration under 1ms, negative
/// retries (its words).
pub fn validate(health: Option<&HealthConfig>) -> Result<(), ContainerError> {
    let Some(h) = health else {
        return Ok(());
    };
    let short = |v: Option<i64>| v.is_some_and(|v| v != 0 && v < MINIMUM_NANOS);
    let bad = |what: &str| {
        Err(ContainerError::InvalidArgument(format!(
            "{what} in Healthcheck cannot be less than 1ms"
        )))
    };
    if short(h.interval) {
        return bad("Interval");
    }
    if short(h.timeout) {
        return bad("Timeout");
    }
    if h.retries.is_some_and(|r| r < 0) {
        return Err(ContainerError::InvalidArgument(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    if short(h.start_period) {
        return bad("StartPeriod");
    }
    if short(h.start_interval) {
        return bad("StartInterval");
    }
    Ok(())
}

/// When and how a container is probed: its healthcheck with dockerd's
/// defaults for what is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The probe's argv (`CMD-SHELL`'s command already behind the shell).
    pub argv: Vec<String>,
    /// Between probes.
    pub interval: Duration,
    /// A probe's limit.
    pub timeout: Duration,
    /// Failures before `unhealthy`.
    pub retries: i64,
    /// From the start, the time in which failures do not count while
    /// `starting`.
    pub start_period: Duration,
    /// Between probes within the start period while `starting`.
    pub start_interval: Duration,
}

fn nanos(v: Option<i64>, default: Duration) -> Duration {
    match v {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Schedule {
    /// The schedule of a container's merged config; `None` when it has no
    /// healthcheck to run (none, `NONE`, an empty or unknown test — dockerd
    /// ignores unknown kinds with a warning).
    pub fn of(config: &ContainerConfig) -> Option<Self> {
        let h = config.healthcheck.as_ref()?;
        let test = h.test.as_ref()?;
        let (kind, rest) = test.split_first()?;
        let argv = match kind.as_str() {
            "CMD" => rest.to_vec(),
            "CMD-SHELL" => {
                let mut shell = config
                    .shell
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.extend_from_slice(rest);
                shell
            }
            "NONE" => return None,
            other => {
                tracing::warn!("unknown healthcheck type '{other}' (expected 'CMD')");
                return None;
            }
        };
        if argv.is_empty() {
            return None;
        }
        Some(Self {
            argv,
            interval: nanos(h.interval, DEFAULT_INTERVAL),
            timeout: nanos(h.timeout, DEFAULT_TIMEOUT),
            retries: h.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
            start_period: nanos(h.start_period, Duration::ZERO),
            start_interval: nanos(h.start_interval, DEFAULT_START_INTERVAL),
        })
    }

    /// The wait before the next probe, `elapsed` after the start, while
    /// `starting` or not (dockerd's `getInterval`): the interval, but
    /// within the start period the start interval while starting, and
    /// never past the start period's end.
    pub fn next_wait(&self, elapsed: Duration, starting: bool) -> Duration {
        if elapsed >= self.start_period {
            return self.interval;
        }
        let remaining = self.start_period - elapsed;
        if remaining < self.interval {
            return remaining;
        }
        if starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).expect("config")
    }

    #[test]
    fn the_users_healthcheck_is_filled_from_the_images() {
        let image: HealthConfig =
            serde_json::from_value(json!({"Test": ["CMD", "true"], "Interval": 5, "Retries": 2}))
                .expect("image");
        let mut c = config(json!({}));
        merge(&mut c, Some(image.clone()));
        assert_eq!(c.healthcheck.as_ref(), Some(&image));
        let mut c = config(json!({"Healthcheck": {"Interval": 7}}));
        merge(&mut c, Some(image.clone()));
        let h = c.healthcheck.expect("merged");
        assert_eq!(
            (h.test.as_deref(), h.interval, h.retries),
            (
                Some(&["CMD".to_owned(), "true".to_owned()][..]),
                Some(7),
                Some(2)
            )
        );
        // --no-healthcheck wins over the image's.
        let mut c = config(json!({"Healthcheck": {"Test": ["NONE"]}}));
        merge(&mut c, Some(image));
        assert!(Schedule::of(&c).is_none());
    }

    #[test]
    fn schedules_take_dockerds_defaults_and_shell() {
        let s = Schedule::of(&config(
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "exit 1"]}}),
        ))
        .expect("schedule");
        assert_eq!(s.argv, ["/bin/sh", "-c", "exit 1"]);
        assert_eq!(
            (s.interval, s.timeout, s.retries, s.start_period),
            (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, 3, Duration::ZERO)
        );
        let s = Schedule::of(&config(
            json!({"Shell": ["/bin/ash", "-e", "-c"], "Healthcheck": {"Test": ["CMD-SHELL", "x"]}}),
        ))
        .expect("schedule");
        assert_eq!(s.argv, ["/bin/ash", "-e", "-c", "x"]);
        let s = Schedule::of(&config(json!({"Healthcheck": {"Test": ["CMD", "a", "b"]}})))
            .expect("schedule");
        assert_eq!(s.argv, ["a", "b"]);
        for none in [
            json!({}),
            json!({"Healthcheck": {"Test": []}}),
            json!({"Healthcheck": {"Test": ["WHAT", "x"]}}),
        ] {
            assert!(Schedule::of(&config(none)).is_none());
        }
    }

    #[test]
    fn intervals_follow_the_start_period() {
        let s = Schedule {
            argv: vec!["true".into()],
            interval: Duration::from_secs(30),
            timeout: DEFAULT_TIMEOUT,
            retries: 3,
            start_period: Duration::from_secs(60),
            start_interval: Duration::from_secs(5),
        };
        assert_eq!(s.next_wait(Duration::ZERO, true), Duration::from_secs(5));
        assert_eq!(s.next_wait(Duration::ZERO, false), Duration::from_secs(30));
        assert_eq!(
            s.next_wait(Duration::from_secs(50), true),
            Duration::from_secs(10)
        );
        assert_eq!(
            s.next_wait(Duration::from_secs(70), true),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn short_durations_and_negative_retries_are_refused() {
        let h = |v: serde_json::Value| -> HealthConfig { serde_json::from_value(v).expect("h") };
        assert!(validate(Some(&h(json!({"Interval": 1_000_000, "Retries": 0})))).is_ok());
        let msg = |v| validate(Some(&h(v))).expect_err("refused").to_string();
        assert_eq!(
            msg(json!({"Interval": 500_000})),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            msg(json!({"Timeout": -1})),
            "Timeout in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            msg(json!({"Retries": -1})),
            "Retries in Healthcheck cannot be negative"
        );
        assert_eq!(
            msg(json!({"StartPeriod": 5})),
            "StartPeriod in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            msg(json!({"StartInterval": 5})),
            "StartInterval in Healthcheck cannot be less than 1ms"
        );
    }
}
