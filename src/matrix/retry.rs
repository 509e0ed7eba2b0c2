//! Classification of homeserver failures and the backoff between retries.

use std::time::Duration;

use rand::Rng;

/// How a failed request should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// Connection refused or reset, DNS failure, timeout: retry with backoff.
    Network,
    /// The server asked to come back later (429, `M_LIMIT_EXCEEDED`, 502–504, other 5xx).
    Transient {
        /// The server's own delay, when it gave one.
        retry_after: Option<Duration>,
    },
    /// Will fail again (other 4xx): do not retry; tell the user.
    Permanent,
}

impl RetryKind {
    /// Classifies an HTTP error answer.
    pub fn from_status(status: u16, errcode: Option<&str>, retry_after: Option<Duration>) -> Self {
        match (status, errcode) {
            (429, _) | (_, Some("M_LIMIT_EXCEEDED")) => Self::Transient { retry_after },
            (500..=599, _) => Self::Transient { retry_after },
            // Request timeout from a proxy: the request may not have been processed.
            (408, _) => Self::Transient { retry_after },
            _ => Self::Permanent,
        }
    }

    /// True unless permanent.
    pub fn is_retryable(self) -> bool {
        !matches!(self, Self::Permanent)
    }
}

/// Capped exponential backoff with full jitter: attempt 1 waits up to 1 s, then 2 s, 4 s, …,
/// never more than `cap`. A server-provided delay wins when it is longer.
pub fn backoff(attempt: u32, cap: Duration, server_delay: Option<Duration>) -> Duration {
    let exp = Duration::from_millis(500u64.saturating_mul(1u64 << attempt.min(20)));
    let ceiling = exp.min(cap);
    // Half fixed, half random: spreads retries without ever retrying at once.
    let half = ceiling / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().try_into().unwrap_or(u64::MAX));
    let delay = half + Duration::from_millis(jitter);
    match server_delay {
        Some(d) if d > delay => d.min(cap.max(d)),
        _ => delay,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{RetryKind, backoff};

    #[test]
    fn statuses_are_classified() {
        let ra = Some(Duration::from_millis(1500));
        assert_eq!(
            RetryKind::from_status(429, Some("M_LIMIT_EXCEEDED"), ra),
            RetryKind::Transient { retry_after: ra }
        );
        assert_eq!(
            RetryKind::from_status(400, Some("M_LIMIT_EXCEEDED"), None),
            RetryKind::Transient { retry_after: None }
        );
        assert_eq!(
            RetryKind::from_status(502, None, None),
            RetryKind::Transient { retry_after: None }
        );
        assert_eq!(
            RetryKind::from_status(503, Some("M_UNKNOWN"), None),
            RetryKind::Transient { retry_after: None }
        );
        assert_eq!(
            RetryKind::from_status(403, Some("M_FORBIDDEN"), None),
            RetryKind::Permanent
        );
        assert_eq!(
            RetryKind::from_status(400, Some("M_BAD_JSON"), None),
            RetryKind::Permanent
        );
        assert_eq!(
            RetryKind::from_status(404, Some("M_UNRECOGNIZED"), None),
            RetryKind::Permanent
        );
        assert!(!RetryKind::Permanent.is_retryable());
        assert!(RetryKind::Network.is_retryable());
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_the_server() {
        let cap = Duration::from_secs(10);
        for attempt in 0..40 {
            let d = backoff(attempt, cap, None);
            assert!(d <= cap, "attempt {attempt}: {d:?}");
        }
        // Attempt 0 waits 250–500 ms, attempt 3 between 2 and 4 s.
        let d0 = backoff(0, cap, None);
        assert!(
            d0 >= Duration::from_millis(250) && d0 <= Duration::from_millis(500),
            "{d0:?}"
        );
        let d3 = backoff(3, cap, None);
        assert!(
            d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4),
            "{d3:?}"
        );
        let server = Duration::from_secs(7);
        assert!(backoff(0, cap, Some(server)) >= server);
    }
}
