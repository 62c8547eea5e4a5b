//! The authorization-code exchange at the token endpoint (client_secret_basic, the PKCE
//! verifier), the refresh-token grant a recheck uses, and the mapping of everything that can
//! go wrong there to a sign-in error.

use openidconnect::core::{CoreErrorResponseType, CoreTokenResponse};
use openidconnect::{
    AccessToken, AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier, RefreshToken,
    RequestTokenError, TokenResponse,
};

use super::SignInError;
use super::callback::sanitize_error_code;
use super::http::Endpoint;
use super::http::OutboundError;
use super::id_token::RawIdToken;
use super::legacy;
use super::provider::{Provider, ProviderHandle};

/// What the token endpoint gave back.
pub(super) struct Tokens {
    pub access_token: AccessToken,
    pub id_token: RawIdToken,
    /// When the provider gave one (it was asked for `offline_access`).
    pub refresh_token: Option<String>,
}

/// What a refresh gave back: the ID token is optional there (OIDC Core §12.2), and so is a
/// new refresh token (a provider that rotates them sends one).
pub(super) struct Refreshed {
    pub access_token: AccessToken,
    pub id_token: Option<RawIdToken>,
    pub refresh_token: Option<String>,
}

/// Redeems `refresh_token` at the token endpoint. `InvalidGrant`: the provider will not
/// renew this session (account disabled, consent revoked, session ended there).
pub(super) async fn exchange_refresh(
    handle: &ProviderHandle,
    provider: &Provider,
    refresh_token: &str,
) -> Result<Refreshed, SignInError> {
    let token = RefreshToken::new(refresh_token.to_owned());
    let response = provider
        .client
        .exchange_refresh_token(&token)
        .map_err(|_| SignInError::ProviderFailed("no_token_endpoint".into()))?
        .request_async(&handle.http.labelled(Endpoint::Token))
        .await
        .map_err(token_error)?;
    if !response
        .token_type()
        .as_ref()
        .eq_ignore_ascii_case("bearer")
    {
        return Err(SignInError::ProviderFailed("token_type_not_bearer".into()));
    }
    Ok(Refreshed {
        access_token: response.access_token().clone(),
        id_token: response
            .id_token()
            .map(|t| RawIdToken::Standard(Box::new(t.clone()))),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
    })
}

/// Exchanges `code` (with the attempt's PKCE verifier) for tokens.
pub(super) async fn exchange_code(
    handle: &ProviderHandle,
    provider: &Provider,
    code: String,
    pkce_verifier: &str,
) -> Result<Tokens, SignInError> {
    let exchanged = provider
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| SignInError::ProviderFailed("no_token_endpoint".into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(&handle.http.labelled(Endpoint::Token))
        .await;
    // Google's scheme-less legacy issuer cannot be parsed by the crate: verified by `legacy`.
    if let Err(RequestTokenError::Parse(_, body)) = &exchanged
        && handle.issuer().is_google()
        && let Some((access_token, raw)) = legacy_google_tokens(body)
    {
        let refresh_token = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["refresh_token"].as_str().map(str::to_owned));
        return Ok(Tokens {
            access_token,
            id_token: RawIdToken::LegacyGoogle(raw),
            refresh_token,
        });
    }
    let response = exchanged.map_err(token_error)?;
    if !response
        .token_type()
        .as_ref()
        .eq_ignore_ascii_case("bearer")
    {
        return Err(SignInError::ProviderFailed("token_type_not_bearer".into()));
    }
    let id_token = response
        .id_token()
        .ok_or_else(|| SignInError::ProviderFailed("no_id_token".into()))?
        .clone();
    Ok(Tokens {
        access_token: response.access_token().clone(),
        id_token: RawIdToken::Standard(Box::new(id_token)),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
    })
}

fn token_error(
    err: RequestTokenError<
        OutboundError,
        openidconnect::StandardErrorResponse<CoreErrorResponseType>,
    >,
) -> SignInError {
    match err {
        RequestTokenError::ServerResponse(e)
            if *e.error() == CoreErrorResponseType::InvalidGrant =>
        {
            SignInError::InvalidGrant
        }
        RequestTokenError::ServerResponse(e) => SignInError::ProviderFailed(format!(
            "token_error:{}",
            sanitize_error_code(e.error().as_ref())
        )),
        RequestTokenError::Request(OutboundError::Timeout) => SignInError::ProviderTimeout,
        RequestTokenError::Request(e) => SignInError::ProviderFailed(format!("token_request: {e}")),
        // The response is usable but its ID token is not even well-formed (a non-URL `iss`,
        // no `sub`, ...): an artefact that fails validation, not a provider outage.
        RequestTokenError::Parse(_, body) if only_the_id_token_is_malformed(&body) => {
            SignInError::InvalidIdToken("malformed".into())
        }
        RequestTokenError::Parse(..) => {
            SignInError::ProviderFailed("token_response_unparseable".into())
        }
        RequestTokenError::Other(_) => {
            SignInError::ProviderFailed("token_response_unexpected".into())
        }
    }
}

/// The access token and ID token of an otherwise well-formed Bearer token response whose ID
/// token names Google's legacy issuer.
fn legacy_google_tokens(body: &[u8]) -> Option<(AccessToken, String)> {
    if !only_the_id_token_is_malformed(body) {
        return None;
    }
    let response: serde_json::Value = serde_json::from_slice(body).ok()?;
    let bearer = response["token_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    let raw = response["id_token"].as_str()?;
    let access = response["access_token"].as_str()?;
    (bearer && legacy::applies_to(raw))
        .then(|| (AccessToken::new(access.to_owned()), raw.to_owned()))
}

/// A token response that does not parse, but would without its `id_token`: the ID token is
/// what is wrong with it.
fn only_the_id_token_is_malformed(body: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(body) else {
        return false;
    };
    fields.remove("id_token").is_some()
        && serde_json::from_value::<CoreTokenResponse>(serde_json::Value::Object(fields)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn only_a_legacy_issuer_id_token_in_a_bearer_response_takes_the_google_path() {
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
        assert!(legacy_google_tokens(body("accounts.google.com", "Bearer").as_bytes()).is_some());
        assert!(legacy_google_tokens(body("accounts.google.com", "mac").as_bytes()).is_none());
        assert!(legacy_google_tokens(body("evil.example", "Bearer").as_bytes()).is_none());
        assert!(legacy_google_tokens(b"not json").is_none());
    }
}
