//! Back-Channel Logout 1.0 §2.6: a logout token is accepted only when every rule holds — a
//! compact JWS (never encrypted, never `alg: none`) signed with one of the provider's keys
//! and an algorithm doorman accepts for its ID tokens (the same key rules, and the same
//! re-fetch on an unknown key, as `key_cache`), `typ` `logout+jwt` when the header names one
//! (or the generic `JWT` many providers still send), `iss` exactly the configured issuer,
//! `aud` naming the client, `iat` recent and `exp` not passed, the back-channel logout
//! event, `sub` or `sid`, a `jti`, and **no** `nonce` (so no ID token passes for one).
//!
//! Anyone can post one: the re-fetch budget of `keys` bounds what a flood of tokens with
//! unknown keys can make doorman fetch.

use base64::Engine;
use openidconnect::core::{CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm};
use serde_json::{Map, Value};

use super::jose::{CLOCK_SKEW_SECS, checked_header, jose_segment};
use super::key_cache::Failure;
use super::provider::{Provider, ProviderHandle};
use super::{SignInError, legacy};

/// The event a logout token must carry.
pub(super) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";
/// A logout token issued longer ago than this is not a fresh message from the provider.
pub(super) const MAX_LOGOUT_TOKEN_AGE_SECS: i64 = 300;
/// The longest `sub`, `sid` or `jti` doorman takes.
const MAX_ID_BYTES: usize = 255;

/// What a valid logout token asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LogoutRequest {
    pub(super) subject: Option<String>,
    pub(super) provider_sid: Option<String>,
    pub(super) jti: String,
    /// After this the token would be refused anyway: its `jti` need not be remembered longer.
    pub(super) valid_until: u64,
}

/// Why a logout token was refused: a short reason code, for the log and the metric.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refusal(pub(super) &'static str);

fn refuse(code: &'static str) -> Failure {
    Failure::Other(SignInError::InvalidIdToken(code.into()))
}

/// Verifies `raw` at `now` against the provider's keys (fetched again, within the budget,
/// when none of them verifies it).
pub(super) async fn verify(
    handle: &ProviderHandle,
    provider: &Provider,
    raw: &str,
    now: u64,
) -> Result<LogoutRequest, SignInError> {
    if raw.split('.').count() != 3 {
        return Err(SignInError::InvalidIdToken("not_a_jws".into()));
    }
    let header = checked_header(raw)?;
    let alg = algorithm(&header, provider)?;
    check_typ(&header)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let claims = handle
        .verify_with_keys(provider, kid, now, |keys| {
            verify_signature(raw, &keys.jwks, kid, &alg)
        })
        .await
        .map_err(|failure| match failure {
            Failure::Keys(code) => SignInError::InvalidIdToken(code.into()),
            Failure::Other(err) => err,
        })?;
    check_claims(
        &claims,
        handle.issuer().as_str(),
        handle.client_id().as_str(),
        now,
    )
    .map_err(|Refusal(code)| SignInError::InvalidIdToken(code.into()))
}

/// The header's `alg`, when it is one doorman accepts for this provider's ID tokens.
fn algorithm(
    header: &Map<String, Value>,
    provider: &Provider,
) -> Result<CoreJwsSigningAlgorithm, SignInError> {
    let alg = header
        .get("alg")
        .cloned()
        .and_then(|alg| serde_json::from_value::<CoreJwsSigningAlgorithm>(alg).ok())
        .filter(|alg| provider.allowed_algs.contains(alg))
        .ok_or_else(|| SignInError::InvalidIdToken("alg".into()))?;
    Ok(alg)
}

/// `typ`, when present: `logout+jwt` (RFC 8725 §3.11), with or without `application/`, or
/// the generic `JWT`; any other type is some other token.
fn check_typ(header: &Map<String, Value>) -> Result<(), SignInError> {
    let Some(typ) = header.get("typ") else {
        return Ok(());
    };
    let typ = typ.as_str().unwrap_or_default().to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    if typ == "logout+jwt" || typ == "jwt" {
        Ok(())
    } else {
        Err(SignInError::InvalidIdToken("typ".into()))
    }
}

/// The claims of `raw` if a signing key of `jwks` (the one `kid` names, or any without a
/// `kid`) verifies it with `alg`.
fn verify_signature(
    raw: &str,
    jwks: &CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<Map<String, Value>, Failure> {
    let (input, signature) = raw.rsplit_once('.').ok_or_else(|| refuse("malformed"))?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| refuse("malformed"))?;
    let candidates: Vec<_> = jwks
        .keys()
        .iter()
        .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
        .filter(|k| {
            k.key_use()
                .is_none_or(|u| *u == CoreJsonWebKeyUse::Signature)
        })
        .filter(|k| match k.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(a) => a == alg,
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Unsupported => false,
        })
        .collect();
    if candidates.is_empty() {
        return Err(Failure::Keys("unknown_kid"));
    }
    if candidates.iter().any(|key| {
        key.verify_signature(alg, input.as_bytes(), &signature)
            .is_ok()
    }) {
        jose_segment(raw, 1).map_err(Failure::Other)
    } else {
        Err(Failure::Keys("signature"))
    }
}

/// Every claim rule of §2.6, on claims whose signature is verified.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: u64,
) -> Result<LogoutRequest, Refusal> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let claimed = text("iss").ok_or(Refusal("iss"))?;
    if claimed != issuer || claimed == legacy::GOOGLE_LEGACY_ISSUER {
        return Err(Refusal("iss"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(Refusal("aud"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(Refusal("iat"))?;
    if iat > now.saturating_add(CLOCK_SKEW_SECS)
        || now.saturating_sub(iat) > MAX_LOGOUT_TOKEN_AGE_SECS + CLOCK_SKEW_SECS
    {
        return Err(Refusal("iat"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Refusal("exp"))?;
    if exp.saturating_add(CLOCK_SKEW_SECS) <= now {
        return Err(Refusal("exp"));
    }
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(Refusal("events"));
    }
    if claims.contains_key("nonce") {
        return Err(Refusal("nonce"));
    }
    let id = |name: &'static str| -> Result<Option<String>, Refusal> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_BYTES => {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(Refusal(name)),
        }
    };
    let subject = id("sub")?;
    let provider_sid = id("sid")?;
    if subject.is_none() && provider_sid.is_none() {
        return Err(Refusal("no_sub_or_sid"));
    }
    let jti = id("jti")?.ok_or(Refusal("jti"))?;
    let valid_until = exp
        .min(iat.saturating_add(MAX_LOGOUT_TOKEN_AGE_SECS))
        .saturating_add(CLOCK_SKEW_SECS + 1);
    Ok(LogoutRequest {
        subject,
        provider_sid,
        jti,
        valid_until: u64::try_from(valid_until).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://op.example.com";
    const CLIENT: &str = "doorman";
    const NOW: i64 = 1_800_000_000;

    fn good() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "iat": NOW - 5, "exp": NOW + 115,
            "jti": "j-1", "sub": "ada", "sid": "op-session-1",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        })
    }

    fn check(claims: Value) -> Result<LogoutRequest, Refusal> {
        let Value::Object(map) = claims else {
            panic!("an object")
        };
        check_claims(&map, ISSUER, CLIENT, NOW as u64)
    }

    type Change = dyn FnOnce(&mut Map<String, Value>);

    fn broken(change: impl FnOnce(&mut Map<String, Value>)) -> Result<LogoutRequest, Refusal> {
        let mut claims = good();
        change(claims.as_object_mut().expect("an object"));
        check(claims)
    }

    #[test]
    fn a_well_formed_token_names_the_session_and_when_its_jti_can_be_forgotten() {
        let request = check(good()).expect("valid");
        assert_eq!(request.subject.as_deref(), Some("ada"));
        assert_eq!(request.provider_sid.as_deref(), Some("op-session-1"));
        assert_eq!(request.jti, "j-1");
        assert_eq!(
            request.valid_until,
            (NOW + 115 + CLOCK_SKEW_SECS + 1) as u64
        );
        let with_list = broken(|c| {
            c.insert("aud".into(), json!(["other", CLIENT]));
        });
        assert!(
            with_list.is_ok(),
            "aud may be a list that contains the client"
        );
    }

    #[test]
    fn each_claim_rule_broken_alone_is_refused_with_its_reason() {
        let cases: Vec<(&str, Box<Change>)> = vec![
            (
                "iss",
                Box::new(|c| {
                    c.insert("iss".into(), json!("https://evil.example.com"));
                }),
            ),
            (
                "iss",
                Box::new(|c| {
                    c.remove("iss");
                }),
            ),
            (
                "aud",
                Box::new(|c| {
                    c.insert("aud".into(), json!("someone-else"));
                }),
            ),
            (
                "aud",
                Box::new(|c| {
                    c.remove("aud");
                }),
            ),
            (
                "iat",
                Box::new(|c| {
                    c.remove("iat");
                }),
            ),
            (
                "iat",
                Box::new(|c| {
                    c.insert("iat".into(), json!(NOW + 120));
                }),
            ),
            (
                "iat",
                Box::new(|c| {
                    c.insert("iat".into(), json!(NOW - 1000));
                }),
            ),
            (
                "iat",
                Box::new(|c| {
                    c.insert("iat".into(), json!(i64::MIN));
                }),
            ),
            (
                "exp",
                Box::new(|c| {
                    c.insert("exp".into(), json!(i64::MIN));
                }),
            ),
            (
                "exp",
                Box::new(|c| {
                    c.remove("exp");
                }),
            ),
            (
                "exp",
                Box::new(|c| {
                    c.insert("exp".into(), json!(NOW - 61));
                }),
            ),
            (
                "events",
                Box::new(|c| {
                    c.remove("events");
                }),
            ),
            (
                "events",
                Box::new(|c| {
                    c.insert(
                        "events".into(),
                        json!({"http://schemas.openid.net/event/other": {}}),
                    );
                }),
            ),
            (
                "events",
                Box::new(|c| {
                    c.insert("events".into(), json!({BACKCHANNEL_LOGOUT_EVENT: "yes"}));
                }),
            ),
            (
                "nonce",
                Box::new(|c| {
                    c.insert("nonce".into(), json!("n-1"));
                }),
            ),
            (
                "no_sub_or_sid",
                Box::new(|c| {
                    c.remove("sub");
                    c.remove("sid");
                }),
            ),
            (
                "sub",
                Box::new(|c| {
                    c.insert("sub".into(), json!(42));
                }),
            ),
            (
                "sid",
                Box::new(|c| {
                    c.insert("sid".into(), json!("x".repeat(256)));
                }),
            ),
            (
                "jti",
                Box::new(|c| {
                    c.remove("jti");
                }),
            ),
            (
                "jti",
                Box::new(|c| {
                    c.insert("jti".into(), json!(""));
                }),
            ),
        ];
        for (reason, change) in cases {
            assert_eq!(broken(change), Err(Refusal(reason)));
        }
    }

    #[test]
    fn sub_alone_or_sid_alone_is_enough() {
        assert!(
            broken(|c| {
                c.remove("sid");
            })
            .is_ok()
        );
        assert!(
            broken(|c| {
                c.remove("sub");
            })
            .is_ok()
        );
    }

    #[test]
    fn only_logout_or_generic_jwt_types_pass() {
        let header = |typ: Value| {
            let mut h = Map::new();
            h.insert("typ".into(), typ);
            check_typ(&h)
        };
        for ok in ["logout+jwt", "application/logout+jwt", "JWT", "Logout+JWT"] {
            assert!(header(json!(ok)).is_ok(), "{ok}");
        }
        for bad in ["at+jwt", "secevent+jwt", "id_token+jwt", ""] {
            assert!(header(json!(bad)).is_err(), "{bad}");
        }
        assert!(header(json!(1)).is_err());
        assert!(check_typ(&Map::new()).is_ok(), "no typ at all is allowed");
    }
}
