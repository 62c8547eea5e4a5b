//! ID-token verification (OpenID Connect Core §3.1.3.7): signature against the provider's keys
//! with an asymmetric-only algorithm allow-list, then `iss`, `aud`, `azp`, `exp`, `iat`, `nbf`,
//! `sub` and the nonce. Google's scheme-less legacy issuer is verified by `legacy` with the
//! same checks; both share the key selection, the re-fetch on an unverifiable token, and the
//! identity that comes out.

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClaimsVerificationError, JsonWebKey, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use super::SignInError;
use super::jose::{CLOCK_SKEW_SECS, MAX_ID_TOKEN_AGE_SECS, checked_header, jose_segment};
use super::key_cache::Failure;
use super::keys::Keys;
use super::legacy;
use super::provider::{Provider, ProviderHandle};
use crate::identity::Identity;

/// The token endpoint's ID token, in the form it came.
pub(super) enum RawIdToken {
    /// Parsed by the openidconnect crate.
    Standard(Box<CoreIdToken>),
    /// Google's legacy issuer (`accounts.google.com`), which the crate cannot parse.
    LegacyGoogle(String),
}

/// What a verified ID token says about the person.
pub(super) struct Verified {
    pub identity: Identity,
    /// The Google Workspace domain (`hd`), read only from the signed token.
    pub hosted_domain: Option<String>,
    /// Every claim of the token, verified (the groups are read from them).
    pub claims: Map<String, Value>,
}

fn invalid(code: impl Into<String>) -> Failure {
    Failure::Other(SignInError::InvalidIdToken(code.into()))
}

/// Verifies `token` for the attempt whose nonce is `nonce`, at `now`; `None` for the ID token
/// of a refresh, which answers no attempt (OIDC Core §12.2: the caller checks its `sub`).
pub(super) async fn verify(
    handle: &ProviderHandle,
    provider: &Provider,
    token: &RawIdToken,
    nonce: Option<&str>,
    now: u64,
) -> Result<Verified, SignInError> {
    let raw = match token {
        RawIdToken::Standard(t) => t.to_string(),
        RawIdToken::LegacyGoogle(raw) => raw.clone(),
    };
    let header = checked_header(&raw)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let attempt = |keys: &Keys| match token {
        RawIdToken::Standard(t) => {
            verify_standard(handle, provider, t, kid, &keys.jwks, nonce, now)
        }
        RawIdToken::LegacyGoogle(raw) => legacy::verify(
            raw,
            &keys.jwks,
            kid,
            handle.client_id().as_str(),
            nonce,
            now,
        ),
    };
    let claims = handle
        .verify_with_keys(provider, kid, now, attempt)
        .await
        .map_err(|failure| match failure {
            Failure::Keys(code) => SignInError::InvalidIdToken(code.into()),
            Failure::Other(err) => err,
        })?;
    finish(
        &claims,
        handle.issuer().as_str(),
        handle.client_id().as_str(),
        now,
    )
}

/// The openidconnect crate's verifier, tried with each candidate key in turn: the key the
/// `kid` names, or every key when there is no `kid` (rotations publish two at once).
fn verify_standard(
    handle: &ProviderHandle,
    provider: &Provider,
    token: &CoreIdToken,
    kid: Option<&str>,
    jwks: &CoreJsonWebKeySet,
    nonce: Option<&str>,
    now: u64,
) -> Result<Map<String, Value>, Failure> {
    let candidates: Vec<_> = jwks
        .keys()
        .iter()
        .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
        .collect();
    if candidates.is_empty() {
        return Err(Failure::Keys("unknown_kid"));
    }
    let now_utc = DateTime::<Utc>::from_timestamp(i64::try_from(now).unwrap_or(i64::MAX), 0)
        .unwrap_or_default();
    let nonce = nonce.map(|n| Nonce::new(n.to_owned()));
    for key in candidates {
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            handle.client_id().clone(),
            handle.client_secret().clone(),
            provider.metadata.issuer().clone(),
            CoreJsonWebKeySet::new(vec![key.clone()]),
        )
        .set_allowed_algs(provider.allowed_algs.clone())
        .set_time_fn(move || now_utc - chrono::Duration::seconds(CLOCK_SKEW_SECS))
        .set_issue_time_verifier_fn(move |iat: DateTime<Utc>| {
            let age = (now_utc - iat).num_seconds();
            if age < -CLOCK_SKEW_SECS {
                Err("issued in the future".into())
            } else if age > MAX_ID_TOKEN_AGE_SECS {
                Err("issued too long ago".into())
            } else {
                Ok(())
            }
        });
        let checked = match &nonce {
            Some(nonce) => token.claims(&verifier, nonce),
            None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
        };
        match checked {
            Ok(_) => return jose_segment(&token.to_string(), 1).map_err(Failure::Other),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::CryptoError(_)
                | SignatureVerificationError::InvalidKey(_)
                | SignatureVerificationError::AmbiguousKeyId(_),
            )) => continue,
            Err(err) => return Err(invalid(claims_error_code(&err))),
        }
    }
    Err(Failure::Keys("signature"))
}

/// The checks the openidconnect crate leaves to us, on claims whose signature is verified,
/// and the identity they describe.
pub(super) fn finish(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: u64,
) -> Result<Verified, SignInError> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    // OIDC Core §3.1.3.7 step 5.
    if claims
        .get("azp")
        .is_some_and(|azp| azp.as_str() != Some(client_id))
    {
        return Err(SignInError::InvalidIdToken("azp".into()));
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let subject = text("sub").unwrap_or_default();
    if subject.is_empty() || subject.len() > 255 {
        return Err(SignInError::InvalidIdToken("sub".into()));
    }
    if claims
        .get("nbf")
        .is_some_and(|nbf| nbf.as_i64().is_none_or(|nbf| nbf > now + CLOCK_SKEW_SECS))
    {
        return Err(SignInError::InvalidIdToken("nbf".into()));
    }
    Ok(Verified {
        identity: Identity {
            // The configured issuer: one person is one user whichever form Google used.
            issuer: issuer.to_owned(),
            subject,
            email: text("email"),
            email_verified: claims
                .get("email_verified")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            name: text("name"),
            picture: text("picture"),
            user_id: None,
            roles: Vec::new(),
            groups: Vec::new(),
        },
        hosted_domain: text("hd"),
        claims: claims.clone(),
    })
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
        _ => "claims",
    }
}
