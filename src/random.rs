//! Random identifiers and secrets. A per-thread CSPRNG (seeded from the OS) serves them, so
//! minting a token or an id costs no system call.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use rand::RngCore;

/// The length of every [`token_id`]: the longest id a revocation can name.
pub const TOKEN_ID_LEN: usize = 32;

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

/// The longest request id kept from a trusted proxy (a UUID is 36, nginx's `$request_id` 32).
const REQUEST_ID_MAX: usize = 64;

/// A request id. Minted here: 16 hex characters, a random per-process prefix and a counter,
/// so ids are unique across restarts and replicas without a random draw per request. Or given
/// by a trusted proxy (`X-Request-Id`). `Copy`, no heap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; REQUEST_ID_MAX],
}

impl RequestId {
    pub fn next() -> Self {
        static PREFIX: OnceLock<u32> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| rand::thread_rng().next_u32());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let value = (u64::from(prefix) << 32) ^ n;
        let mut bytes = [0u8; REQUEST_ID_MAX];
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, slot) in bytes[..16].iter_mut().enumerate() {
            let shift = 60 - 4 * i;
            *slot = DIGITS[((value >> shift) & 0xf) as usize];
        }
        Self { len: 16, bytes }
    }

    /// The id outside any request (unit tests): `-`.
    pub const fn none() -> Self {
        let mut bytes = [0u8; REQUEST_ID_MAX];
        bytes[0] = b'-';
        Self { len: 1, bytes }
    }

    /// An id given by a trusted proxy: 1 to 64 characters of `[A-Za-z0-9._-]`, else none (so
    /// it is safe in a header, a log line and a page as it is).
    pub fn parse(raw: &[u8]) -> Option<Self> {
        if raw.is_empty()
            || raw.len() > REQUEST_ID_MAX
            || !raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return None;
        }
        let mut bytes = [0u8; REQUEST_ID_MAX];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("-")
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
        assert_eq!(a.len(), TOKEN_ID_LEN);
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
        assert_eq!(
            RequestId::parse(b"0d9e3a4c-5b6f-4e7a-8c9d-1e2f3a4b5c6d").map(|r| r.as_str().len()),
            Some(36)
        );
        assert!(RequestId::parse(&[b'a'; 65]).is_none());
    }
}
