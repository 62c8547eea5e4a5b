//! A per-thread memo of session tokens whose signature and claims were already checked, so a
//! caller's next request costs one comparison instead of an HMAC, a base64 decode and a JSON
//! parse (most of the work of `/api/user` and of a gateway decision). Only what cannot change
//! is remembered: `SessionTokens::verify` still checks the times on every hit, and the
//! revocation set is asked after it as before. Only tokens that verified are stored, so a
//! flood of forged ones evicts nothing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::claims::Claims;

/// Entries per thread: a power of two, each about one token and its claims (~1 KiB).
const SLOTS: usize = 128;

/// Owners are never reused, so an entry made under one secret is never found under another.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

struct Entry {
    owner: u64,
    token: Box<[u8]>,
    claims: Claims,
}

thread_local! {
    static MEMO: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// One `SessionTokens`' share of the memo: what it verified, apart from any other instance's
/// (another secret, another issuer: the tests build many in one thread).
pub(super) struct Verified {
    owner: u64,
}

impl Verified {
    pub(super) fn new() -> Self {
        Self {
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The claims of `token`, if this instance verified exactly this token on this thread.
    pub(super) fn get(&self, token: &str) -> Option<Claims> {
        MEMO.with(|memo| {
            let memo = memo.try_borrow().ok()?;
            let entry = memo.get(slot(token.as_bytes()))?.as_ref()?;
            (entry.owner == self.owner && same(&entry.token, token.as_bytes()))
                .then(|| entry.claims.clone())
        })
    }

    /// Remembers that `token` verified with `claims` (replacing whatever shared its slot).
    pub(super) fn put(&self, token: &str, claims: &Claims) {
        MEMO.with(|memo| {
            let Ok(mut memo) = memo.try_borrow_mut() else {
                return;
            };
            if memo.is_empty() {
                memo.resize_with(SLOTS, || None);
            }
            memo[slot(token.as_bytes())] = Some(Entry {
                owner: self.owner,
                token: token.as_bytes().into(),
                claims: claims.clone(),
            });
        });
    }
}

/// The slot of a token: from the end of its signature, which is uniformly spread for tokens
/// we signed (a forger choosing it only picks which slot their own lookups miss in).
fn slot(token: &[u8]) -> usize {
    let mut tail = [0u8; 8];
    let n = token.len().min(8);
    tail[..n].copy_from_slice(&token[token.len() - n..]);
    let mixed = u64::from_le_bytes(tail).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - SLOTS.trailing_zeros())) as usize
}

/// Whether `a` and `b` are equal, in a time that depends on their length only: how much of a
/// remembered token a guess matches is never told by how long the answer takes.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_sees_every_byte_and_the_length() {
        let token = b"header.payload.signature-with-a-tail";
        assert!(same(token, token));
        for i in 0..token.len() {
            let mut other = token.to_vec();
            other[i] ^= 1;
            assert!(!same(token, &other), "a difference at byte {i} was missed");
        }
        assert!(!same(token, &token[..token.len() - 1]));
        assert!(same(b"", b""));
    }

    #[test]
    fn slots_stay_in_range_for_any_length() {
        for len in 0..20 {
            let token = vec![b'x'; len];
            assert!(slot(&token) < SLOTS);
        }
    }
}
