//! The only code that talks to the identity provider: discovery and keys (`provider`), the
//! outbound client (`http`), the per-attempt flow state (`flow`), and the checks of OpenID
//! Connect Core §3.1.3.7 that the `openidconnect` crate leaves to us (here).
//!
//! Checks run cheapest and most decisive first, and nothing reaches the provider before the
//! browser's answer has proven it belongs to an attempt we started.

pub mod flow;
pub mod http;
mod legacy_google;
pub mod policy;
pub mod provider;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreErrorResponseType, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, CsrfToken, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope, TokenResponse, UserInfoError,
};
use url::Url;

use self::flow::{CallbackParams, FLOW_TTL_SECS, FlowState, ReturnTo};
use self::http::OutboundError;
use self::provider::{Provider, ProviderHandle};
use crate::session::Identity;

/// Exp is checked with this much leeway for clock skew between us and the provider.
const CLOCK_SKEW_SECS: i64 = 60;
/// An ID token issued longer ago than this is not a fresh answer to our request.
const MAX_ID_TOKEN_AGE_SECS: i64 = 600;
/// Google's ID tokens may name the issuer without its scheme.
const GOOGLE_LEGACY_ISSUER: &str = "accounts.google.com";

/// Why a sign-in attempt failed. Each variant's payload is a reason code for the log,
/// never token material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A forged, replayed, stale or malformed callback (400).
    #[error("invalid callback: {0}")]
    InvalidCallback(&'static str),
    /// The provider refused the code: replayed or injected (400).
    #[error("authorization code rejected")]
    InvalidGrant,
    /// The ID token or the userinfo answer failed validation (400).
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The provider vouched for the person, but the access policy does not admit them (403).
    #[error("not allowed by the access policy: {0}")]
    NotAllowed(&'static str),
    /// The user cancelled, or the provider declined, with a valid state (403).
    #[error("sign-in declined by the provider: {0}")]
    Declined(String),
    /// The provider answered with something unusable (502).
    #[error("provider failure: {0}")]
    ProviderFailed(String),
    /// The provider has not been discovered (503).
    #[error("provider unavailable")]
    ProviderUnavailable,
    /// A call to the provider took longer than the configured limit (504).
    #[error("provider timed out")]
    ProviderTimeout,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Starts an attempt: the provider URL to send the browser to and the state to remember.
pub fn begin_login(provider: &Provider, return_to: ReturnTo, now: u64) -> (Url, FlowState) {
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

/// The browser's answer, checked against the attempt it claims to belong to, before any call
/// to the provider. Returns the authorization code to exchange.
pub fn check_callback(
    params: &CallbackParams,
    flow: Option<&FlowState>,
    issuer: &str,
    now: u64,
) -> Result<String, AuthError> {
    let state = params
        .state
        .as_deref()
        .ok_or(AuthError::InvalidCallback("missing_state"))?;
    let flow = flow.ok_or(AuthError::InvalidCallback("missing_flow_cookie"))?;
    // Compared as digests (the `timing-resistant-secret-traits` feature), in constant time.
    if CsrfToken::new(state.to_owned()) != CsrfToken::new(flow.state.clone()) {
        return Err(AuthError::InvalidCallback("state_mismatch"));
    }
    if !flow.is_fresh(now) {
        return Err(AuthError::InvalidCallback("flow_expired"));
    }
    if let Some(error) = &params.error {
        return Err(AuthError::Declined(sanitize_error_code(error)));
    }
    if let Some(iss) = &params.iss
        && iss != issuer
    {
        return Err(AuthError::InvalidCallback("iss_mismatch"));
    }
    params
        .code
        .clone()
        .ok_or(AuthError::InvalidCallback("missing_code"))
}

/// An OAuth error code is `[a-z_]`; anything else is not echoed even to the log.
fn sanitize_error_code(code: &str) -> String {
    if code.len() <= 64 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        code.to_owned()
    } else {
        "unrecognised_error".to_owned()
    }
}

/// States already used, so a replayed callback is refused even with a copied flow cookie.
#[derive(Default)]
pub struct UsedStates {
    seen: Mutex<HashMap<String, u64>>,
}

impl UsedStates {
    /// Records `state` as used; false if it had been used before.
    pub fn first_use(&self, state: &str, now: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, expires| *expires > now);
        match seen.entry(state.to_owned()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now + FLOW_TTL_SECS + 1);
                true
            }
        }
    }
}

/// Exchanges the code and validates everything that comes back, returning who signed in.
pub async fn finish_login(
    handle: &ProviderHandle,
    code: String,
    flow: &FlowState,
    policy: &policy::AccessPolicy,
) -> Result<Identity, AuthError> {
    let mut provider = handle.get().await?;
    let exchanged = provider
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| AuthError::ProviderFailed("no_token_endpoint".into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
        .request_async(&handle.http)
        .await;
    // Google's scheme-less legacy issuer cannot be parsed by the crate: verify it ourselves.
    if let Err(RequestTokenError::Parse(_, body)) = &exchanged
        && provider.is_google()
        && let Some(raw_id_token) = legacy_google_id_token(body)
    {
        let claims = legacy_google::verify(
            &raw_id_token,
            provider.metadata.jwks(),
            handle.client_id().as_str(),
            &flow.nonce,
            Utc::now().timestamp(),
        )?;
        let mut identity = legacy_google::identity(&claims, provider.issuer().as_str());
        identity.picture = identity.picture.filter(|p| p.starts_with("https://"));
        policy.check(&identity, claims.get("hd").and_then(|hd| hd.as_str()))?;
        return Ok(identity);
    }
    let response = exchanged.map_err(|err| match err {
        RequestTokenError::ServerResponse(e)
            if *e.error() == CoreErrorResponseType::InvalidGrant =>
        {
            AuthError::InvalidGrant
        }
        RequestTokenError::ServerResponse(e) => AuthError::ProviderFailed(format!(
            "token_error:{}",
            sanitize_error_code(e.error().as_ref())
        )),
        RequestTokenError::Request(OutboundError::Timeout) => AuthError::ProviderTimeout,
        RequestTokenError::Request(e) => AuthError::ProviderFailed(format!("token_request: {e}")),
        // The response is usable but its ID token is not even well-formed (a non-URL
        // `iss`, no `sub`, ...): an artefact that fails validation, not a provider outage.
        RequestTokenError::Parse(_, body) if only_the_id_token_is_malformed(&body) => {
            AuthError::InvalidIdToken("malformed".into())
        }
        RequestTokenError::Parse(..) => {
            AuthError::ProviderFailed("token_response_unparseable".into())
        }
        RequestTokenError::Other(_) => {
            AuthError::ProviderFailed("token_response_unexpected".into())
        }
    })?;
    if !response
        .token_type()
        .as_ref()
        .eq_ignore_ascii_case("bearer")
    {
        return Err(AuthError::ProviderFailed("token_type_not_bearer".into()));
    }
    let id_token = response
        .id_token()
        .ok_or_else(|| AuthError::ProviderFailed("no_id_token".into()))?;
    let raw_id_token = id_token.to_string();

    let header = jose_segment(&raw_id_token, 0)?;
    for dangerous in ["jku", "x5u", "jwk", "crit"] {
        if header.get(dangerous).is_some() {
            return Err(AuthError::InvalidIdToken(format!("header_{dangerous}")));
        }
    }
    if let Some(kid) = header.get("kid").and_then(|k| k.as_str())
        && !provider.key_ids.contains(kid)
    {
        provider = handle.refresh_keys(&provider, kid).await?;
        if !provider.key_ids.contains(kid) {
            return Err(AuthError::InvalidIdToken("unknown_kid".into()));
        }
    }

    let now = Utc::now();
    let legacy_google = provider.is_google();
    let verifier = provider
        .client
        .id_token_verifier()
        .set_allowed_algs(provider.allowed_algs.clone())
        .require_issuer_match(!legacy_google)
        .set_time_fn(move || now - chrono::Duration::seconds(CLOCK_SKEW_SECS))
        .set_issue_time_verifier_fn(move |iat: DateTime<Utc>| {
            let age = (now - iat).num_seconds();
            if age < -CLOCK_SKEW_SECS {
                Err("issued in the future".into())
            } else if age > MAX_ID_TOKEN_AGE_SECS {
                Err("issued too long ago".into())
            } else {
                Ok(())
            }
        });
    let nonce = Nonce::new(flow.nonce.clone());
    let claims = id_token
        .claims(&verifier, &nonce)
        .map_err(|e| AuthError::InvalidIdToken(claims_error_code(&e).into()))?;

    let issuer = claims.issuer().as_str();
    if legacy_google && !issuer_matches(provider.issuer().as_str(), issuer) {
        return Err(AuthError::InvalidIdToken("iss".into()));
    }
    // OIDC Core §3.1.3.7 step 5, which the openidconnect crate leaves to its users.
    if claims
        .authorized_party()
        .is_some_and(|azp| azp != handle.client_id())
    {
        return Err(AuthError::InvalidIdToken("azp".into()));
    }
    if claims.subject().as_str().is_empty() || claims.subject().len() > 255 {
        return Err(AuthError::InvalidIdToken("sub".into()));
    }
    let payload = jose_segment(&raw_id_token, 1)?;
    if let Some(nbf) = payload.get("nbf").and_then(|v| v.as_i64())
        && nbf > now.timestamp() + CLOCK_SKEW_SECS
    {
        return Err(AuthError::InvalidIdToken("nbf".into()));
    }

    let mut identity = Identity {
        issuer: provider.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        picture: claims
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_owned()),
        user_id: None,
        roles: Vec::new(),
    };

    // Profile claims may live only at the userinfo endpoint (OIDC Core §5.4).
    if (identity.email.is_none() || identity.name.is_none()) && provider.has_userinfo {
        let userinfo: CoreUserInfoClaims = provider
            .client
            .user_info(
                response.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(|_| AuthError::ProviderFailed("no_userinfo_endpoint".into()))?
            .request_async(&handle.http)
            .await
            .map_err(|err| match err {
                UserInfoError::ClaimsVerification(_) => {
                    AuthError::InvalidIdToken("userinfo_sub".into())
                }
                UserInfoError::Request(OutboundError::Timeout) => AuthError::ProviderTimeout,
                UserInfoError::Request(e) => {
                    AuthError::ProviderFailed(format!("userinfo_request: {e}"))
                }
                UserInfoError::Response(status, ..) => {
                    AuthError::ProviderFailed(format!("userinfo_http_{}", status.as_u16()))
                }
                _ => AuthError::ProviderFailed("userinfo_unusable".into()),
            })?;
        if identity.email.is_none() {
            identity.email = userinfo.email().map(|e| e.as_str().to_owned());
            identity.email_verified = userinfo.email_verified().unwrap_or(false);
        }
        if identity.name.is_none() {
            identity.name = userinfo
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned());
        }
        if identity.picture.is_none() {
            identity.picture = userinfo
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_owned());
        }
    }
    // Only https pictures are ever shown; anything else would be mixed content or a tracker.
    identity.picture = identity.picture.filter(|p| p.starts_with("https://"));
    policy.check(&identity, payload.get("hd").and_then(|hd| hd.as_str()))?;
    Ok(identity)
}

/// The ID token of an otherwise well-formed Bearer token response, when it names Google's
/// legacy issuer.
fn legacy_google_id_token(body: &[u8]) -> Option<String> {
    if !only_the_id_token_is_malformed(body) {
        return None;
    }
    let response: serde_json::Value = serde_json::from_slice(body).ok()?;
    let bearer = response["token_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    let raw = response["id_token"].as_str()?;
    (bearer && legacy_google::applies_to(raw)).then(|| raw.to_owned())
}

/// A token response that does not parse, but would without its `id_token`: the ID token is
/// what is wrong with it.
fn only_the_id_token_is_malformed(body: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(body) else {
        return false;
    };
    fields.remove("id_token").is_some()
        && serde_json::from_value::<openidconnect::core::CoreTokenResponse>(
            serde_json::Value::Object(fields),
        )
        .is_ok()
}

/// Whether an ID token's `iss` names the configured issuer: exactly, except that Google's
/// tokens may also carry the legacy `accounts.google.com`, and only Google's.
pub fn issuer_matches(configured: &str, claimed: &str) -> bool {
    claimed == configured
        || (configured.trim_end_matches('/') == crate::config::GOOGLE_ISSUER
            && claimed == GOOGLE_LEGACY_ISSUER)
}

/// Decodes segment `index` of a compact JWS as a JSON object.
fn jose_segment(
    jwt: &str,
    index: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
    let segment = jwt
        .split('.')
        .nth(index)
        .ok_or_else(|| AuthError::InvalidIdToken("malformed".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::InvalidIdToken("malformed".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::InvalidIdToken("malformed".into()))
}

fn claims_error_code(err: &ClaimsVerificationError) -> &'static str {
    match err {
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidAudience(_) => "aud",
        ClaimsVerificationError::InvalidAuthContext(_) => "acr",
        ClaimsVerificationError::InvalidAuthTime(_) => "auth_time",
        ClaimsVerificationError::InvalidIssuer(_) => "iss",
        ClaimsVerificationError::InvalidNonce(_) => "nonce",
        ClaimsVerificationError::InvalidSubject(_) => "sub",
        ClaimsVerificationError::SignatureVerification(_) => "signature",
        ClaimsVerificationError::Unsupported(_) => "unsupported",
        ClaimsVerificationError::Other(_) => "claims",
        _ => "claims",
    }
}

/// Shared by the auth routes: the provider handle and the replay guard.
pub struct Oidc {
    pub provider: Arc<ProviderHandle>,
    pub used_states: UsedStates,
    /// The configured issuer, as the `iss` callback parameter must name it.
    pub issuer: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(state: &str, created_at: u64) -> FlowState {
        FlowState {
            state: state.into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/".into(),
            created_at,
        }
    }

    fn params(q: &str) -> CallbackParams {
        flow::parse_callback_query(Some(q)).expect("parses")
    }

    const ISS: &str = "https://idp.example";

    #[test]
    fn a_matching_state_yields_the_code() {
        let f = flow("s1", 100);
        assert_eq!(
            check_callback(&params("code=c&state=s1"), Some(&f), ISS, 120),
            Ok("c".into())
        );
    }

    #[test]
    fn state_problems_are_400_before_anything_else() {
        let f = flow("s1", 100);
        assert_eq!(
            check_callback(&params("code=c&state=s2"), Some(&f), ISS, 120),
            Err(AuthError::InvalidCallback("state_mismatch"))
        );
        assert_eq!(
            check_callback(&params("code=c"), Some(&f), ISS, 120),
            Err(AuthError::InvalidCallback("missing_state"))
        );
        assert_eq!(
            check_callback(&params("code=c&state=s1"), None, ISS, 120),
            Err(AuthError::InvalidCallback("missing_flow_cookie"))
        );
        assert_eq!(
            check_callback(
                &params("code=c&state=s1"),
                Some(&f),
                ISS,
                100 + FLOW_TTL_SECS + 1
            ),
            Err(AuthError::InvalidCallback("flow_expired"))
        );
        // A provider error with a forged state is still a forged callback.
        assert_eq!(
            check_callback(&params("error=access_denied&state=zz"), Some(&f), ISS, 120),
            Err(AuthError::InvalidCallback("state_mismatch"))
        );
    }

    #[test]
    fn a_provider_error_with_a_valid_state_is_a_decline() {
        let f = flow("s1", 100);
        assert_eq!(
            check_callback(&params("error=access_denied&state=s1"), Some(&f), ISS, 120),
            Err(AuthError::Declined("access_denied".into()))
        );
        assert_eq!(
            check_callback(&params("error=%3Cscript%3E&state=s1"), Some(&f), ISS, 120),
            Err(AuthError::Declined("unrecognised_error".into()))
        );
    }

    #[test]
    fn an_iss_parameter_must_name_our_issuer() {
        let f = flow("s1", 100);
        assert_eq!(
            check_callback(
                &params("code=c&state=s1&iss=https%3A%2F%2Fevil"),
                Some(&f),
                ISS,
                120
            ),
            Err(AuthError::InvalidCallback("iss_mismatch"))
        );
        assert!(
            check_callback(
                &params("code=c&state=s1&iss=https%3A%2F%2Fidp.example"),
                Some(&f),
                ISS,
                120
            )
            .is_ok()
        );
    }

    #[test]
    fn only_a_legacy_issuer_id_token_in_a_bearer_response_takes_the_google_path() {
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let token = |iss: &str| {
            format!(
                "{}.{}.c2ln",
                b64(serde_json::json!({"alg": "RS256"})),
                b64(serde_json::json!({"iss": iss, "sub": "1", "aud": "c", "exp": 2, "iat": 1}))
            )
        };
        let body = |iss: &str, token_type: &str| {
            serde_json::json!({"access_token": "at", "token_type": token_type, "id_token": token(iss)})
                .to_string()
        };
        assert!(legacy_google_id_token(body("accounts.google.com", "Bearer").as_bytes()).is_some());
        assert!(legacy_google_id_token(body("accounts.google.com", "mac").as_bytes()).is_none());
        assert!(legacy_google_id_token(body("evil.example", "Bearer").as_bytes()).is_none());
        assert!(legacy_google_id_token(b"not json").is_none());
    }

    #[test]
    fn a_state_is_accepted_once() {
        let used = UsedStates::default();
        assert!(used.first_use("s", 0));
        assert!(!used.first_use("s", 10));
        assert!(used.first_use("s", FLOW_TTL_SECS + 2));
    }
}
