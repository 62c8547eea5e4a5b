//! Google documents that its ID tokens may name the issuer `accounts.google.com`, without the
//! scheme. The openidconnect crate cannot even parse such a token (its `iss` must be a URL), so
//! for Google, and for that exact value only, this module verifies the token itself with the
//! same checks as the main path: RS256 against the discovered keys, `iss`, `aud` (no untrusted
//! extra audience), `exp` with leeway, `iat` recent and the nonce here; `azp`, `nbf`, `sub`
//! and the identity in `id_token`, which both paths share, like the key re-fetch.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::SignInError;
use super::jose::{CLOCK_SKEW_SECS, MAX_ID_TOKEN_AGE_SECS, jose_segment};
use super::key_cache::Failure;
use crate::config::Issuer;

/// The scheme-less issuer Google's ID tokens may carry.
pub(super) const GOOGLE_LEGACY_ISSUER: &str = "accounts.google.com";

/// Whether an ID token's `iss` names the configured issuer: exactly, except that Google's
/// tokens may also carry the legacy `accounts.google.com`, and only Google's.
pub fn issuer_matches(configured: &Issuer, claimed: &str) -> bool {
    claimed == configured.as_str() || (configured.is_google() && claimed == GOOGLE_LEGACY_ISSUER)
}

/// Whether `raw_id_token` is one this module should verify: unverified, only to choose the path.
pub(super) fn applies_to(raw_id_token: &str) -> bool {
    jose_segment(raw_id_token, 1)
        .is_ok_and(|claims| claims.get("iss").and_then(Value::as_str) == Some(GOOGLE_LEGACY_ISSUER))
}

fn invalid(reason: &str) -> Failure {
    Failure::Other(SignInError::InvalidIdToken(format!(
        "legacy_google_{reason}"
    )))
}

/// The RSA keys that may have signed the token: the one its `kid` names, or all of them.
fn candidate_keys(jwks: &CoreJsonWebKeySet, kid: Option<&str>) -> Vec<DecodingKey> {
    let Ok(keys) = serde_json::to_value(jwks) else {
        return Vec::new();
    };
    keys["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .filter(|k| k["kty"] == "RSA")
                .filter(|k| kid.is_none_or(|kid| k["kid"] == kid))
                .filter_map(|k| {
                    DecodingKey::from_rsa_components(k["n"].as_str()?, k["e"].as_str()?).ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Verifies a legacy-issuer Google ID token at `now` and returns its claims; the header's
/// dangerous members were refused by the caller.
pub(super) fn verify(
    raw_id_token: &str,
    jwks: &CoreJsonWebKeySet,
    kid: Option<&str>,
    client_id: &str,
    nonce: Option<&str>,
    now: u64,
) -> Result<Map<String, Value>, Failure> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let header = jose_segment(raw_id_token, 0).map_err(Failure::Other)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid("alg"));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[GOOGLE_LEGACY_ISSUER]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    // Time is checked below against the caller's clock, like everything else here.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let candidates = candidate_keys(jwks, kid);
    if candidates.is_empty() {
        return Err(Failure::Keys("unknown_kid"));
    }
    let mut claims = None;
    for key in &candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(raw_id_token, key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature => continue,
            Err(_) => return Err(invalid("claims")),
        }
    }
    let claims = claims.ok_or(Failure::Keys("signature"))?;
    check_claims(&claims, client_id, nonce, now)?;
    Ok(claims)
}

/// `aud` without untrusted extras, `exp` with leeway, `iat` recent, and the nonce.
fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<(), Failure> {
    // jsonwebtoken accepts any audience list that contains ours; untrusted extras are refused.
    if let Some(audiences) = claims.get("aud").and_then(Value::as_array)
        && audiences.iter().any(|a| a.as_str() != Some(client_id))
    {
        return Err(invalid("aud"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("exp"))?;
    if exp + CLOCK_SKEW_SECS <= now {
        return Err(invalid("exp"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("iat"))?;
    if iat > now + CLOCK_SKEW_SECS || now - iat > MAX_ID_TOKEN_AGE_SECS {
        return Err(invalid("iat"));
    }
    let Some(nonce) = nonce else {
        return Ok(());
    };
    let sent = Sha256::digest(nonce.as_bytes());
    let received = claims
        .get("nonce")
        .and_then(Value::as_str)
        .map(|n| Sha256::digest(n.as_bytes()));
    if received != Some(sent) {
        return Err(invalid("nonce"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev_provider::RsaSigner;
    use serde_json::json;
    use std::sync::OnceLock;

    const CLIENT: &str = "123.apps.googleusercontent.com";
    const NOW: i64 = 1_800_000_000;

    fn signer() -> &'static RsaSigner {
        static KEY: OnceLock<RsaSigner> = OnceLock::new();
        KEY.get_or_init(|| RsaSigner::generate("google-1").expect("keygen"))
    }

    fn jwks() -> CoreJsonWebKeySet {
        serde_json::from_value(json!({ "keys": [signer().public_jwk()] })).expect("jwks")
    }

    fn claims() -> Value {
        json!({
            "iss": "accounts.google.com", "aud": CLIENT, "azp": CLIENT, "sub": "110169484474386276334",
            "email": "ada@example.com", "email_verified": true, "name": "Ada", "nonce": "n-1",
            "iat": NOW - 5, "exp": NOW + 3595,
        })
    }

    /// The whole legacy path as `id_token::verify` runs it, minus the key cache.
    fn check(token: &str) -> Result<crate::identity::Identity, SignInError> {
        let header = super::super::jose::checked_header(token)?;
        let kid = header.get("kid").and_then(Value::as_str);
        let now = u64::try_from(NOW).expect("positive");
        let claims =
            verify(token, &jwks(), kid, CLIENT, Some("n-1"), now).map_err(|f| match f {
                Failure::Other(e) => e,
                Failure::Keys(code) => SignInError::InvalidIdToken(code.into()),
            })?;
        super::super::id_token::finish(&claims, "https://accounts.google.com", CLIENT, now)
            .map(|v| v.identity)
    }

    #[test]
    fn a_genuine_legacy_token_is_accepted_and_keyed_to_the_https_issuer() {
        let token = signer().sign(&claims());
        assert!(applies_to(&token));
        let person = check(&token).expect("valid");
        assert_eq!(person.issuer, "https://accounts.google.com");
        assert_eq!(person.subject, "110169484474386276334");
        assert!(person.email_verified);
    }

    #[test]
    fn every_claim_check_still_applies() {
        type Tamper = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Tamper)> = vec![
            ("wrong nonce", Box::new(|c| c["nonce"] = json!("other"))),
            (
                "no nonce",
                Box::new(|c| {
                    c.as_object_mut().map(|o| o.remove("nonce"));
                }),
            ),
            ("wrong aud", Box::new(|c| c["aud"] = json!("someone-else"))),
            (
                "extra aud",
                Box::new(|c| c["aud"] = json!([CLIENT, "untrusted"])),
            ),
            ("wrong azp", Box::new(|c| c["azp"] = json!("someone-else"))),
            ("expired", Box::new(|c| c["exp"] = json!(NOW - 120))),
            ("old iat", Box::new(|c| c["iat"] = json!(NOW - 3600))),
            ("future iat", Box::new(|c| c["iat"] = json!(NOW + 600))),
            ("future nbf", Box::new(|c| c["nbf"] = json!(NOW + 600))),
            ("empty sub", Box::new(|c| c["sub"] = json!(""))),
            (
                "another issuer",
                Box::new(|c| c["iss"] = json!("evil.example")),
            ),
        ];
        for (name, tamper) in cases {
            let mut c = claims();
            tamper(&mut c);
            assert!(check(&signer().sign(&c)).is_err(), "{name}");
        }
    }

    #[test]
    fn forged_signatures_and_other_algorithms_are_refused() {
        let token = signer().sign(&claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[2] = "AAAA";
        assert!(check(&parts.join(".")).is_err(), "bad signature");
        let none = signer().sign_with_header(&json!({"alg": "none", "kid": "google-1"}), &claims());
        assert!(check(&none).is_err(), "alg none");
        let hs = signer().sign_with_header(&json!({"alg": "HS256", "kid": "google-1"}), &claims());
        assert!(check(&hs).is_err(), "HS256");
        let unknown = signer().sign_with_header(&json!({"alg": "RS256", "kid": "nope"}), &claims());
        assert!(check(&unknown).is_err(), "unknown kid");
        let no_kid = signer().sign_with_header(&json!({"alg": "RS256"}), &claims());
        assert!(check(&no_kid).is_ok(), "no kid: every key is a candidate");
        let jku = signer().sign_with_header(
            &json!({"alg": "RS256", "kid": "google-1", "jku": "https://evil.example/keys"}),
            &claims(),
        );
        assert!(check(&jku).is_err(), "jku header");
    }
}

#[cfg(test)]
mod issuer_tests {
    use super::*;

    #[test]
    fn only_googles_issuer_also_accepts_the_legacy_form() {
        let google = Issuer::parse("https://accounts.google.com").expect("valid");
        let other = Issuer::parse("https://idp.example").expect("valid");
        assert!(issuer_matches(&google, "accounts.google.com"));
        assert!(issuer_matches(&google, "https://accounts.google.com"));
        assert!(!issuer_matches(&other, "accounts.google.com"));
        assert!(!issuer_matches(&other, "https://idp.example/"));
    }
}
