//! The identity headers of an allowed request, for the proxy to pass to the service:
//! `X-Doorman-User` (`sub`), `-Email`, `-Name` (percent-encoded UTF-8), `-Roles` (one
//! comma-joined line) and `-Jwt-Assertion`, plus, when configured, Authelia's and
//! oauth2-proxy's names. An anonymous caller gets every header *empty*, so a proxy that sets
//! them from the answer overwrites whatever the client sent. Their total size is capped, so
//! the answer fits a proxy's header buffer. `IdentityCache` keeps the finished headers (the
//! signed assertion included) per token and audience for 30 s: a busy session costs one
//! signature and one encoding every 30 s, and each decision only clones the header values.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};

use axum::http::{HeaderName, HeaderValue};

use crate::config::IdentityHeaderSets;
use crate::session::Claims;

/// Finished headers are reused this long (the assertion they carry lives 60 s).
const REUSE_SECS: u64 = 30;
/// Entries at most; past this the cache starts over.
const CACHE_ENTRIES: usize = 10_000;

/// The identity headers may not take more than this, all together.
pub const MAX_IDENTITY_BYTES: usize = 8 * 1024;

/// What the headers say: `None` for an anonymous caller.
pub struct Identity<'a> {
    pub claims: Option<&'a Claims>,
    pub assertion: Option<&'a str>,
}

/// `text` with every byte outside `A-Za-z0-9-._~!$&'()*+,;=:@/` percent-encoded, so any
/// UTF-8 text is one valid header value that `decodeURIComponent` / `unquote` restores.
pub fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// A value as it is when it is plain visible ASCII, percent-encoded otherwise.
fn ascii_or_encoded(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_graphic()) {
        text.to_owned()
    } else {
        percent_encode(text)
    }
}

/// The headers to send, or `Err(size)` when they would exceed `MAX_IDENTITY_BYTES`.
pub fn headers(
    sets: IdentityHeaderSets,
    identity: &Identity<'_>,
) -> Result<Vec<(HeaderName, HeaderValue)>, usize> {
    let claims = identity.claims;
    let user = claims
        .map(|c| ascii_or_encoded(c.sub()))
        .unwrap_or_default();
    let email = claims
        .and_then(|c| c.email())
        .map(ascii_or_encoded)
        .unwrap_or_default();
    let name = claims
        .and_then(|c| c.name())
        .map(percent_encode)
        .unwrap_or_default();
    let roles = claims
        .map(|c| c.roles_line().to_owned())
        .unwrap_or_default();
    let assertion = identity.assertion.unwrap_or_default().to_owned();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if sets.doorman {
        out.extend([
            ("x-doorman-user", user.clone()),
            ("x-doorman-email", email.clone()),
            ("x-doorman-name", name.clone()),
            ("x-doorman-roles", roles.clone()),
            ("x-doorman-jwt-assertion", assertion),
        ]);
    }
    if sets.authelia {
        out.extend([
            ("remote-user", user.clone()),
            ("remote-email", email.clone()),
            ("remote-name", name.clone()),
            ("remote-groups", roles.clone()),
        ]);
    }
    if sets.oauth2_proxy {
        out.extend([
            ("x-auth-request-user", user.clone()),
            ("x-auth-request-email", email),
            ("x-auth-request-preferred-username", user),
            ("x-auth-request-groups", roles),
        ]);
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    if size > MAX_IDENTITY_BYTES {
        return Err(size);
    }
    Ok(out
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect())
}

pub type Headers = Arc<[(HeaderName, HeaderValue)]>;

struct Entry {
    jti: Box<str>,
    audience: Box<str>,
    issued: u64,
    headers: Headers,
}

/// The finished identity headers of recent decisions, by token (`jti`) and audience.
#[derive(Default)]
pub struct IdentityCache {
    entries: RwLock<HashMap<u64, Entry>>,
    hasher: std::collections::hash_map::RandomState,
}

impl IdentityCache {
    fn key(&self, jti: &str, audience: &str) -> u64 {
        self.hasher.hash_one((jti, audience))
    }

    /// The headers for `jti` and `audience` issued less than 30 s ago, or those `build` makes
    /// (kept for next time); `Err(size)` when they are too large.
    pub fn get_or_build(
        &self,
        jti: &str,
        audience: &str,
        now: u64,
        build: impl FnOnce() -> Result<Vec<(HeaderName, HeaderValue)>, usize>,
    ) -> Result<Headers, usize> {
        let key = self.key(jti, audience);
        if let Some(entry) = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && &*entry.jti == jti
            && &*entry.audience == audience
            && now >= entry.issued
            && now < entry.issued + REUSE_SECS
        {
            return Ok(entry.headers.clone());
        }
        let headers: Headers = build()?.into();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                jti: jti.into(),
                audience: audience.into(),
                issued: now,
                headers: headers.clone(),
            },
        );
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_utf8_and_decode_back() {
        let encoded = percent_encode("Zoë O'Brien\r\nX-Evil: 1");
        assert_eq!(encoded, "Zo%C3%AB%20O'Brien%0D%0AX-Evil:%201");
        assert!(HeaderValue::from_str(&encoded).is_ok());
    }

    #[test]
    fn an_anonymous_caller_gets_every_header_empty() {
        let sets = IdentityHeaderSets {
            doorman: true,
            authelia: true,
            oauth2_proxy: false,
        };
        let headers = headers(
            sets,
            &Identity {
                claims: None,
                assertion: None,
            },
        )
        .expect("small");
        assert_eq!(headers.len(), 9);
        assert!(headers.iter().all(|(_, v)| v.is_empty()));
    }
}
