//! Per-client token buckets: each client address (an IPv6 /64 counts as one) may make a burst
//! of requests, then as many as the bucket refills. Idle buckets are forgotten by `purge`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::telemetry::Metrics;

struct Bucket {
    tokens: f64,
    updated: u64,
}

/// `capacity` requests at once, refilled at `capacity` per `period_secs`. Refusals are
/// counted in `doorman_throttle_rejections_total{scope}`.
pub struct RateLimiter {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    scope: &'static str,
    metrics: Arc<Metrics>,
}

impl RateLimiter {
    pub fn new(
        capacity: u32,
        period_secs: u64,
        scope: &'static str,
        metrics: Arc<Metrics>,
    ) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self {
            capacity,
            per_sec: capacity / period_secs.max(1) as f64,
            buckets: Mutex::default(),
            scope,
            metrics,
        }
    }

    /// Takes one request from `client`'s bucket; `Err(seconds)` until one is available.
    pub fn check(&self, client: IpAddr, now: u64) -> Result<(), u64> {
        let key = network(client);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let elapsed = now.saturating_sub(bucket.updated) as f64;
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            self.metrics.throttle_rejection(self.scope);
            Err(((1.0 - bucket.tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }

    /// Forgets buckets that have refilled completely; run periodically.
    pub fn purge(&self, now: u64) -> usize {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let before = buckets.len();
        let full_after = (self.capacity / self.per_sec).ceil() as u64;
        buckets.retain(|_, b| now.saturating_sub(b.updated) < full_after);
        before - buckets.len()
    }
}

/// An IPv4 address, or the /64 network of an IPv6 one.
fn network(ip: IpAddr) -> IpAddr {
    match crate::config::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let limiter = RateLimiter::new(3, 60, "test", Metrics::new());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(limiter.check(a, 100), Ok(()));
        }
        assert_eq!(limiter.check(a, 100), Err(20));
        assert_eq!(limiter.check(a, 120), Ok(()));
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(
            limiter.check(b, 120),
            Ok(()),
            "other clients are unaffected"
        );
        assert_eq!(limiter.purge(1000), 2);
    }

    #[test]
    fn an_ipv6_network_shares_one_bucket() {
        let limiter = RateLimiter::new(1, 60, "test", Metrics::new());
        assert!(limiter.check("2001:db8::1".parse().expect("ip"), 0).is_ok());
        assert!(
            limiter
                .check("2001:db8::2".parse().expect("ip"), 0)
                .is_err()
        );
    }
}
