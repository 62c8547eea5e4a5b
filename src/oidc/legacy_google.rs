//! Google documents that its ID tokens may name the issuer `accounts.google.com`, without the
//! scheme. The openidconnect crate cannot even parse such a token (its `iss` must be a URL), so
//! for Google, and for that exact value only, this module verifies the token itself with the
//! same checks as the main path: RS256 against the discovered keys, `iss`, `aud` (no untrusted
//! extra audience), `azp`, `exp` with leeway, `iat` recent, `nbf`, `sub`, and the nonce.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{
    AuthError, CLOCK_SKEW_SECS, GOOGLE_LEGACY_ISSUER, MAX_ID_TOKEN_AGE_SECS, jose_segment,
};
use crate::session::Identity;

/// Whether `raw_id_token` is one this module should verify: unverified, only to choose the path.
pub fn applies_to(raw_id_token: &str) -> bool {
    jose_segment(raw_id_token, 1)
        .is_ok_and(|claims| claims.get("iss").and_then(Value::as_str) == Some(GOOGLE_LEGACY_ISSUER))
}

fn invalid(reason: &str) -> AuthError {
    AuthError::InvalidIdToken(format!("legacy_google_{reason}"))
}

/// The RSA key the header names, or the only RSA key when it names none.
fn signing_key(jwks: &CoreJsonWebKeySet, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
    let keys = serde_json::to_value(jwks).map_err(|_| invalid("jwks"))?;
    let rsa_keys: Vec<&Value> = keys["keys"]
        .as_array()
        .map(|ks| ks.iter().filter(|k| k["kty"] == "RSA").collect())
        .unwrap_or_default();
    let key = match kid {
        Some(kid) => rsa_keys.into_iter().find(|k| k["kid"] == kid),
        None if rsa_keys.len() == 1 => rsa_keys.into_iter().next(),
        None => None,
    }
    .ok_or_else(|| invalid("unknown_kid"))?;
    let (Some(n), Some(e)) = (key["n"].as_str(), key["e"].as_str()) else {
        return Err(invalid("jwk"));
    };
    DecodingKey::from_rsa_components(n, e).map_err(|_| invalid("jwk"))
}

/// Verifies a legacy-issuer Google ID token at `now` and returns its claims.
pub fn verify(
    raw_id_token: &str,
    jwks: &CoreJsonWebKeySet,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<Map<String, Value>, AuthError> {
    let header = jose_segment(raw_id_token, 0)?;
    if ["jku", "x5u", "jwk", "crit"]
        .iter()
        .any(|h| header.contains_key(*h))
    {
        return Err(invalid("header"));
    }
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid("alg"));
    }
    let key = signing_key(jwks, header.get("kid").and_then(Value::as_str))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.algorithms = vec![Algorithm::RS256];
    validation.set_issuer(&[GOOGLE_LEGACY_ISSUER]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    // Time is checked below against the caller's clock, like everything else here.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(raw_id_token, &key, &validation)
        .map_err(|_| invalid("signature_or_claims"))?
        .claims;

    // jsonwebtoken accepts any audience list that contains ours; untrusted extras are refused.
    if let Some(audiences) = claims.get("aud").and_then(Value::as_array)
        && audiences.iter().any(|a| a.as_str() != Some(client_id))
    {
        return Err(invalid("aud"));
    }
    if claims
        .get("azp")
        .is_some_and(|azp| azp.as_str() != Some(client_id))
    {
        return Err(invalid("azp"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("exp"))?;
    if exp + CLOCK_SKEW_SECS <= now {
        return Err(invalid("exp"));
    }
    if claims
        .get("nbf")
        .is_some_and(|nbf| nbf.as_i64().is_none_or(|nbf| nbf > now + CLOCK_SKEW_SECS))
    {
        return Err(invalid("nbf"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("iat"))?;
    if iat > now + CLOCK_SKEW_SECS || now - iat > MAX_ID_TOKEN_AGE_SECS {
        return Err(invalid("iat"));
    }
    let sent = Sha256::digest(nonce.as_bytes());
    let received = claims
        .get("nonce")
        .and_then(Value::as_str)
        .map(|n| Sha256::digest(n.as_bytes()));
    if received != Some(sent) {
        return Err(invalid("nonce"));
    }
    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if subject.is_empty() || subject.len() > 255 {
        return Err(invalid("sub"));
    }
    Ok(claims)
}

/// The person the verified claims describe; `issuer` is the configured (https) issuer, so a
/// user is the same user whichever form of the issuer Google used.
pub fn identity(claims: &Map<String, Value>, issuer: &str) -> Identity {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    Identity {
        issuer: issuer.to_owned(),
        subject: text("sub").unwrap_or_default(),
        email: text("email"),
        email_verified: claims
            .get("email_verified")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        name: text("name"),
        picture: text("picture"),
        user_id: None,
        roles: Vec::new(),
    }
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

    fn check(token: &str) -> Result<Map<String, Value>, AuthError> {
        verify(token, &jwks(), CLIENT, "n-1", NOW)
    }

    #[test]
    fn a_genuine_legacy_token_is_accepted_and_keyed_to_the_https_issuer() {
        let token = signer().sign(&claims());
        assert!(applies_to(&token));
        let verified = check(&token).expect("valid");
        let person = identity(&verified, "https://accounts.google.com");
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
        let jku = signer().sign_with_header(
            &json!({"alg": "RS256", "kid": "google-1", "jku": "https://evil.example/keys"}),
            &claims(),
        );
        assert!(check(&jku).is_err(), "jku header");
    }
}
