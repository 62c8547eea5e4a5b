//! doorman's own compact JWS, HS256 only, minted and verified here in one pass: the header
//! must be one of the two exact encodings of `{"alg":"HS256","typ":"JWT"}` (so `alg`, `kid`,
//! `jku`, `crit` and every other header trick are refused by construction), the signature
//! must decode to exactly 32 bytes and match in constant time, and only then is the payload
//! decoded (into the caller's buffer, no allocation).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `{"alg":"HS256","typ":"JWT"}`, what doorman mints.
pub(super) const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/// `{"typ":"JWT","alg":"HS256"}`, the same header as the jsonwebtoken crate orders it.
const HEADER_TYP_FIRST: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";
/// A 32-byte MAC in base64url without padding.
const SIGNATURE_CHARS: usize = 43;

/// An HS256 key, keyed once (the HMAC key schedule is not redone per token).
#[derive(Clone)]
pub(super) struct Hs256Key(Hmac<Sha256>);

impl Hs256Key {
    pub(super) fn new(secret: &[u8]) -> Self {
        Self(Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length"))
    }

    /// `HEADER.base64url(payload).signature` for a JSON payload.
    pub(super) fn sign(&self, payload: &[u8]) -> String {
        let mut token =
            String::with_capacity(HEADER.len() + 2 + payload.len() * 4 / 3 + 4 + SIGNATURE_CHARS);
        token.push_str(HEADER);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let mut mac = self.0.clone();
        mac.update(token.as_bytes());
        let signature = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// Whether `signature` is this key's MAC over `signing_input`, compared in constant time.
    pub(super) fn verifies(&self, signing_input: &[u8], signature: &[u8; 32]) -> bool {
        let mut mac = self.0.clone();
        mac.update(signing_input);
        mac.verify_slice(signature).is_ok()
    }
}

/// A token split into what is signed, the payload (still encoded) and the signature.
pub(super) struct Parts<'t> {
    pub signing_input: &'t str,
    pub payload: &'t str,
    pub signature: [u8; 32],
}

/// Splits `token` if its shape is exactly doorman's: the fixed header, a payload, and a
/// 32-byte signature. Anything else is `None`.
pub(super) fn split(token: &str) -> Option<Parts<'_>> {
    let (signing_input, signature_b64) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    if header != HEADER && header != HEADER_TYP_FIRST {
        return None;
    }
    if payload.is_empty() || signature_b64.len() != SIGNATURE_CHARS {
        return None;
    }
    let mut signature = [0u8; 32];
    let written = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature)
        .ok()?;
    (written == 32).then_some(Parts {
        signing_input,
        payload,
        signature,
    })
}

/// Decodes a (verified) payload into `buf`; `None` if it is not canonical base64url or does
/// not fit.
pub(super) fn decode_payload<'b>(payload: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    if payload.len() / 4 * 3 + 3 > buf.len() {
        return None;
    }
    let written = URL_SAFE_NO_PAD.decode_slice(payload, buf).ok()?;
    Some(&buf[..written])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_constants_are_what_they_claim() {
        let decode =
            |h: &str| String::from_utf8(URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("utf8");
        assert_eq!(decode(HEADER), r#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(decode(HEADER_TYP_FIRST), r#"{"typ":"JWT","alg":"HS256"}"#);
        let jsonwebtoken = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({"a": 1}),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .expect("encode");
        assert!(
            jsonwebtoken.starts_with(HEADER_TYP_FIRST) || jsonwebtoken.starts_with(HEADER),
            "a jsonwebtoken upgrade changed its header: {jsonwebtoken}"
        );
    }

    #[test]
    fn a_signed_payload_splits_verifies_and_decodes() {
        let key = Hs256Key::new(b"a key of some length");
        let token = key.sign(br#"{"sub":"x"}"#);
        let parts = split(&token).expect("doorman's shape");
        assert!(key.verifies(parts.signing_input.as_bytes(), &parts.signature));
        assert!(
            !Hs256Key::new(b"another key")
                .verifies(parts.signing_input.as_bytes(), &parts.signature)
        );
        let mut buf = [0u8; 64];
        assert_eq!(
            decode_payload(parts.payload, &mut buf),
            Some(&br#"{"sub":"x"}"#[..])
        );
    }

    #[test]
    fn every_other_shape_is_refused_before_any_mac() {
        let key = Hs256Key::new(b"k");
        let token = key.sign(b"{}");
        let (_, rest) = token.split_once('.').expect("dots");
        let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        let kid = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT","kid":"x"}"#)
        );
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            &none,
            &kid,
            &format!("{token}A"),
            &token[..token.len() - 1],
            &format!("{}.e30.{}", HEADER, "=".repeat(43)),
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }
}
