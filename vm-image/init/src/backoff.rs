//! The restart delay of a supervised process: doubles after every quick
//! exit, up to a ceiling; a run that lasted long enough resets it.

use std::time::Duration;

/// Restart backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    healthy_after: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 100 ms, doubling to 10 s; a run of 30 s counts as healthy.
    fn default() -> Self {
        Self::new(
            Duration::from_millis(100),
            Duration::from_secs(10),
            Duration::from_secs(30),
        )
    }
}

impl Backoff {
    /// A backoff starting at `first`, capped at `max`, reset by a run of at
    /// least `healthy_after`.
    pub fn new(first: Duration, max: Duration, healthy_after: Duration) -> Self {
        Self {
            first,
            max,
            healthy_after,
            next: first,
        }
    }

    /// The process exited after running for `ran`: how long to wait before
    /// starting it again.
    pub fn exited_after(&mut self, ran: Duration) -> Duration {
        if ran >= self.healthy_after {
            self.next = self.first;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_ceiling() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(50);
        let delays: Vec<u128> = (0..10).map(|_| b.exited_after(quick).as_millis()).collect();
        assert_eq!(
            delays,
            vec![100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000]
        );
    }

    #[test]
    fn a_healthy_run_resets() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.exited_after(Duration::from_millis(1));
        }
        assert_eq!(
            b.exited_after(Duration::from_secs(31)),
            Duration::from_millis(100)
        );
        assert_eq!(
            b.exited_after(Duration::from_secs(1)),
            Duration::from_millis(200)
        );
    }
}
