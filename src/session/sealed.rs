//! Sealing what the store keeps for a session but must not hold in the clear (the provider's
//! ID token, sent back as `id_token_hint` at sign-out): AES-256-GCM under a key derived from
//! `SESSION_SECRET` (HKDF-SHA256, its own salt and label, so it is no other key of doorman's),
//! a fresh 96-bit nonce each time, and the session id as associated data, so a sealed value
//! moved to another session's row does not open. A database dump alone reveals none of it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::Sha256;

const SALT: &[u8] = b"doorman sealed session values v1";
/// The label of the key that seals the ID tokens sessions keep for `id_token_hint`.
pub const ID_TOKEN_HINT: &str = "id_token_hint";
/// The label of the key that seals the provider's refresh tokens (`OIDC_REFRESH`).
pub const PROVIDER_REFRESH_TOKEN: &str = "provider_refresh_token";
const NONCE_LEN: usize = 12;

/// Seals and opens values bound to one session id.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The key for values labelled `label` (each kind of value has its own).
    pub fn derived(session_secret: &[u8], label: &str) -> Self {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(SALT), session_secret);
        let mut key = [0u8; 32];
        hkdf.expand(label.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// `value`, sealed for session `sid`: base64url of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, sid: &str, value: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: sid.as_bytes(),
                },
            )
            .expect("AES-GCM seals any value shorter than 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The value sealed for `sid`, or `None` if `sealed` was not sealed by this key for it.
    pub fn open(&self, sid: &str, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed)
            .ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::from(<[u8; NONCE_LEN]>::try_from(nonce).ok()?);
        let opened = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: sid.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(opened).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sealed_value_opens_for_its_session_only() {
        let sealer = Sealer::derived(SECRET, "id_token_hint");
        let sealed = sealer.seal("sid-1", "eyJhbGciOi.payload.sig");
        assert!(!sealed.contains("payload"), "{sealed}");
        assert_eq!(
            sealer.open("sid-1", &sealed).as_deref(),
            Some("eyJhbGciOi.payload.sig")
        );
        assert_eq!(sealer.open("sid-2", &sealed), None);
    }

    #[test]
    fn each_seal_differs_and_another_label_or_secret_cannot_open_it() {
        let sealer = Sealer::derived(SECRET, "id_token_hint");
        let a = sealer.seal("s", "v");
        assert_ne!(a, sealer.seal("s", "v"), "a fresh nonce each time");
        assert_eq!(Sealer::derived(SECRET, "refresh_token").open("s", &a), None);
        let other = Sealer::derived(
            b"another secret, just as long, 0123456789abcdef",
            "id_token_hint",
        );
        assert_eq!(other.open("s", &a), None);
    }

    #[test]
    fn tampered_or_malformed_values_do_not_open() {
        let sealer = Sealer::derived(SECRET, "x");
        let sealed = sealer.seal("s", "value");
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&sealed)
            .expect("base64url");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(sealer.open("s", &tampered), None);
        assert_eq!(sealer.open("s", "not base64!"), None);
        assert_eq!(sealer.open("s", "AAAA"), None);
        assert_eq!(sealer.open("s", ""), None);
    }
}
