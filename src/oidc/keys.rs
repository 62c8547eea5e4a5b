//! The provider's signing keys (its JWKS) and when to fetch them again.
//!
//! Keys come with discovery and are refreshed when the JWKS response's `Cache-Control: max-age`
//! runs out (in the background, and before a sign-in that finds them stale). A token that no
//! cached key verifies — an unknown `kid`, a new key under a known `kid`, or no `kid` at all —
//! makes `key_cache` fetch them again at once, within the [`RefetchBudget`]: at most one such
//! fetch per distinct `kid` (no `kid` is one of them) per minute, and at most
//! [`MAX_REFETCHES_PER_PERIOD`] a minute in all. Those tokens come only from the provider's
//! token endpoint (over TLS, with the client secret), so the budget only has to stop a
//! misbehaving provider from making doorman hammer its JWKS, never an outsider.

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::SignInError;
use super::http::{Endpoint, OutboundError, ProviderHttp};

/// The period over which failure-triggered JWKS fetches are counted…
pub const REFETCH_PERIOD_SECS: u64 = 60;
/// …and how many there may be in it, whatever the `kid`s.
pub const MAX_REFETCHES_PER_PERIOD: usize = 10;
/// Refresh no more often than this, whatever `max-age` says…
const MIN_MAX_AGE_SECS: u64 = 60;
/// …and at least this often.
const MAX_MAX_AGE_SECS: u64 = 24 * 3600;
/// Without a usable `max-age`.
const DEFAULT_MAX_AGE_SECS: u64 = 3600;

/// One fetched key set.
pub struct Keys {
    pub jwks: CoreJsonWebKeySet,
    /// When the provider says it should be fetched again.
    pub fresh_until: u64,
}

impl Keys {
    pub fn is_stale(&self, now: u64) -> bool {
        now >= self.fresh_until
    }
}

/// The failure-triggered fetches of the last [`REFETCH_PERIOD_SECS`]: when, for which `kid`
/// (a digest, so a long `kid` costs nothing to keep), and whether the fetch failed. Never more
/// than [`MAX_REFETCHES_PER_PERIOD`] entries.
#[derive(Default)]
pub struct RefetchBudget {
    recent: Vec<Refetch>,
}

struct Refetch {
    at: u64,
    kid: Option<[u8; 32]>,
    failed: bool,
}

/// Why the budget refuses a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spent {
    /// This `kid` (or "no `kid`") already caused a fetch in the period; `failed` if that fetch
    /// did not bring a key set.
    Kid { failed: bool },
    /// [`MAX_REFETCHES_PER_PERIOD`] fetches in the period already.
    Overall,
}

impl RefetchBudget {
    /// Whether a token with `kid` that no cached key verifies may cause a fetch at `now`; if
    /// it may, the fetch is counted.
    pub fn take(&mut self, kid: Option<&str>, now: u64) -> Result<(), Spent> {
        // A clock that jumps back by more than a period forgets the old entries too.
        self.recent
            .retain(|r| now.abs_diff(r.at) < REFETCH_PERIOD_SECS);
        let kid = kid_digest(kid);
        if let Some(earlier) = self.recent.iter().find(|r| r.kid == kid) {
            return Err(Spent::Kid {
                failed: earlier.failed,
            });
        }
        if self.recent.len() >= MAX_REFETCHES_PER_PERIOD {
            return Err(Spent::Overall);
        }
        self.recent.push(Refetch {
            at: now,
            kid,
            failed: false,
        });
        Ok(())
    }

    /// The fetch [`take`](Self::take) allowed for `kid` brought no key set.
    pub fn failed(&mut self, kid: Option<&str>) {
        let kid = kid_digest(kid);
        if let Some(entry) = self.recent.iter_mut().rev().find(|r| r.kid == kid) {
            entry.failed = true;
        }
    }
}

fn kid_digest(kid: Option<&str>) -> Option<[u8; 32]> {
    kid.map(|kid| Sha256::digest(kid.as_bytes()).into())
}

/// `GET jwks_uri`, honouring the response's `Cache-Control: max-age`.
pub async fn fetch(http: &ProviderHttp, jwks_uri: &str, now: u64) -> Result<Keys, SignInError> {
    let response = http
        .get_json(Endpoint::Jwks, jwks_uri)
        .await
        .map_err(|err| match err {
            OutboundError::Timeout => SignInError::ProviderTimeout,
            other => SignInError::ProviderFailed(format!("jwks: {other}")),
        })?;
    if response.status() != openidconnect::http::StatusCode::OK {
        return Err(SignInError::ProviderFailed(format!(
            "jwks: HTTP {}",
            response.status().as_u16()
        )));
    }
    if !is_json(response.headers()) {
        return Err(SignInError::ProviderFailed("jwks: not JSON".into()));
    }
    let jwks: CoreJsonWebKeySet = serde_json::from_slice(response.body())
        .map_err(|_| SignInError::ProviderFailed("jwks: not a key set".into()))?;
    let max_age = max_age(response.headers())
        .unwrap_or(DEFAULT_MAX_AGE_SECS)
        .clamp(MIN_MAX_AGE_SECS, MAX_MAX_AGE_SECS);
    Ok(Keys {
        jwks,
        fresh_until: now + max_age,
    })
}

/// JSON, a JWK set, or no content type at all (some providers send none).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(openidconnect::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_none_or(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime == "application/jwk-set+json"
        })
}

/// `max-age` from `Cache-Control`; `no-store`/`no-cache` mean "as soon as allowed".
fn max_age(headers: &HeaderMap) -> Option<u64> {
    let value = headers
        .get(openidconnect::http::header::CACHE_CONTROL)?
        .to_str()
        .ok()?;
    let mut found = None;
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return Some(0);
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            found = seconds.trim_matches('"').parse().ok();
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::http::HeaderValue;

    fn cache_control(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            openidconnect::http::header::CACHE_CONTROL,
            HeaderValue::from_str(value).expect("ascii"),
        );
        h
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(&cache_control("public, max-age=19845, must-revalidate")),
            Some(19845)
        );
        assert_eq!(max_age(&cache_control("no-store")), Some(0));
        assert_eq!(max_age(&HeaderMap::new()), None);
    }

    #[test]
    fn each_kid_may_cause_one_fetch_a_minute() {
        let mut budget = RefetchBudget::default();
        assert_eq!(budget.take(Some("new"), 1000), Ok(()));
        assert_eq!(
            budget.take(Some("new"), 1000 + REFETCH_PERIOD_SECS - 1),
            Err(Spent::Kid { failed: false }),
            "the same kid within the minute"
        );
        assert_eq!(budget.take(Some("newer"), 1001), Ok(()), "another kid");
        assert_eq!(
            budget.take(None, 1002),
            Ok(()),
            "no kid is a kid of its own"
        );
        assert_eq!(budget.take(None, 1003), Err(Spent::Kid { failed: false }));
        assert_eq!(
            budget.take(Some("new"), 1000 + REFETCH_PERIOD_SECS),
            Ok(()),
            "a minute later"
        );
    }

    #[test]
    fn at_most_ten_fetches_a_minute_whatever_the_kids() {
        let mut budget = RefetchBudget::default();
        for i in 0..MAX_REFETCHES_PER_PERIOD as u64 {
            assert_eq!(budget.take(Some(&format!("kid-{i}")), 1000 + i), Ok(()));
        }
        assert_eq!(budget.take(Some("one-more"), 1010), Err(Spent::Overall));
        assert_eq!(
            budget.take(Some("one-more"), 1000 + REFETCH_PERIOD_SECS),
            Ok(()),
            "the oldest has left the minute"
        );
        assert_eq!(
            budget.take(Some("and-another"), 1000 + REFETCH_PERIOD_SECS),
            Err(Spent::Overall)
        );
        assert!(budget.recent.len() <= MAX_REFETCHES_PER_PERIOD);
    }

    #[test]
    fn a_failed_fetch_is_remembered_for_its_kid() {
        let mut budget = RefetchBudget::default();
        assert_eq!(budget.take(Some("k"), 1000), Ok(()));
        budget.failed(Some("k"));
        assert_eq!(
            budget.take(Some("k"), 1001),
            Err(Spent::Kid { failed: true })
        );
    }

    #[test]
    fn a_clock_that_jumps_back_does_not_freeze_the_budget() {
        let mut budget = RefetchBudget::default();
        assert_eq!(budget.take(Some("k"), 10_000), Ok(()));
        assert_eq!(budget.take(Some("k"), 10_000 - REFETCH_PERIOD_SECS), Ok(()));
    }
}
