//! Browser sessions renew quietly while they are used. A request whose cookie token has less
//! than half its lifetime left gets a fresh token of the same session (same `sid`, roles and
//! groups; a new `jti`, `iat` and `exp`) in a `Set-Cookie` on whatever answers it: doorman's
//! pages and API, a gateway decision, a proxied service. Renewals stop `SESSION_MAX_HOURS`
//! after the sign-in (`auth_time`): the last token ends exactly then, and the person signs in
//! again. The store learns the session's new end (one write), so a role change or a
//! provider's logout still finds it.
//!
//! Per instance, a session renews once per half-lifetime: requests that still carry the old
//! token get the same renewed one (no second signature, no second write), and while one
//! renewal is under way the others pass without one. Bearer tokens never renew: API clients
//! have refresh tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::HeaderValue;

use super::recheck::{ProviderView, Verdict};
use super::{
    CHANGE_SIGNAL_SECS, Caller, Claims, SessionClaims, SessionProblem, Sessions, TokenSource,
    change_id, session_cookie,
};
use crate::error::context as scope;
use crate::identity::Identity;
use crate::random::token_id;
use crate::store::Revocation;

/// Sessions renewed (or being renewed) that one instance remembers at most; past it, a
/// session simply renews at a later request.
const MAX_REMEMBERED: usize = 10_000;
/// A renewal still under way after this long was abandoned (its request went away).
const PENDING_SECS: u64 = 10;

enum Entry {
    Pending { since: u64 },
    Done { token: Arc<str>, exp: u64 },
}

/// The renewals this instance made, by `sid`, until their tokens expire.
#[derive(Default)]
pub struct Renewals {
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

impl Renewals {
    /// Nothing in the map is left half-changed by a panic (each change is one insert or
    /// removal), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets renewals whose tokens expired and abandoned ones.
    pub fn purge(&self, now: u64) {
        self.lock().retain(|_, entry| match entry {
            Entry::Pending { since } => now.saturating_sub(*since) < PENDING_SECS,
            Entry::Done { exp, .. } => *exp > now,
        });
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sessions {
    /// The expiry of the token that renews `caller`'s at `now`, when it is due: a cookie token
    /// of a recorded session with less than half its lifetime left, whose renewal would last
    /// longer than it does (never past `SESSION_MAX_HOURS` after the sign-in), from a provider
    /// still configured.
    fn renewal_due(&self, caller: &Caller, now: u64) -> Option<u64> {
        let claims = &caller.claims;
        let ttl = self.tokens.ttl_secs();
        if caller.source != TokenSource::Cookie || claims.exp.saturating_sub(now) * 2 >= ttl {
            return None;
        }
        claims.sid()?;
        claims.uid?;
        if self.provider_ids.of(claims.idp()).is_empty() {
            return None;
        }
        let started = claims.auth_time.unwrap_or(claims.iat);
        let exp = (now + ttl).min(started.saturating_add(self.max_age_secs));
        (exp > claims.exp).then_some(exp)
    }

    /// Renews `caller`'s session when it is due (see the module): the answer to this request
    /// then carries the new cookie. `Revoked` when a recheck at the provider ended it.
    pub(super) async fn renew_if_due(
        &self,
        caller: &Caller,
        now: u64,
    ) -> Result<(), SessionProblem> {
        match self.renewal_due(caller, now) {
            // Boxed: the rare renewal does not grow every request's future.
            Some(exp) => Box::pin(self.renew(caller, exp, now)).await,
            None => Ok(()),
        }
    }

    async fn renew(&self, caller: &Caller, exp: u64, now: u64) -> Result<(), SessionProblem> {
        let Some(sid) = caller.claims.sid() else {
            return Ok(());
        };
        // A full memo does not stop renewals: they are just not shared then.
        let remember = {
            let mut entries = self.renewals.lock();
            match entries.get(sid) {
                Some(Entry::Done {
                    token,
                    exp: renewed,
                }) if *renewed > caller.claims.exp => {
                    self.hand_out(token, *renewed, now);
                    return Ok(());
                }
                Some(Entry::Pending { since }) if now.saturating_sub(*since) < PENDING_SECS => {
                    return Ok(());
                }
                None if entries.len() >= MAX_REMEMBERED => false,
                _ => {
                    entries.insert(sid.into(), Entry::Pending { since: now });
                    true
                }
            }
        };
        let forget = || {
            if remember {
                self.renewals.lock().remove(sid);
            }
        };
        let view = match self.recheck(&caller.claims, now).await {
            Verdict::Renew(view) => view,
            Verdict::Skip => {
                forget();
                return Ok(());
            }
            Verdict::End => {
                forget();
                return Err(SessionProblem::Revoked);
            }
        };
        // The store refuses to extend a revoked session; and a revocation that reached this
        // instance meanwhile wins over the renewal.
        let extended = self.store.extend_session(sid, exp).await;
        if !matches!(extended, Ok(true)) || self.revocations.is_revoked(sid, self.clock.now()) {
            if let Err(err) = extended {
                tracing::warn!(error = %err, "cannot record a session's renewal; it renews at a later request");
            }
            forget();
            return Ok(());
        }
        let mut changed = false;
        let mut claims = match view {
            Some(view) => {
                changed = view
                    .roles
                    .iter()
                    .map(String::as_str)
                    .ne(caller.claims.roles())
                    || view
                        .groups
                        .iter()
                        .map(String::as_str)
                        .ne(caller.claims.groups());
                self.claims_from_view(&caller.claims, sid, view, now).await
            }
            None => SessionClaims::from(&caller.claims),
        };
        claims.auth_time = Some(caller.claims.auth_time.unwrap_or(caller.claims.iat));
        claims.jti = token_id();
        claims.iat = now;
        claims.exp = exp;
        claims.nbf = None;
        match self.tokens.mint(&claims) {
            Ok(token) => {
                let token: Arc<str> = token.into();
                self.hand_out(&token, exp, now);
                self.metrics.provider().session_renewed();
                if changed {
                    // What was opened under the old groups or roles closes, on every instance.
                    let signal = Revocation {
                        id: change_id(sid),
                        expires_at: now + CHANGE_SIGNAL_SECS,
                    };
                    self.revoke(vec![signal]).await;
                }
                if remember {
                    self.renewals
                        .lock()
                        .insert(sid.into(), Entry::Done { token, exp });
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "minting a renewed session token failed");
                forget();
            }
        }
        Ok(())
    }

    /// The renewed token's claims as the provider describes the person now, within the same
    /// limits as at sign-in (`claims_for`); groups too many for the token go with the session
    /// (store and directory). If they cannot be recorded, the token keeps the old claims.
    async fn claims_from_view(
        &self,
        old: &Claims,
        sid: &str,
        view: ProviderView,
        now: u64,
    ) -> SessionClaims {
        let identity = Identity {
            issuer: old.idp().to_owned(),
            subject: old.sub().to_owned(),
            email: view.email,
            email_verified: view.email_verified,
            name: view.name,
            picture: old.picture().map(str::to_owned),
            user_id: old.uid,
            roles: view.roles,
            groups: view.groups,
        };
        let claims = self
            .tokens
            .claims_for(&identity, now, token_id(), Some(sid.to_owned()));
        if claims.gref.is_some() {
            let json = serde_json::to_string(&identity.groups).unwrap_or_default();
            if let Err(err) = self.store.set_session_groups(sid, &json).await {
                tracing::warn!(error = %err, "cannot record the session's new groups; keeping the old claims");
                return SessionClaims::from(old);
            }
            self.groups.put(sid, identity.groups.into());
        }
        claims
    }

    /// The answer to this request carries `token`, which lasts until `exp`.
    fn hand_out(&self, token: &str, exp: u64, now: u64) {
        let cookie = session_cookie(token.to_owned(), exp.saturating_sub(now), &self.cookie);
        if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
            scope::set_renewed_cookie(value);
        }
    }
}
