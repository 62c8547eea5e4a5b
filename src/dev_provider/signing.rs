//! RS256 signing for the development provider: a compact JWS and the matching public JWK.

use base64::Engine;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::Sha256;

pub struct RsaSigner {
    kid: String,
    key: SigningKey<Sha256>,
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
            key: SigningKey::<Sha256>::new(private),
            public_jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// Signs `claims` under `header` (whose `alg` the caller sets; RS256 is what this key does).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.key.sign(signing_input.as_bytes()).to_vec();
        format!("{signing_input}.{}", b64(&signature))
    }

    /// A standard RS256 JWS naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}
