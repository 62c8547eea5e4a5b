//! RS256 signing for the development provider: its ID tokens (`jsonwebtoken`'s JWS, from a key
//! encoded once) and the matching public JWK. Tests also forge tokens with any header here.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub struct RsaSigner {
    kid: String,
    /// The private key in PKCS#1 form, as `jsonwebtoken` reads it.
    key: EncodingKey,
    /// `{"typ":"JWT","alg":"RS256","kid":…}`.
    header: Header,
    public_jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl RsaSigner {
    /// A fresh 2048-bit key; takes a fraction of a second, so call it off the async runtime.
    pub fn generate(kid: &str) -> anyhow::Result<Self> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
        let public_jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": b64(&private.n().to_bytes_be()),
            "e": b64(&private.e().to_bytes_be()),
        });
        Ok(Self {
            kid: kid.to_owned(),
            key: EncodingKey::from_rsa_der(private.to_pkcs1_der()?.as_bytes()),
            header: Header {
                kid: Some(kid.to_owned()),
                ..Header::new(Algorithm::RS256)
            },
            public_jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// A standard RS256 JWS of `claims` naming this key.
    pub fn try_sign(&self, claims: &Value) -> jsonwebtoken::errors::Result<String> {
        jsonwebtoken::encode(&self.header, claims, &self.key)
    }

    /// [`Self::try_sign`], for tests.
    ///
    /// # Panics
    /// If the signature fails, which a generated key does not.
    pub fn sign(&self, claims: &Value) -> String {
        self.try_sign(claims).expect("an RS256 signature")
    }

    /// Signs `claims` under `header` as given, whatever its `alg` says (RS256 is what this key
    /// does): for tests that forge tokens `jsonwebtoken::encode` would refuse to make.
    ///
    /// # Panics
    /// If the signature fails, which a generated key does not.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &self.key, Algorithm::RS256)
                .expect("an RS256 signature");
        format!("{signing_input}.{signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};

    #[test]
    fn an_id_token_is_an_rs256_jws_naming_the_key_that_verifies_against_its_jwk() {
        let signer = RsaSigner::generate("dev-test").expect("keygen");
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({ "iss": "http://localhost:8000", "sub": "dev-1", "exp": now + 60 });
        let token = signer.try_sign(&claims).expect("signed");
        let header = token.split('.').next().expect("a header");
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .expect("base64url"),
        )
        .expect("json");
        assert_eq!(
            header,
            json!({ "alg": "RS256", "typ": "JWT", "kid": "dev-test" })
        );
        let jwk: Jwk = serde_json::from_value(signer.public_jwk().clone()).expect("jwk");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let verified = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).expect("key"),
            &validation,
        )
        .expect("verifies");
        assert_eq!(verified.claims, claims);
        // A forged header is signed as given, and still by this key.
        let forged = signer.sign_with_header(&json!({ "alg": "RS256" }), &claims);
        assert!(
            jsonwebtoken::decode::<Value>(
                &forged,
                &DecodingKey::from_jwk(&jwk).expect("key"),
                &validation
            )
            .is_ok()
        );
    }
}
