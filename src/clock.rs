//! The only place that reads the time. Everything whose behaviour depends on it takes a
//! [`Clock`] (production: [`SystemClock`]; tests: [`FakeClock`]), so no test ever sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds since the Unix epoch, as every timestamp in doorman is kept.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> u64;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        system_now()
    }
}

/// The machine's clock, for the few callers outside any request (start-up, the CLI).
pub fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A clock a test sets and advances; clones share the same time.
#[derive(Clone, Debug)]
pub struct FakeClock(Arc<AtomicU64>);

impl FakeClock {
    /// Starts at the machine's current time, so tokens from real providers still look fresh.
    pub fn new() -> Self {
        Self::at(system_now())
    }

    pub fn at(now: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_clock_moves_only_when_told_and_clones_share_it() {
        let clock = FakeClock::at(100);
        let other = clock.clone();
        clock.advance(5);
        assert_eq!(other.now(), 105);
        other.set(7);
        assert_eq!(clock.now(), 7);
    }
}
