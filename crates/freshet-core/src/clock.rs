//! The injected clock: domain code asks a `Clock` for the time instead of calling `SystemTime::now()`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, UTC.
pub type UnixNanos = i64;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_nanos(&self) -> UnixNanos;

    fn now_secs(&self) -> i64 {
        self.now_nanos().div_euclid(1_000_000_000)
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> UnixNanos {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(nanos: UnixNanos) -> Self {
        Self(AtomicI64::new(nanos))
    }

    pub fn set(&self, nanos: UnixNanos) {
        self.0.store(nanos, Ordering::SeqCst);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> UnixNanos {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_500_000_000);
        assert_eq!(c.now_secs(), 1);
        c.advance_secs(10);
        assert_eq!(c.now_secs(), 11);
        c.set(-1);
        assert_eq!(c.now_secs(), -1, "floors towards negative infinity");
    }
}
