//! The sign-in service, the one thing `/auth/login` and `/auth/callback` call: begin an
//! attempt (the provider URL and the state to remember), and finish one, in this order:
//!
//! 1. the callback's checks, before the provider is even asked (`callback`);
//! 2. the attempt's `state` is claimed once, in the store, so across instances (the replay
//!    guard);
//! 3. the code is redeemed: exchange → ID token → UserInfo → access lists;
//! 4. the person is admitted as a user (`accounts::admit_provider_account`);
//! 5. a session starts (`session`), whose cookie the handler sets.

use std::sync::Arc;

use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::callback::{CallbackParams, check_callback};
use super::flow::{FLOW_TTL_SECS, FlowState, ReturnTo};
use super::id_token::{self, RawIdToken, Verified};
use super::provider::{Provider, ProviderHandle};
use super::{SignInError, exchange, groups, policy, userinfo};
use crate::accounts::{admit_provider_account, grant_group_roles};
use crate::config::{AccessLists, ClaimsConfig, Issuer, ProviderSettings};
use crate::error::AppError;
use crate::identity::Identity;
use crate::session::{Minted, ProviderLink, SessionError, Sessions};
use crate::store::{Store, StoreError};

/// Everything a sign-in through one provider needs, built once.
pub struct SignInService {
    /// The provider's id (`[[provider]]`'s `id`): in URLs, metrics, logs and policies
    /// (one small string per configured provider, kept for the process's life).
    pub id: &'static str,
    /// The sign-in button's label.
    pub name: String,
    /// The path of its redirect URI (`/auth/callback`, or `/auth/callback/<id>`).
    pub callback_path: String,
    /// `/readyz` waits for its discovery.
    pub required: bool,
    pub provider: Arc<ProviderHandle>,
    /// The configured issuer, as the `iss` callback parameter must name it.
    pub issuer: Issuer,
    /// `ALLOWED_*`: who may sign in.
    access: AccessLists,
    /// `ADMIN_EMAILS`: who is an admin from their first sign-in.
    admin_emails: Vec<String>,
    /// `OIDC_SCOPES`, `OIDC_GROUPS_CLAIM`, `ROLE_FROM_GROUPS`.
    pub(super) claims: ClaimsConfig,
    pub(super) store: Store,
    pub(super) sessions: Sessions,
}

/// A finished sign-in: the new session, and where the attempt asked to return (as stored; to
/// be judged again before use).
pub struct SignedIn {
    pub session: Minted,
    pub return_to: String,
}

/// Why a sign-in could not be finished: the attempt or the provider's answer, or doorman's
/// own store or session token.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error(transparent)]
    Refused(#[from] SignInError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<FinishError> for AppError {
    fn from(err: FinishError) -> Self {
        match err {
            FinishError::Refused(err) => err.into(),
            FinishError::Store(err) => err.into(),
            FinishError::Session(err) => err.into(),
        }
    }
}

crate::error::renders_as_app_error!(FinishError);

impl SignInService {
    pub fn new(
        settings: &ProviderSettings,
        id: &'static str,
        provider: Arc<ProviderHandle>,
        sessions: Sessions,
    ) -> Self {
        Self {
            id,
            name: settings.name.clone(),
            callback_path: settings.callback_path.clone(),
            required: settings.required,
            provider,
            issuer: settings.issuer.clone(),
            access: settings.access.clone(),
            admin_emails: settings.admin_emails.clone(),
            claims: settings.claims.clone(),
            store: sessions.store.clone(),
            sessions,
        }
    }

    /// `role_from_groups`: the doorman roles this provider's groups grant.
    pub fn role_from_groups(&self) -> &[(String, String)] {
        &self.claims.role_from_groups
    }

    /// The access lists and claims a recheck of this provider's sessions applies again.
    pub fn rechecker(&self) -> super::Rechecker {
        super::Rechecker {
            provider: self.provider.clone(),
            claims: self.claims.clone(),
            access: self.access.clone(),
            store: self.store.clone(),
        }
    }

    /// Starts an attempt: the provider URL to send the browser to and the state to remember.
    pub async fn begin(
        &self,
        return_to: ReturnTo,
        now: u64,
    ) -> Result<(Url, FlowState), SignInError> {
        let provider = self.provider.get().await?;
        let offline = self
            .claims
            .refresh
            .map(|_| offline_access(self.issuer.is_google()));
        let (url, mut flow) =
            authorization_request(&provider, &self.claims.scopes, offline, return_to, now);
        flow.provider = self.id.to_owned();
        Ok((url, flow))
    }

    /// Finishes the attempt `flow` (`None`: its cookie did not come, or no longer decrypts)
    /// with the provider's answer `params`, as the module lists.
    pub async fn finish(
        &self,
        params: &CallbackParams,
        flow: Option<&FlowState>,
        now: u64,
    ) -> Result<SignedIn, FinishError> {
        // Mix-up defence: an attempt started for another provider never finishes here, so
        // no code or token meant for one provider is ever taken to another.
        if let Some(flow) = flow
            && flow.provider != self.id
            && !(flow.provider.is_empty() && self.callback_path == LEGACY_CALLBACK)
        {
            return Err(SignInError::InvalidCallback("other_provider").into());
        }
        let code = check_callback(&self.provider, &self.issuer, params, flow, now).await?;
        let flow = flow.ok_or(SignInError::InvalidCallback("missing_flow_cookie"))?;
        self.claim_state_once(flow).await?;
        let (identity, link) = self.redeem(code, flow, now).await?;
        let mut user =
            admit_provider_account(&self.store, identity, &self.admin_emails, now).await?;
        grant_group_roles(&mut user, &self.claims);
        let session = self.sessions.start_linked(&user, None, link).await?;
        Ok(SignedIn {
            session,
            return_to: flow.return_to.clone(),
        })
    }

    /// The replay guard: the attempt's `state` is accepted once, in the store (so whichever
    /// instance a replay reaches), for as long as the attempt could still be fresh. Only its
    /// digest is stored.
    async fn claim_state_once(&self, flow: &FlowState) -> Result<(), FinishError> {
        let digest: [u8; 32] = Sha256::digest(flow.state.as_bytes()).into();
        let expires = flow.created_at + FLOW_TTL_SECS + 1;
        if self.store.claim_once(digest, expires).await? {
            Ok(())
        } else {
            Err(SignInError::InvalidCallback("replayed_state").into())
        }
    }

    /// Redeems the code and validates everything that comes back: exchange, ID token,
    /// UserInfo, the access lists. Returns who signed in, as the provider vouches, and what
    /// the session keeps of the provider's (its `sid`, the ID token for `id_token_hint`).
    async fn redeem(
        &self,
        code: String,
        flow: &FlowState,
        now: u64,
    ) -> Result<(Identity, ProviderLink), SignInError> {
        let handle = &self.provider;
        let provider = handle.get().await?;
        let tokens = exchange::exchange_code(handle, &provider, code, &flow.pkce_verifier).await?;
        let Verified {
            mut identity,
            hosted_domain,
            claims,
        } = id_token::verify(handle, &provider, &tokens.id_token, Some(&flow.nonce), now).await?;
        let mut link = provider_link(&tokens.id_token, &claims);
        link.refresh_token = tokens.refresh_token.clone();
        let path = &self.claims.groups_claim;
        let in_token = groups::read(&claims, path)?;
        // Profile claims (and groups) may live only at the UserInfo endpoint (OIDC Core §5.4).
        let want_groups = in_token.is_none() && self.claims.groups_claim_set;
        let other = userinfo::enrich(
            handle,
            &provider,
            &tokens.access_token,
            &mut identity,
            want_groups,
        )
        .await?;
        let found = match in_token {
            Some(found) => Some(found),
            None => groups::read(&other, path)?,
        };
        if let Some(found) = found {
            if found.skipped > 0 {
                tracing::warn!(
                    claim = %path,
                    skipped = found.skipped,
                    "the provider's groups claim has members that are not strings; they are left out"
                );
                self.sessions.metrics.provider().skipped(found.skipped);
            }
            identity.groups = found.groups;
        }
        // Only https pictures are ever shown; anything else would be mixed content or a tracker.
        identity.picture = identity.picture.filter(|p| p.starts_with("https://"));
        policy::check(&self.access, &identity, hosted_domain.as_deref())?;
        Ok((identity, link))
    }
}

/// The callback of the provider the environment configures.
const LEGACY_CALLBACK: &str = "/auth/callback";

/// An ID token longer than this is not kept for `id_token_hint` (a URL carries it, and
/// servers refuse long ones): signing out at the provider then names doorman by `client_id`.
const ID_TOKEN_HINT_MAX_BYTES: usize = 4096;
/// A provider session id longer than this is not one doorman keeps.
const PROVIDER_SID_MAX_BYTES: usize = 255;

/// What the session keeps of the provider's: the verified token's `sid`, and the token.
fn provider_link(token: &RawIdToken, claims: &Map<String, Value>) -> ProviderLink {
    let raw = match token {
        RawIdToken::Standard(t) => t.to_string(),
        RawIdToken::LegacyGoogle(raw) => raw.clone(),
    };
    ProviderLink {
        sid: claims
            .get("sid")
            .and_then(Value::as_str)
            .filter(|sid| !sid.is_empty() && sid.len() <= PROVIDER_SID_MAX_BYTES)
            .map(str::to_owned),
        id_token: (raw.len() <= ID_TOKEN_HINT_MAX_BYTES).then_some(raw),
        refresh_token: None,
    }
}

/// How a sign-in asks for a refresh token (`OIDC_REFRESH`).
#[derive(Clone, Copy)]
enum OfflineAccess {
    /// The `offline_access` scope (OIDC Core §11).
    Scope,
    /// Google: `access_type=offline`, and `prompt=consent` (Google gives a refresh token only
    /// at a consent).
    GoogleParameters,
}

fn offline_access(google: bool) -> OfflineAccess {
    if google {
        OfflineAccess::GoogleParameters
    } else {
        OfflineAccess::Scope
    }
}

/// The provider URL for a new attempt (PKCE, a fresh state and nonce) and the attempt's state.
/// (`scopes` as `OIDC_SCOPES` lists them; the crate sends `openid` itself, first.)
fn authorization_request(
    provider: &Provider,
    scopes: &[String],
    offline: Option<OfflineAccess>,
    return_to: ReturnTo,
    now: u64,
) -> (Url, FlowState) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    if matches!(offline, Some(OfflineAccess::Scope)) && !scopes.contains(&"offline_access") {
        scopes.push("offline_access");
    }
    let mut request = provider
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(
            scopes
                .iter()
                .filter(|s| **s != "openid")
                .map(|s| Scope::new((*s).to_owned())),
        )
        .set_pkce_challenge(challenge);
    if matches!(offline, Some(OfflineAccess::GoogleParameters)) {
        request = request
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent");
    }
    let (url, state, nonce) = request.url();
    let flow = FlowState {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to: return_to.into_string(),
        created_at: now,
        provider: String::new(),
    };
    (url, flow)
}
