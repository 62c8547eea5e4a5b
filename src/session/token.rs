//! Minting and verifying the session JWT: HS256 pinned (`jws`), every registered claim
//! required, time checked against a `now` the caller passes so that tests need no clock.

use super::claims::{Claims, SessionClaims};
use super::jws::{self, Hs256Key};
use super::verified::Verified;
use crate::config::SessionConfig;
use crate::identity::Identity;

/// Tokens longer than this are refused before any parsing; a real one is well under 2 KiB and
/// the whole `Set-Cookie` must stay below the 4096 bytes browsers keep.
pub const MAX_TOKEN_BYTES: usize = 3072;

/// Clock skew tolerated on `iat` from other instances sharing the secret.
pub(super) const IAT_SKEW_SECS: u64 = 60;
/// The largest payload a token under `MAX_TOKEN_BYTES` can carry, decoded.
const MAX_PAYLOAD_BYTES: usize = MAX_TOKEN_BYTES / 4 * 3;

const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_PICTURE_CHARS: usize = 1024;
const MAX_SUBJECT_CHARS: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Well signed, but past its `exp`.
    #[error("token expired")]
    Expired,
    /// Anything else: forged, malformed, wrong issuer or audience, not yet valid, revoked.
    #[error("invalid token")]
    Invalid,
}

/// Mints and verifies session tokens with the current secret (and the previous one, for
/// verification only, during a rotation).
pub struct SessionTokens {
    current: Hs256Key,
    previous: Option<Hs256Key>,
    issuer: String,
    ttl_secs: u64,
    /// Tokens this instance already verified, on this thread.
    verified: Verified,
}

impl SessionTokens {
    /// Tokens issued by (and for) `issuer`, doorman's `PUBLIC_URL` origin.
    pub fn new(session: &SessionConfig, issuer: &str) -> Self {
        Self {
            current: Hs256Key::new(session.secret.expose()),
            previous: session.previous.as_ref().map(|s| Hs256Key::new(s.expose())),
            issuer: issuer.to_owned(),
            ttl_secs: session.ttl.as_secs(),
            verified: Verified::new(),
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Claims for a new session of `identity` starting at `now` (seconds since the epoch).
    /// Provider-supplied strings are bounded so the cookie always fits.
    pub fn claims_for(
        &self,
        identity: &Identity,
        now: u64,
        jti: String,
        sid: Option<String>,
    ) -> SessionClaims {
        let mut claims = SessionClaims {
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            sub: identity.subject.clone(),
            idp: identity.issuer.clone(),
            email: identity
                .email
                .clone()
                .filter(|e| e.chars().count() <= MAX_EMAIL_CHARS),
            email_verified: identity.email_verified,
            name: identity
                .name
                .as_deref()
                .map(|n| truncate(n, MAX_NAME_CHARS)),
            picture: identity
                .picture
                .clone()
                .filter(|p| p.len() <= MAX_PICTURE_CHARS),
            uid: identity.user_id,
            roles: identity.roles.clone(),
            groups: Vec::new(),
            gref: None,
            iat: now,
            exp: now + self.ttl_secs,
            nbf: None,
            auth_time: Some(now),
            jti,
            sid,
        };
        if super::groups::fit_in_token(&identity.groups) {
            claims.groups = identity.groups.clone();
        } else {
            claims.gref = Some(super::groups::digest(&identity.groups));
        }
        // Per-claim limits count characters, but what must fit is the encoded token: four-byte
        // characters and JSON escapes can still push it past MAX_TOKEN_BYTES, which `verify`
        // would refuse. Drop the display-only claims, least useful first, until it fits.
        let too_big = |c: &SessionClaims| !self.mint(c).is_ok_and(|t| t.len() <= MAX_TOKEN_BYTES);
        if too_big(&claims) {
            claims.picture = None;
        }
        if too_big(&claims) {
            claims.name = None;
        }
        if too_big(&claims) {
            claims.email = None;
        }
        claims
    }

    pub fn mint(&self, claims: &SessionClaims) -> Result<String, serde_json::Error> {
        Ok(self.current.sign(&serde_json::to_vec(claims)?))
    }

    /// Verifies `token` at `now`: shape and signature first (so a forged token is never told
    /// "expired"), then the claims, parsed once.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        if let Some(claims) = self.verified.get(token) {
            // Signed and well-formed already; its times are checked against this `now`.
            return self.check(claims, now);
        }
        let claims = self.verify_signed(token)?;
        let checked = self.check(claims, now)?;
        self.verified.put(token, &checked);
        Ok(checked)
    }

    /// The signature, then the payload parsed into claims.
    fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let parts = jws::split(token).ok_or(TokenError::Invalid)?;
        let input = parts.signing_input.as_bytes();
        let signed = self.current.verifies(input, &parts.signature)
            || self
                .previous
                .as_ref()
                .is_some_and(|key| key.verifies(input, &parts.signature));
        if !signed {
            return Err(TokenError::Invalid);
        }
        let mut buf = [0u8; MAX_PAYLOAD_BYTES];
        let payload = jws::decode_payload(parts.payload, &mut buf).ok_or(TokenError::Invalid)?;
        Claims::parse(payload).ok_or(TokenError::Invalid)
    }

    /// The claim checks, on claims whose signature is verified.
    fn check(&self, claims: Claims, now: u64) -> Result<Claims, TokenError> {
        if claims.iss() != self.issuer || claims.aud() != self.issuer {
            return Err(TokenError::Invalid);
        }
        if claims.sub().is_empty()
            || claims.sub().len() > MAX_SUBJECT_CHARS
            || claims.jti().is_empty()
        {
            return Err(TokenError::Invalid);
        }
        if claims.iat > now + IAT_SKEW_SECS || claims.nbf.is_some_and(|nbf| nbf > now) {
            return Err(TokenError::Invalid);
        }
        // We never mint a token that lives longer than the session lifetime; one that does
        // was made with a leaked key, so it is refused however well it is signed.
        if claims.exp.saturating_sub(claims.iat) > self.ttl_secs + IAT_SKEW_SECS {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The verification doorman used before `jws`: the jsonwebtoken crate with a pinned
    /// validation, then the same claim checks. Kept as the reference the property tests hold
    /// the one-pass verifier to.
    #[cfg(test)]
    pub(crate) fn verify_with_jsonwebtoken(
        &self,
        token: &str,
        now: u64,
        secret: &[u8],
    ) -> Result<SessionClaims, TokenError> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub", "jti"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<SessionClaims>(
            token,
            &DecodingKey::from_secret(secret),
            &validation,
        )
        .map_err(|_| TokenError::Invalid)?
        .claims;
        // The same checks, on an owned copy read back through the compact form.
        let payload = serde_json::to_vec(&claims).map_err(|_| TokenError::Invalid)?;
        let compact = Claims::parse(&payload).ok_or(TokenError::Invalid)?;
        self.check(compact, now).map(|c| SessionClaims::from(&c))
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::random::token_id;

    const NOW: u64 = 1_800_000_000;

    /// A fresh session token for `identity()`, issued at `NOW` by `t`.
    fn minted(t: &SessionTokens) -> String {
        t.mint(&t.claims_for(&identity(), NOW, token_id(), None))
            .expect("mint")
    }

    fn tokens(vars: &[(&str, &str)]) -> SessionTokens {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let cfg =
            Config::from_lookup(|n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
                .expect("valid config");
        SessionTokens::new(&cfg.session, cfg.public_url().origin())
    }

    const SECRET_A: &str = "a-first-long-secret-0123456789-abcdefghijklmnop";
    const SECRET_B: &str = "b-second-long-secret-9876543210-zyxwvutsrqponml";

    fn identity() -> Identity {
        Identity::example()
    }

    #[test]
    fn a_minted_token_verifies_with_sixty_minutes_of_life() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let claims = t.claims_for(&identity(), NOW, token_id(), None);
        let jwt = t.mint(&claims).expect("mint");
        let back = t.verify(&jwt, NOW + 10).expect("valid");
        assert_eq!(SessionClaims::from(&back), claims);
        assert_eq!(back.exp - back.iat, 3600);
        assert_eq!(back.iss(), "http://localhost:8000");
    }

    #[test]
    fn expiry_is_reported_only_for_a_genuine_token() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let jwt = minted(&t);
        assert_eq!(t.verify(&jwt, NOW + 3600), Err(TokenError::Expired));

        let other = tokens(&[("SESSION_SECRET", SECRET_B)]);
        assert_eq!(other.verify(&jwt, NOW + 3600), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_verified_before_is_still_refused_once_it_expires() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let jwt = minted(&t);
        assert!(t.verify(&jwt, NOW + 10).is_ok());
        assert!(t.verify(&jwt, NOW + 20).is_ok(), "the remembered token");
        assert_eq!(t.verify(&jwt, NOW + 3600), Err(TokenError::Expired));
        assert_eq!(
            t.verify(&jwt, NOW - 120),
            Err(TokenError::Invalid),
            "iat ahead"
        );
    }

    #[test]
    fn a_token_one_secret_verified_is_refused_under_another_on_the_same_thread() {
        let a = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let b = tokens(&[("SESSION_SECRET", SECRET_B)]);
        let jwt = minted(&a);
        assert!(a.verify(&jwt, NOW + 10).is_ok());
        assert_eq!(b.verify(&jwt, NOW + 10), Err(TokenError::Invalid));
    }

    #[test]
    fn a_changed_payload_under_a_remembered_signature_is_refused() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let jwt = minted(&t);
        assert!(t.verify(&jwt, NOW + 10).is_ok());
        // Same signature (so the same slot), one payload character changed.
        let at = jwt.find('.').expect("dot") + 5;
        let mut forged = jwt.clone().into_bytes();
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert_eq!(t.verify(&forged, NOW + 10), Err(TokenError::Invalid));
        assert!(t.verify(&jwt, NOW + 10).is_ok());
    }

    #[test]
    fn the_previous_secret_still_verifies_but_never_signs() {
        let old = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let jwt = minted(&old);
        let rotated = tokens(&[
            ("SESSION_SECRET", SECRET_B),
            ("SESSION_SECRET_PREVIOUS", SECRET_A),
        ]);
        assert!(rotated.verify(&jwt, NOW).is_ok());
        let fresh = minted(&rotated);
        assert_eq!(old.verify(&fresh, NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let claims = t.claims_for(&identity(), NOW, token_id(), None);
        let payload = serde_json::to_vec(&claims).expect("json");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let forged = format!("{}.{}.", b64.encode(header), b64.encode(&payload));
            assert_eq!(t.verify(&forged, NOW), Err(TokenError::Invalid), "{header}");
        }
    }

    #[test]
    fn tokens_from_the_future_or_not_yet_valid_are_refused() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let early = t.claims_for(&identity(), NOW + 600, token_id(), None);
        assert_eq!(
            t.verify(&t.mint(&early).expect("mint"), NOW),
            Err(TokenError::Invalid)
        );
        let mut nbf = t.claims_for(&identity(), NOW, token_id(), None);
        nbf.nbf = Some(NOW + 300);
        assert_eq!(
            t.verify(&t.mint(&nbf).expect("mint"), NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn oversized_provider_claims_are_bounded() {
        let t = tokens(&[("SESSION_SECRET", SECRET_A)]);
        let mut id = identity();
        id.name = Some("x".repeat(5000));
        id.picture = Some(format!("https://example.com/{}", "p".repeat(5000)));
        let claims = t.claims_for(&id, NOW, token_id(), None);
        assert_eq!(claims.name.as_deref().map(str::len), Some(MAX_NAME_CHARS));
        assert_eq!(claims.picture, None);
        assert!(t.mint(&claims).expect("mint").len() < MAX_TOKEN_BYTES);
    }
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_well_signed_token_that_lives_longer_than_a_session_is_refused() {
        let cfg = Config::from_lookup(|_| None).expect("defaults");
        let t = SessionTokens::new(&cfg.session, cfg.public_url().origin());
        let now = 1_800_000_000;
        let mut claims = t.claims_for(&Identity::example(), now, "j".into(), None);
        claims.exp = now + 100 * 365 * 86400;
        let jwt = t.mint(&claims).expect("mint");
        assert_eq!(t.verify(&jwt, now), Err(TokenError::Invalid));
        claims.exp = now + t.ttl_secs() + 60;
        assert!(
            t.verify(&t.mint(&claims).expect("mint"), now).is_ok(),
            "skew allowed"
        );
        claims.exp = now + t.ttl_secs() + 61;
        assert_eq!(
            t.verify(&t.mint(&claims).expect("mint"), now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn the_revocation_id_is_the_session_when_there_is_one() {
        let cfg = Config::from_lookup(|_| None).expect("defaults");
        let t = SessionTokens::new(&cfg.session, cfg.public_url().origin());
        let lone = t.claims_for(&Identity::example(), 1, "jti-1".into(), None);
        assert_eq!(lone.revocation_id(), "jti-1");
        let in_session = t.claims_for(
            &Identity::example(),
            1,
            "jti-2".into(),
            Some("sid-9".into()),
        );
        assert_eq!(in_session.revocation_id(), "sid-9");
    }
}
