//! The provider's keys as doorman holds them, and the one rule for a token they do not verify:
//! fetch the JWKS again now, once for everyone who needs it, within the `keys::RefetchBudget`,
//! and verify again. ID tokens use it; back-channel logout tokens are to use the same
//! [`KeyCache::verify`].
//!
//! A provider that rotates its key (a new `kid`, a new key under its old `kid`, or no `kid`)
//! and signs someone in a second later must just work: that first sign-in after the rotation is
//! the case this exists for. Concurrent sign-ins that need new keys share one fetch (single
//! flight): they queue on the fetch lock and, once the fetch is stored, use it instead of
//! fetching again.

use std::sync::{Arc, RwLock};

use super::SignInError;
use super::http::ProviderHttp;
use super::keys::{self, Keys, RefetchBudget, Spent};
use crate::clock::Clock;

/// Why one key set could not verify a token.
pub(super) enum Failure {
    /// No key in the set verifies it (the code says how: `unknown_kid`, `signature`): worth
    /// fetching the keys again.
    Keys(&'static str),
    /// Anything else: the token is invalid whatever the keys, or the keys could not be
    /// fetched. The error to answer with.
    Other(SignInError),
}

/// Where the keys come from: the provider's `jwks_uri`, through doorman's outbound client
/// (which also counts the fetch by reason), on doorman's clock.
pub(super) struct KeySource<'a> {
    /// For the log.
    pub issuer: &'a str,
    pub http: &'a ProviderHttp,
    pub jwks_uri: &'a str,
    pub clock: &'a dyn Clock,
}

/// The current key set, and the lock every fetch holds.
#[derive(Default)]
pub(super) struct KeyCache {
    current: RwLock<Option<Arc<Keys>>>,
    /// Held for the whole of a fetch, so that whoever waited finds the result stored; it
    /// also guards the budget of failure-triggered fetches.
    fetching: tokio::sync::Mutex<RefetchBudget>,
}

impl KeyCache {
    pub(super) fn current(&self) -> Option<Arc<Keys>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn store(&self, keys: Keys) -> Arc<Keys> {
        let keys = Arc::new(keys);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(keys.clone());
        keys
    }

    /// The current keys, fetched first if there are none or the provider's `max-age` has run
    /// out (stale keys are kept if that fetch fails).
    pub(super) async fn fresh(
        &self,
        source: &KeySource<'_>,
        now: u64,
    ) -> Result<Arc<Keys>, SignInError> {
        match self.current() {
            Some(keys) if !keys.is_stale(now) => Ok(keys),
            Some(stale) => Ok(self.refresh(source, "max_age").await.unwrap_or(stale)),
            None => self.refresh(source, "missing").await,
        }
    }

    /// Fetches the keys unless someone else did while this caller waited for the lock.
    pub(super) async fn refresh(
        &self,
        source: &KeySource<'_>,
        reason: &'static str,
    ) -> Result<Arc<Keys>, SignInError> {
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(current) = self.current()
            && !current.is_stale(source.clock.now())
        {
            return Ok(current);
        }
        self.fetch_locked(source, reason).await
    }

    /// Runs `attempt` with the current keys; if no key in them verifies the token (whose JOSE
    /// header names `kid`), fetches the keys again (see [`refetch`](Self::refetch)) and runs
    /// it once more. `Failure::Keys` means no key verifies it even then, or the budget allowed
    /// no fetch.
    pub(super) async fn verify<T>(
        &self,
        source: &KeySource<'_>,
        kid: Option<&str>,
        now: u64,
        attempt: impl Fn(&Keys) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let keys = self.fresh(source, now).await.map_err(Failure::Other)?;
        let code = match attempt(&keys) {
            Err(Failure::Keys(code)) => code,
            done => return done,
        };
        match self.refetch(source, &keys, kid, now).await {
            Ok(Some(fresh)) => attempt(&fresh),
            Ok(None) => Err(Failure::Keys(code)),
            Err(err) => Err(Failure::Other(err)),
        }
    }

    /// Called when no key in `tried` verifies a token with `kid`: the keys someone stored
    /// since `tried` (a fetch this caller waited for), else a fetch now if the budget allows.
    /// `None` when it does not.
    async fn refetch(
        &self,
        source: &KeySource<'_>,
        tried: &Arc<Keys>,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Arc<Keys>>, SignInError> {
        let mut budget = self.fetching.lock().await;
        if let Some(current) = self.current()
            && !Arc::ptr_eq(&current, tried)
        {
            return Ok(Some(current));
        }
        match budget.take(kid, now) {
            Ok(()) => {}
            Err(Spent::Kid { failed: true }) => {
                return Err(SignInError::ProviderFailed(
                    "jwks: the fetch for this key failed within the last minute".into(),
                ));
            }
            Err(spent) => {
                tracing::warn!(
                    issuer = source.issuer,
                    limit = ?spent,
                    "no cached key verifies the token, and the JWKS re-fetch limit is reached"
                );
                return Ok(None);
            }
        }
        tracing::info!(
            issuer = source.issuer,
            "no cached key verifies the token; fetching the provider's keys again"
        );
        let fetched = self.fetch_locked(source, "unverifiable_token").await;
        if fetched.is_err() {
            budget.failed(kid);
        }
        fetched.map(Some)
    }

    /// `GET jwks_uri` and store the result; the caller holds `fetching`.
    async fn fetch_locked(
        &self,
        source: &KeySource<'_>,
        reason: &'static str,
    ) -> Result<Arc<Keys>, SignInError> {
        let keys = keys::fetch(source.http, source.jwks_uri, source.clock.now()).await?;
        tracing::debug!(reason, "fetched the provider's keys");
        source.http.jwks_refreshed(reason);
        Ok(self.store(keys))
    }
}
