//! The provider's side of a session recheck (`OIDC_REFRESH`; the session side is
//! `session::recheck`): the refresh-token grant, then the answer's ID token verified as at
//! sign-in (no nonce: it answers no attempt) with the same `sub`, or, without one, UserInfo
//! asked with the new access token; the groups read again, the access lists applied again and
//! the roles recomputed (the store's, and `ROLE_FROM_GROUPS`). `invalid_grant`, a changed
//! `sub`, a person the lists no longer admit or a user deleted from the store end the session;
//! a provider that is down, slow or answers nonsense only postpones the check.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::provider::ProviderHandle;
use super::{SignInError, exchange, groups, id_token, policy, userinfo};
use crate::config::{AccessLists, ClaimsConfig};
use crate::identity::Identity;
use crate::session::{Claims, ProviderCheck, ProviderView, Recheck, Rechecked};
use crate::store::Store;

/// Everything a recheck needs; built once by the composition root.
pub struct Rechecker {
    pub provider: Arc<ProviderHandle>,
    pub claims: ClaimsConfig,
    pub access: AccessLists,
    pub store: Store,
}

impl ProviderCheck for Rechecker {
    fn recheck<'a>(
        &'a self,
        claims: &'a Claims,
        refresh_token: String,
        now: u64,
    ) -> Pin<Box<dyn Future<Output = Rechecked> + Send + 'a>> {
        Box::pin(self.run(claims, refresh_token, now))
    }
}

impl Rechecker {
    async fn run(&self, claims: &Claims, refresh_token: String, now: u64) -> Rechecked {
        let provider = match self.provider.get().await {
            Ok(provider) => provider,
            Err(err) => return unavailable(err, None),
        };
        let refreshed =
            match exchange::exchange_refresh(&self.provider, &provider, &refresh_token).await {
                Ok(refreshed) => refreshed,
                Err(SignInError::InvalidGrant) => return ended("invalid_grant", None),
                Err(err) => return unavailable(err, None),
            };
        let kept = refreshed.refresh_token.clone();
        match self.view(claims, &provider, refreshed, now).await {
            Ok(view) => Rechecked {
                outcome: Recheck::Updated(view),
                refresh_token: kept,
            },
            Err(Stop::Ended(reason)) => ended(reason, kept),
            Err(Stop::Unavailable(err)) => unavailable(err, kept),
        }
    }

    /// The person as the refresh describes them.
    async fn view(
        &self,
        claims: &Claims,
        provider: &super::provider::Provider,
        refreshed: exchange::Refreshed,
        now: u64,
    ) -> Result<ProviderView, Stop> {
        let (mut identity, token_claims, hosted_domain) = match &refreshed.id_token {
            Some(token) => {
                let verified = id_token::verify(&self.provider, provider, token, None, now)
                    .await
                    .map_err(Stop::Unavailable)?;
                (verified.identity, verified.claims, verified.hosted_domain)
            }
            None => (
                Identity {
                    issuer: self.provider.issuer().as_str().to_owned(),
                    subject: claims.sub().to_owned(),
                    ..Identity::default()
                },
                serde_json::Map::new(),
                None,
            ),
        };
        if identity.subject != claims.sub() {
            return Err(Stop::Ended("sub_changed"));
        }
        let path = &self.claims.groups_claim;
        let in_token = groups::read(&token_claims, path).map_err(Stop::Unavailable)?;
        let other = userinfo::enrich(
            &self.provider,
            provider,
            &refreshed.access_token,
            &mut identity,
            in_token.is_none() && self.claims.groups_claim_set,
        )
        .await
        .map_err(Stop::Unavailable)?;
        let found = match in_token {
            Some(found) => Some(found),
            None => groups::read(&other, path).map_err(Stop::Unavailable)?,
        };
        let groups = match found {
            Some(found) => found.groups,
            // The provider no longer says: the groups the session had.
            None => claims.groups().map(str::to_owned).collect(),
        };
        identity.groups = groups;
        if policy::check(&self.access, &identity, hosted_domain.as_deref()).is_err() {
            return Err(Stop::Ended("not_allowed"));
        }
        let Some(uid) = claims.uid else {
            return Err(Stop::Ended("no_user"));
        };
        identity.roles = match self.store.current_roles(uid).await {
            Ok(Some(roles)) => roles,
            Ok(None) => return Err(Stop::Ended("user_deleted")),
            Err(err) => return Err(Stop::Unavailable(SignInError::Internal(err.to_string()))),
        };
        crate::accounts::grant_group_roles(&mut identity, &self.claims);
        Ok(ProviderView {
            email: identity.email,
            email_verified: identity.email_verified,
            name: identity.name,
            groups: identity.groups,
            roles: identity.roles,
        })
    }
}

enum Stop {
    Ended(&'static str),
    Unavailable(SignInError),
}

fn ended(reason: &'static str, refresh_token: Option<String>) -> Rechecked {
    Rechecked {
        outcome: Recheck::Ended(reason),
        refresh_token,
    }
}

fn unavailable(err: SignInError, refresh_token: Option<String>) -> Rechecked {
    Rechecked {
        outcome: Recheck::Unavailable(err.to_string()),
        refresh_token,
    }
}
