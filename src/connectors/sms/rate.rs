//! The per-provider send rate limit: at most N messages per second, spaced evenly.

use std::time::Duration;

use tokio::{sync::Mutex, time::Instant};

/// Spaces sends at least `1 / rate` seconds apart.
pub(crate) struct RateLimit {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimit {
    /// A limit of `per_second` messages per second; zero or less means no limit.
    pub(crate) fn new(per_second: f64) -> Self {
        let interval = if per_second > 0.0 && per_second.is_finite() {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Waits for this send's turn.
    pub(crate) async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::RateLimit;

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_by_the_configured_rate() {
        let limit = RateLimit::new(2.0);
        let start = Instant::now();
        let mut turns = Vec::new();
        for _ in 0..4 {
            limit.acquire().await;
            turns.push(start.elapsed());
        }
        // The clock is paused: these are the exact virtual times of each turn.
        assert_eq!(
            turns,
            [0, 500, 1000, 1500].map(Duration::from_millis).to_vec()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_unlimited() {
        let limit = RateLimit::new(0.0);
        let start = Instant::now();
        for _ in 0..10 {
            limit.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
