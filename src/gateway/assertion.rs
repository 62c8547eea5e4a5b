//! `X-Doorman-Jwt-Assertion`: who the caller is, signed for the service behind the gateway.
//! ES256 (P-256), `kid` = the key's RFC 7638 thumbprint, `iss` = `PUBLIC_URL`, `aud` = the
//! protected origin, valid 60 s. The keys come from `UPSTREAM_SIGNING_KEYS_FILE` (the first
//! signs, all are published) or, by default, one key derived from `SESSION_SECRET` with HKDF
//! under a label of its own (replicas agree with no set-up; it is never the HS256 key). The
//! public keys are served as a JWKS. The JWS is assembled here and signed with the key's
//! `p256` signing key, held ready from start-up: `jsonwebtoken`'s ES256 signer decodes its
//! PKCS#8 key and derives the public key again on every call, which doubled the cost of each
//! signature. (`identity::IdentityCache` reuses a signed assertion for 30 s, so a busy session
//! costs one signature every 30 s, not one per request.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::session::{Claims, GroupsJson, RolesJson};

/// An assertion is valid this long.
pub const ASSERTION_TTL_SECS: u64 = 60;
const DERIVATION_SALT: &[u8] = b"doorman/upstream-assertion/v1";

/// One P-256 key, ready to sign (and the encoded JWS header naming it), and its public JWK.
struct Key {
    signing: SigningKey,
    /// `base64url({"alg":"ES256","typ":"JWT","kid":…})`.
    header: String,
    kid: String,
    jwk: serde_json::Value,
}

impl Key {
    fn new(secret: p256::SecretKey) -> Self {
        let point = secret.public_key().to_encoded_point(false);
        let coordinate =
            |c: Option<&p256::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
        let (x, y) = (coordinate(point.x()), coordinate(point.y()));
        // RFC 7638: the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
            "kid": kid, "use": "sig", "alg": "ES256",
        });
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
        Self {
            signing: SigningKey::from(&secret),
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            kid,
            jwk,
        }
    }
}

/// The keys: the first signs, all are published.
pub struct Signer {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Signer {
    /// The one key derived from the session secret (HKDF-SHA256, its own salt and label).
    pub fn derived(session_secret: &[u8]) -> Self {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(DERIVATION_SALT), session_secret);
        // A random 32-byte string is a valid P-256 scalar with overwhelming probability;
        // the counter covers the rest.
        let secret = (0u8..=255)
            .find_map(|counter| {
                let mut bytes = [0u8; 32];
                hkdf.expand(
                    &[b"ES256 signing key ".as_slice(), &[counter]].concat(),
                    &mut bytes,
                )
                .ok()?;
                p256::SecretKey::from_slice(&bytes).ok()
            })
            .expect("one of 256 HKDF outputs is a valid P-256 scalar");
        Self::with_keys(vec![Key::new(secret)])
    }

    /// The keys of a PEM file (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, P-256 only).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (i, block) in pem.split("-----BEGIN ").skip(1).enumerate() {
            let text = format!("-----BEGIN {block}");
            let text = text.trim();
            let secret = if block.starts_with("PRIVATE KEY-----") {
                p256::SecretKey::from_pkcs8_pem(text).map_err(|e| e.to_string())
            } else if block.starts_with("EC PRIVATE KEY-----") {
                p256::SecretKey::from_sec1_pem(text).map_err(|e| e.to_string())
            } else {
                Err("not a private key block".to_owned())
            }
            .map_err(|e| format!("key {}: {e} (P-256 private keys only)", i + 1))?;
            keys.push(Key::new(secret));
        }
        if keys.is_empty() {
            return Err("no PEM private key in the file".into());
        }
        Ok(Self::with_keys(keys))
    }

    fn with_keys(keys: Vec<Key>) -> Self {
        Self { keys }
    }

    /// The key id that signs.
    pub fn kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// `{"keys":[…]}` with every public key.
    pub fn jwks(&self) -> serde_json::Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// An assertion of `claims` (from the provider `provider`, by id) for `audience`, issued
    /// by `issuer` at `now`. Should the claims ever fail to serialise (they cannot: strings
    /// and numbers), the assertion is empty, as for an anonymous caller, so a service that
    /// checks it refuses.
    pub fn sign(
        &self,
        claims: &Claims,
        provider: &str,
        issuer: &str,
        audience: &str,
        now: u64,
    ) -> String {
        let key = &self.keys[0];
        let payload = Payload {
            iss: issuer,
            aud: audience,
            sub: claims.sub(),
            email: claims.email(),
            email_verified: claims.email_verified,
            name: claims.name(),
            roles: claims.roles_json(),
            groups: claims.groups_json(),
            idp: claims.idp(),
            provider: (!provider.is_empty()).then_some(provider),
            sid: claims.sid(),
            jti: crate::random::token_id(),
            iat: now,
            nbf: now,
            exp: now + ASSERTION_TTL_SECS,
        };
        let Ok(json) = serde_json::to_vec(&payload) else {
            tracing::error!(kid = %key.kid, "the upstream assertion could not be serialised");
            return String::new();
        };
        let mut token = String::with_capacity(key.header.len() + json.len() * 4 / 3 + 100);
        token.push_str(&key.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(json, &mut token);
        let signature: Signature = key.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }
}

/// The assertion's claims.
#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    email: Option<&'a str>,
    email_verified: bool,
    name: Option<&'a str>,
    roles: RolesJson<'a>,
    /// Every group, however many: the one header that carries them all.
    groups: GroupsJson<'a>,
    idp: &'a str,
    /// The provider's id in doorman's configuration (`local` for a local account).
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    sid: Option<&'a str>,
    jti: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    #[test]
    fn the_derived_key_is_stable_per_secret_and_differs_between_secrets() {
        let a = Signer::derived(b"a secret of thirty-two bytes or more!!");
        let again = Signer::derived(b"a secret of thirty-two bytes or more!!");
        let b = Signer::derived(b"another secret of thirty-two bytes!!!!");
        assert_eq!(a.kid(), again.kid());
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 43, "a SHA-256 thumbprint in base64url");
        let jwks = a.jwks();
        assert_eq!(jwks["keys"][0]["kty"], "EC");
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        assert!(jwks["keys"][0].get("d").is_none(), "never the private part");
    }

    #[test]
    fn a_pem_file_gives_every_key_and_the_first_signs() {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let one = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let two = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = format!(
            "{}\n{}",
            one.to_pkcs8_pem(LineEnding::LF).expect("pem").as_str(),
            two.to_sec1_pem(LineEnding::LF).expect("pem").as_str()
        );
        let signer = Signer::from_pem(&pem).expect("two keys");
        assert_eq!(signer.jwks()["keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(signer.kid(), Key::new(one).kid);
        assert!(Signer::from_pem("").is_err());
        assert!(
            Signer::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
    }

    const ISSUER: &str = "https://doorman.example";
    const AUDIENCE: &str = "https://app.example";

    /// Claims as the gateway has them: a session token of doorman's, verified.
    fn claims(now: u64) -> Claims {
        use crate::session::{SessionClaims, SessionTokens};
        let secret = "assertion-test-secret-0123456789-abcdefghijklmnop";
        let cfg = crate::config::Config::from_lookup(|name| {
            (name == "SESSION_SECRET").then(|| secret.to_owned())
        })
        .expect("config");
        let tokens = SessionTokens::new(&cfg.session, ISSUER);
        let token = tokens
            .mint(&SessionClaims {
                iss: ISSUER.into(),
                aud: ISSUER.into(),
                sub: "user-1".into(),
                idp: "https://idp.example".into(),
                email: Some("ada@example.com".into()),
                email_verified: true,
                name: Some("Zoë Lovelace".into()),
                picture: Some("https://idp.example/p.png".into()),
                uid: Some(7),
                roles: vec!["admin".into(), "editor".into()],
                groups: vec!["sre".into(), "Platform, Admins".into()],
                gref: None,
                iat: now - 10,
                exp: now + 3600,
                nbf: None,
                auth_time: None,
                jti: "session-jti".into(),
                sid: Some("session-1".into()),
            })
            .expect("mint");
        tokens.verify(&token, now).expect("verify")
    }

    #[test]
    fn an_assertion_is_an_es256_jws_naming_its_key_with_exactly_the_documented_claims() {
        use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
        let pem = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .expect("pem");
        let signers = [
            Signer::derived(b"a secret of thirty-two bytes or more!!"),
            Signer::from_pem(&pem).expect("a key"),
        ];
        // The real time: `jsonwebtoken` checks `exp` against the clock.
        let now = jsonwebtoken::get_current_timestamp();
        for signer in signers {
            let token = signer.sign(&claims(now), "corp", ISSUER, AUDIENCE, now);
            let header = token.split('.').next().expect("a header");
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url"))
                    .expect("json");
            assert_eq!(
                header,
                json!({ "alg": "ES256", "typ": "JWT", "kid": signer.kid() })
            );
            let jwks: JwkSet = serde_json::from_value(signer.jwks()).expect("jwks");
            let jwk = jwks
                .find(signer.kid())
                .expect("the signing key is published");
            let mut validation = Validation::new(Algorithm::ES256);
            validation.set_audience(&[AUDIENCE]);
            validation.set_issuer(&[ISSUER]);
            validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
            let mut payload = jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_jwk(jwk).expect("key"),
                &validation,
            )
            .expect("the assertion verifies against the published key")
            .claims;
            let jti = payload["jti"].take();
            assert!(jti.as_str().is_some_and(|j| j.len() >= 16), "{jti}");
            assert_eq!(
                payload,
                json!({
                    "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1",
                    "email": "ada@example.com", "email_verified": true, "name": "Zoë Lovelace",
                    "roles": ["admin", "editor"], "groups": ["sre", "Platform, Admins"],
                    "idp": "https://idp.example", "provider": "corp", "sid": "session-1",
                    "jti": null, "iat": now, "nbf": now, "exp": now + ASSERTION_TTL_SECS,
                })
            );
        }
    }
}
