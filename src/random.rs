//! Random identifiers and secrets. A per-thread CSPRNG (seeded from the OS) serves them, so
//! minting a token or an id costs no system call.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use rand::RngCore;

/// 128 random bits as 32 lower-case hex characters: token ids (`jti`), session ids (`sid`),
/// one-time codes.
pub fn token_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// 256 random bits, base64url without padding: refresh tokens and other bearer secrets.
pub fn secret_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A request id: 16 hex characters, a random per-process prefix and a counter, so ids are
/// unique across restarts and replicas without a random draw per request. `Copy`, no heap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

impl RequestId {
    pub fn next() -> Self {
        static PREFIX: OnceLock<u32> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| rand::thread_rng().next_u32());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let value = (u64::from(prefix) << 32) ^ n;
        let mut out = [0u8; 16];
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 60 - 4 * i;
            *slot = DIGITS[((value >> shift) & 0xf) as usize];
        }
        Self(out)
    }

    /// The id outside any request (unit tests): `-`.
    pub const fn none() -> Self {
        let mut out = [0u8; 16];
        out[0] = b'-';
        Self(out)
    }

    /// An id given by a trusted proxy: 1 to 16 characters of `[A-Za-z0-9_-]`, else none.
    pub fn parse(raw: &[u8]) -> Option<Self> {
        if raw.is_empty()
            || raw.len() > 16
            || !raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return None;
        }
        let mut out = [b'-'; 16];
        out[..raw.len()].copy_from_slice(raw);
        let len = raw.len();
        // Keep the given length: pad marker bytes are trimmed by `as_str`.
        if len < 16 {
            out[len..].fill(0);
        }
        Some(Self(out))
    }

    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|b| *b == 0).unwrap_or(16);
        std::str::from_utf8(&self.0[..end]).unwrap_or("-")
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_128_bit_hex_and_differ() {
        let a = token_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, token_id());
    }

    #[test]
    fn request_ids_are_sixteen_hex_characters_and_unique() {
        let a = RequestId::next();
        let b = RequestId::next();
        assert_eq!(a.as_str().len(), 16);
        assert_ne!(a, b);
    }

    #[test]
    fn an_incoming_request_id_is_kept_only_when_well_formed() {
        assert_eq!(
            RequestId::parse(b"abc-123").map(|r| r.as_str().to_owned()),
            Some("abc-123".into())
        );
        assert!(RequestId::parse(b"").is_none());
        assert!(RequestId::parse(b"has space").is_none());
        assert!(RequestId::parse(&[b'a'; 17]).is_none());
    }
}
