//! Rate-limited logging: a flood of refused connections must not become a flood of log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Allows one event per period; the others are dropped silently.
#[derive(Debug)]
pub(crate) struct LogLimit {
    origin: Instant,
    period_ms: u64,
    /// Milliseconds after `origin` before which nothing more is allowed.
    next_ms: AtomicU64,
}

impl LogLimit {
    pub(crate) fn every(period: Duration) -> Self {
        Self {
            origin: Instant::now(),
            period_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
        }
    }

    /// True at most once per period.
    pub(crate) fn allow(&self) -> bool {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.period_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_once_per_period() {
        let limit = LogLimit::every(Duration::from_secs(3600));
        assert!(limit.allow());
        assert!(!limit.allow());
        let always = LogLimit::every(Duration::ZERO);
        assert!(always.allow());
        assert!(always.allow());
    }
}
