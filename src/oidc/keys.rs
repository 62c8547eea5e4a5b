//! The provider's signing keys (its JWKS) and when to fetch them again.
//!
//! Keys come with discovery and are refreshed when the JWKS response's `Cache-Control: max-age`
//! runs out (in the background, and before a sign-in that finds them stale). A token that no
//! cached key verifies — an unknown `kid`, a new key under a known `kid`, or no `kid` at all —
//! may trigger one more fetch, but at most one per fixed window: a flood of bad tokens costs
//! the provider one request per window, and a genuine rotation waits at most until the current
//! window ends (not a whole window from the flood), since a fetch is allowed as soon as the
//! cache is older than the window's start.

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::http::HeaderMap;

use super::SignInError;
use super::http::{Endpoint, OutboundError, ProviderHttp};

/// Length of the fixed windows that bound failure-triggered JWKS fetches.
pub const KEY_REFETCH_WINDOW_SECS: u64 = 30;
/// Refresh no more often than this, whatever `max-age` says…
const MIN_MAX_AGE_SECS: u64 = 60;
/// …and at least this often.
const MAX_MAX_AGE_SECS: u64 = 24 * 3600;
/// Without a usable `max-age`.
const DEFAULT_MAX_AGE_SECS: u64 = 3600;

/// One fetched key set.
pub struct Keys {
    pub jwks: CoreJsonWebKeySet,
    /// When it was fetched (the caller's clock).
    pub fetched_at: u64,
    /// When the provider says it should be fetched again.
    pub fresh_until: u64,
}

impl Keys {
    pub fn is_stale(&self, now: u64) -> bool {
        now >= self.fresh_until
    }

    /// Whether a token no cached key verifies may cause a fetch now.
    pub fn may_refetch(&self, now: u64) -> bool {
        self.fetched_at < now - now % KEY_REFETCH_WINDOW_SECS
    }
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
        fetched_at: now,
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
    fn a_refetch_is_allowed_once_the_cache_predates_the_current_window() {
        let w = KEY_REFETCH_WINDOW_SECS;
        let keys = Keys {
            jwks: CoreJsonWebKeySet::new(vec![]),
            fetched_at: 10 * w + 3,
            fresh_until: u64::MAX,
        };
        assert!(!keys.may_refetch(10 * w + 4), "same window");
        assert!(
            !keys.may_refetch(11 * w - 1),
            "same window, its last second"
        );
        assert!(keys.may_refetch(11 * w), "the next window");
    }
}
