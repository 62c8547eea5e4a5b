//! The sign-in service: start an attempt (the provider URL and the state to remember), and
//! complete one (code exchange → ID token → UserInfo → access policy) once the callback has
//! passed every check in `callback`.

use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};
use url::Url;

use super::flow::{FlowState, ReturnTo};
use super::id_token::{self, Verified};
use super::provider::{Provider, ProviderHandle};
use super::{SignInError, exchange, policy, userinfo};
use crate::config::AccessLists;
use crate::identity::Identity;

/// Starts an attempt: the provider URL to send the browser to and the state to remember.
pub fn begin(provider: &Provider, return_to: ReturnTo, now: u64) -> (Url, FlowState) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = provider
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let flow = FlowState {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to: return_to.into_string(),
        created_at: now,
    };
    (url, flow)
}

/// Exchanges the code and validates everything that comes back, returning who signed in.
pub async fn complete(
    handle: &ProviderHandle,
    lists: &AccessLists,
    code: String,
    flow: &FlowState,
    now: u64,
) -> Result<Identity, SignInError> {
    let provider = handle.get().await?;
    let tokens = exchange::exchange_code(handle, &provider, code, &flow.pkce_verifier).await?;
    let Verified {
        mut identity,
        hosted_domain,
    } = id_token::verify(handle, &provider, &tokens.id_token, &flow.nonce, now).await?;
    // Profile claims may live only at the UserInfo endpoint (OIDC Core §5.4).
    userinfo::enrich(handle, &provider, &tokens.access_token, &mut identity).await?;
    // Only https pictures are ever shown; anything else would be mixed content or a tracker.
    identity.picture = identity.picture.filter(|p| p.starts_with("https://"));
    policy::check(lists, &identity, hosted_domain.as_deref())?;
    Ok(identity)
}
