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
    Caller, SessionClaims, SessionProblem, Sessions, TokenSource, fit_in_token, session_cookie,
};
use crate::error::context as scope;
use crate::random::token_id;

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
    /// longer than it does (never past `SESSION_MAX_HOURS` after the sign-in).
    fn renewal_due(&self, caller: &Caller, now: u64) -> Option<u64> {
        let claims = &caller.claims;
        let ttl = self.tokens.ttl_secs();
        if caller.source != TokenSource::Cookie || claims.exp.saturating_sub(now) * 2 >= ttl {
            return None;
        }
        claims.sid()?;
        claims.uid?;
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
        {
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
                None if entries.len() >= MAX_REMEMBERED => return Ok(()),
                _ => {}
            }
            entries.insert(sid.into(), Entry::Pending { since: now });
        }
        let view = match self.recheck(&caller.claims, now).await {
            Verdict::Renew(view) => view,
            Verdict::Skip => {
                self.renewals.lock().remove(sid);
                return Ok(());
            }
            Verdict::End => {
                self.renewals.lock().remove(sid);
                return Err(SessionProblem::Revoked);
            }
        };
        match self.store.extend_session(sid, exp).await {
            Ok(true) => {}
            outcome => {
                if let Err(err) = outcome {
                    tracing::warn!(error = %err, "cannot record a session's renewal; it renews at a later request");
                }
                self.renewals.lock().remove(sid);
                return Ok(());
            }
        }
        let mut claims = SessionClaims::from(&caller.claims);
        if let Some(view) = view {
            self.apply_view(&mut claims, sid, view).await;
        }
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
                self.renewals
                    .lock()
                    .insert(sid.into(), Entry::Done { token, exp });
            }
            Err(err) => {
                tracing::error!(error = %err, "minting a renewed session token failed");
                self.renewals.lock().remove(sid);
            }
        }
        Ok(())
    }

    /// The renewed token says what the provider says now; groups too many for it go with
    /// the session (store and directory), as at sign-in.
    async fn apply_view(&self, claims: &mut SessionClaims, sid: &str, view: ProviderView) {
        claims.email = view.email;
        claims.email_verified = view.email_verified;
        claims.name = view.name;
        claims.roles = view.roles;
        if fit_in_token(&view.groups) {
            claims.groups = view.groups;
            claims.gref = None;
            return;
        }
        let json = serde_json::to_string(&view.groups).unwrap_or_default();
        if let Err(err) = self.store.set_session_groups(sid, &json).await {
            tracing::warn!(error = %err, "cannot record the session's new groups; keeping the old ones");
            return;
        }
        claims.groups = Vec::new();
        claims.gref = Some(super::groups::digest(&view.groups));
        self.groups.put(sid, view.groups.into());
    }

    /// The answer to this request carries `token`, which lasts until `exp`.
    fn hand_out(&self, token: &str, exp: u64, now: u64) {
        let cookie = session_cookie(token.to_owned(), exp.saturating_sub(now), &self.cookie);
        if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
            scope::set_renewed_cookie(value);
        }
    }
}
