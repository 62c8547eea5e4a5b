//! Slows down password guessing: per account and per client address, the first few failures
//! in a window are free, then each further attempt must wait twice as long as the last.

use std::collections::HashMap;
use std::sync::Mutex;

const FREE_FAILURES: u32 = 5;
const WINDOW_SECS: u64 = 15 * 60;
const MAX_DELAY_SECS: u64 = 15 * 60;
const SWEEP_THRESHOLD: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: u64,
}

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// `Err(seconds)` when any of `keys` must still wait that long before trying again.
    pub fn check(&self, keys: &[&str], now: u64) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| failures.get(*k))
            .filter(|f| now.saturating_sub(f.last) < WINDOW_SECS && f.count >= FREE_FAILURES)
            .map(|f| {
                let delay = (1u64 << (f.count - FREE_FAILURES).min(20)).min(MAX_DELAY_SECS);
                (f.last + delay).saturating_sub(now)
            })
            .max()
            .unwrap_or(0);
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn record_failure(&self, keys: &[&str], now: u64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= SWEEP_THRESHOLD {
            failures.retain(|_, f| now.saturating_sub(f.last) < WINDOW_SECS);
        }
        for key in keys {
            let entry = failures.entry((*key).to_owned()).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.saturating_sub(entry.last) >= WINDOW_SECS {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
        }
    }

    pub fn record_success(&self, keys: &[&str]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            failures.remove(*key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_free_ones_must_wait_longer_and_longer() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.check(&["user:ada"], 100), Ok(()));
            throttle.record_failure(&["user:ada"], 100);
        }
        assert_eq!(throttle.check(&["user:ada"], 100), Err(1));
        assert_eq!(throttle.check(&["user:ada"], 101), Ok(()));
        throttle.record_failure(&["user:ada"], 101);
        assert_eq!(throttle.check(&["user:ada"], 101), Err(2));
        assert_eq!(
            throttle.check(&["user:grace"], 101),
            Ok(()),
            "other accounts are unaffected"
        );
    }

    #[test]
    fn success_and_time_clear_the_record() {
        let throttle = LoginThrottle::default();
        for _ in 0..10 {
            throttle.record_failure(&["ip:1"], 0);
        }
        assert!(throttle.check(&["ip:1"], 0).is_err());
        assert_eq!(throttle.check(&["ip:1"], WINDOW_SECS), Ok(()));
        throttle.record_success(&["ip:1"]);
        assert_eq!(throttle.check(&["ip:1"], 1), Ok(()));
    }
}
