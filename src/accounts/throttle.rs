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
        wait_for(&failures, keys, now)
    }

    /// Checks `keys` and, when none must wait, counts this attempt as a failure at once, under
    /// the same lock: otherwise a burst of parallel guesses would all pass the check before the
    /// first of them failed. A successful attempt is taken back with `record_success`/`refund`.
    pub fn begin_attempt(&self, keys: &[&str], now: u64) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        wait_for(&failures, keys, now)?;
        count_failure(&mut failures, keys, now);
        Ok(())
    }

    pub fn record_failure(&self, keys: &[&str], now: u64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        count_failure(&mut failures, keys, now);
    }

    pub fn record_success(&self, keys: &[&str]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            failures.remove(*key);
        }
    }

    /// Takes back one attempt counted by `begin_attempt` that turned out to succeed.
    pub fn refund(&self, keys: &[&str]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(entry) = failures.get_mut(*key) {
                entry.count = entry.count.saturating_sub(1);
                if entry.count == 0 {
                    failures.remove(*key);
                }
            }
        }
    }
}

fn wait_for(failures: &HashMap<String, Failures>, keys: &[&str], now: u64) -> Result<(), u64> {
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

fn count_failure(failures: &mut HashMap<String, Failures>, keys: &[&str], now: u64) {
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
    fn attempts_in_flight_count_so_a_burst_cannot_pass_the_check_together() {
        let throttle = LoginThrottle::default();
        let keys = ["user:ada", "ip:1"];
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.begin_attempt(&keys, 100), Ok(()));
        }
        assert_eq!(throttle.begin_attempt(&keys, 100), Err(1));
        throttle.record_success(&["user:ada"]);
        throttle.refund(&["ip:1"]);
        assert_eq!(
            throttle.begin_attempt(&keys, 100),
            Ok(()),
            "one was given back"
        );
        assert_eq!(throttle.begin_attempt(&["ip:1"], 100), Err(1));
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
