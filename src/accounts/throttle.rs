//! Slows down password guessing without letting a guesser lock the owner out (OWASP's split):
//! failures are counted per (account, client address) and per client address. The first few
//! in a window are free, then each further attempt must wait twice as long as the last.
//!
//! A guesser hammering one account from one address is stopped by the first key; one spraying
//! many accounts from one address by the second; the account's owner, signing in from another
//! address, meets neither. Client addresses are IPv6 /64 networks, since one host owns a /64.

use std::net::IpAddr;

use crate::store::{Counter, Store, StoreError};

/// Failures allowed per (account, client) before waiting starts.
const FREE_PER_ACCOUNT_AND_CLIENT: u32 = 5;
/// Failures allowed per client, across accounts, before waiting starts.
const FREE_PER_CLIENT: u32 = 20;
/// Failures older than this are forgotten.
pub const WINDOW_SECS: u64 = 15 * 60;
const MAX_DELAY_SECS: u64 = 15 * 60;

/// The keys one password attempt is counted under, each with its free allowance.
#[derive(Clone, Debug)]
pub struct AttemptKeys {
    keys: [(String, u32); 2],
}

impl AttemptKeys {
    /// `account` should already be normalised (lower-cased, or a fixed marker when malformed).
    pub fn new(account: &str, client: IpAddr) -> Self {
        let client = client_key(client);
        Self {
            keys: [
                (
                    format!("acct:{account}|{client}"),
                    FREE_PER_ACCOUNT_AND_CLIENT,
                ),
                (format!("client:{client}"), FREE_PER_CLIENT),
            ],
        }
    }

    /// A device user code entered by the person signed in as `subject` (at `issuer`): counted
    /// per person, wherever they are, and per client address.
    pub fn device_code(issuer: &str, subject: &str, client: IpAddr) -> Self {
        let client = client_key(client);
        Self {
            keys: [
                (
                    format!("device:{issuer}|{subject}"),
                    FREE_PER_ACCOUNT_AND_CLIENT,
                ),
                (format!("device-client:{client}"), FREE_PER_CLIENT),
            ],
        }
    }

    fn names(&self) -> Vec<String> {
        self.keys.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// An IPv4 address, or the /64 network of an IPv6 one.
pub fn client_key(ip: IpAddr) -> String {
    match crate::config::canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The throttle, kept in the store so every instance counts the same failures.
#[derive(Clone)]
pub struct LoginThrottle {
    store: Store,
}

impl LoginThrottle {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Checks the keys and, when none must wait, counts this attempt as a failure at once, in
    /// the same transaction: otherwise a burst of parallel guesses would all pass the check
    /// before the first of them failed. A successful attempt is taken back with
    /// [`Self::succeeded`]. `Ok(Err(seconds))` when the attempt must wait that long.
    pub async fn begin_attempt(
        &self,
        keys: &AttemptKeys,
        now: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let free: Vec<u32> = keys.keys.iter().map(|(_, f)| *f).collect();
        self.store
            .update_counters(keys.names(), move |counters| begin(counters, &free, now))
            .await
    }

    /// This attempt is taken back from every key, and nothing more (a code found at
    /// `/device`: finding one's own must not clear earlier wrong guesses).
    pub async fn gave_back(&self, keys: &AttemptKeys) -> Result<(), StoreError> {
        self.store
            .update_counters(keys.names(), |counters| {
                for c in counters.iter_mut() {
                    c.count = c.count.saturating_sub(1);
                }
            })
            .await
    }

    /// The attempt succeeded: the account's record for this client is cleared, and the
    /// client's count gets this attempt back.
    pub async fn succeeded(&self, keys: &AttemptKeys) -> Result<(), StoreError> {
        self.store
            .update_counters(keys.names(), |counters| {
                counters[0].count = 0;
                counters[1].count = counters[1].count.saturating_sub(1);
            })
            .await
    }
}

/// The throttle's rule on counters read under a lock: wait, or count one more failure.
fn begin(counters: &mut [Counter], free: &[u32], now: u64) -> Result<(), u64> {
    let wait = counters
        .iter()
        .zip(free)
        .map(|(c, free)| wait_for(c, *free, now))
        .max()
        .unwrap_or(0);
    if wait > 0 {
        return Err(wait);
    }
    for c in counters.iter_mut() {
        if now.saturating_sub(c.last) >= WINDOW_SECS {
            c.count = 0;
        }
        c.count += 1;
        c.last = now;
    }
    Ok(())
}

fn wait_for(c: &Counter, free: u32, now: u64) -> u64 {
    if now.saturating_sub(c.last) >= WINDOW_SECS || c.count < free {
        return 0;
    }
    let delay = (1u64 << (c.count - free).min(20)).min(MAX_DELAY_SECS);
    (c.last + delay).saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(Store::open(":memory:", 0).expect("store"))
    }

    async fn attempt(t: &LoginThrottle, keys: &AttemptKeys, now: u64) -> Result<(), u64> {
        t.begin_attempt(keys, now).await.expect("store")
    }

    #[tokio::test]
    async fn failures_beyond_the_free_ones_must_wait_longer_and_longer() {
        let t = throttle();
        let keys = AttemptKeys::new("ada", ip("192.0.2.1"));
        for _ in 0..FREE_PER_ACCOUNT_AND_CLIENT {
            assert_eq!(attempt(&t, &keys, 100).await, Ok(()));
        }
        assert_eq!(attempt(&t, &keys, 100).await, Err(1));
        assert_eq!(attempt(&t, &keys, 101).await, Ok(()));
        assert_eq!(attempt(&t, &keys, 101).await, Err(2));
    }

    #[tokio::test]
    async fn a_guesser_on_one_address_does_not_lock_out_the_owner_on_another() {
        let t = throttle();
        let guesser = AttemptKeys::new("ada", ip("203.0.113.9"));
        for _ in 0..FREE_PER_ACCOUNT_AND_CLIENT {
            attempt(&t, &guesser, 100).await.expect("free");
        }
        assert!(attempt(&t, &guesser, 100).await.is_err());
        let owner = AttemptKeys::new("ada", ip("198.51.100.7"));
        assert_eq!(attempt(&t, &owner, 100).await, Ok(()));
    }

    #[tokio::test]
    async fn spraying_many_accounts_from_one_address_is_stopped() {
        let t = throttle();
        let client = ip("203.0.113.9");
        for i in 0..FREE_PER_CLIENT {
            attempt(&t, &AttemptKeys::new(&format!("user{i}"), client), 100)
                .await
                .expect("free");
        }
        assert!(
            attempt(&t, &AttemptKeys::new("another", client), 100)
                .await
                .is_err()
        );
    }

    #[test]
    fn one_ipv6_network_is_one_client() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }

    #[tokio::test]
    async fn success_gives_the_attempt_back_and_time_clears_the_record() {
        let t = throttle();
        let keys = AttemptKeys::new("ada", ip("192.0.2.1"));
        for _ in 0..FREE_PER_ACCOUNT_AND_CLIENT {
            attempt(&t, &keys, 0).await.expect("free");
        }
        t.succeeded(&keys).await.expect("store");
        assert_eq!(attempt(&t, &keys, 0).await, Ok(()));
        for _ in 0..10 {
            let _ = attempt(&t, &keys, 0).await;
        }
        assert!(attempt(&t, &keys, 0).await.is_err());
        assert_eq!(attempt(&t, &keys, WINDOW_SECS + 1).await, Ok(()));
    }
}
