//! The identity headers of an allowed request, for the proxy to pass to the service:
//! `X-Doorman-User` (`sub`), `-Email`, `-Name` (percent-encoded UTF-8), `-Roles` (one
//! comma-joined line), `-Idp` (the provider's id) and `-Jwt-Assertion`, plus, when configured, Authelia's and
//! oauth2-proxy's names. An anonymous caller gets every header *empty*, so a proxy that sets
//! them from the answer overwrites whatever the client sent. Their total size is capped, so
//! the answer fits a proxy's header buffer. `IdentityCache` keeps the finished headers (the
//! signed assertion included) per token and audience for 30 s: a busy session costs one
//! signature and one encoding every 30 s, and each decision only clones the header values.
//! The cache is bounded in entries and in bytes, and makes room by dropping expired entries
//! first, then a few arbitrary ones, never by starting over (which would make every busy
//! session pay its signature again at once).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};

use axum::http::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::config::IdentityHeaderSets;
use crate::session::Claims;

/// Finished headers are reused this long (the assertion they carry lives 60 s).
const REUSE_SECS: u64 = 30;
/// Entries at most.
const CACHE_ENTRIES: usize = 10_000;
/// Bytes of cached headers at most (keys and values), whatever their number.
const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// Audiences longer than this are never cached (an origin is at most ~270 bytes).
pub const MAX_CACHED_AUDIENCE: usize = 512;

/// The identity headers may not take more than this, all together.
pub const MAX_IDENTITY_BYTES: usize = 8 * 1024;

/// What the headers say: `None` for an anonymous caller.
pub struct IdentityInput<'a> {
    pub claims: Option<&'a Claims>,
    /// The id of the provider the session came from (`local`, or `""` when anonymous).
    pub provider: &'a str,
    pub assertion: Option<&'a str>,
    /// The groups the route's policy names: what the group headers carry when all of the
    /// caller's would not fit.
    pub policy_groups: &'a [String],
}

/// The identity headers of one caller, and whether their groups had to be cut to the
/// policy's.
pub struct Built {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub truncated: bool,
}

/// What `percent_encode` leaves as it is: `A-Za-z0-9` and `-._~!$&'()*+,;=:@/` (RFC 3986's
/// unreserved characters, its sub-delimiters, `:`, `@` and `/`); every other byte, any
/// non-ASCII byte included, is encoded.
const KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

/// `text` with every byte outside `A-Za-z0-9-._~!$&'()*+,;=:@/` percent-encoded, so any
/// UTF-8 text is one valid header value that `decodeURIComponent` / `unquote` restores.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, KEPT).to_string()
}

/// A value as it is when it is plain visible ASCII, percent-encoded otherwise.
fn ascii_or_encoded(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_graphic()) {
        text.to_owned()
    } else {
        percent_encode(text)
    }
}

/// What a group header carries of one group: `percent_encode`, and `,` too (the separator).
const GROUP_KEPT: &AsciiSet = &KEPT.add(b',');

/// Groups on one line, comma-separated, each percent-encoded (a `,` inside one is `%2C`).
fn groups_line<'a>(groups: impl Iterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for group in groups {
        if !line.is_empty() {
            line.push(',');
        }
        line.extend(utf8_percent_encode(group, GROUP_KEPT));
    }
    line
}

/// The headers to send, or `Err(size)` when they would exceed `MAX_IDENTITY_BYTES` (not
/// counting the assertion, which carries every group, however many). When every group would
/// not fit, the group headers carry only those the policy names, and
/// `X-Doorman-Groups-Truncated: true` says so.
pub fn headers(sets: IdentityHeaderSets, identity: &IdentityInput<'_>) -> Result<Built, usize> {
    let all = named(sets, identity, false);
    let size = |out: &[(&'static str, String)]| -> usize {
        out.iter()
            .filter(|(k, _)| *k != "x-doorman-jwt-assertion")
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum()
    };
    let (out, truncated) = if size(&all) <= MAX_IDENTITY_BYTES {
        (all, false)
    } else {
        let cut = named(sets, identity, true);
        let cut_size = size(&cut);
        if cut_size > MAX_IDENTITY_BYTES {
            return Err(cut_size);
        }
        (cut, true)
    };
    let headers = out
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect();
    Ok(Built { headers, truncated })
}

/// The header names and values; with `cut`, the groups are only the policy's.
fn named(
    sets: IdentityHeaderSets,
    identity: &IdentityInput<'_>,
    cut: bool,
) -> Vec<(&'static str, String)> {
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
    let kept = |g: &str| !cut || identity.policy_groups.iter().any(|p| p == g);
    let groups = claims
        .map(|c| groups_line(c.groups().filter(|g| kept(g))))
        .unwrap_or_default();
    // Authelia's and oauth2-proxy's group headers: the groups, then doorman's roles that are
    // not also a group's name (a service that must tell them apart reads X-Doorman-*).
    let groups_and_roles = claims
        .map(|c| {
            let roles = c.roles().filter(|r| !c.in_group(r));
            groups_line(c.groups().filter(|g| kept(g)).chain(roles))
        })
        .unwrap_or_default();
    let truncated = if cut { "true" } else { "" };
    let assertion = identity.assertion.unwrap_or_default().to_owned();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if sets.doorman {
        out.extend([
            ("x-doorman-user", user.clone()),
            ("x-doorman-email", email.clone()),
            ("x-doorman-name", name.clone()),
            ("x-doorman-roles", roles),
            ("x-doorman-groups", groups),
            ("x-doorman-groups-truncated", truncated.to_owned()),
            ("x-doorman-idp", identity.provider.to_owned()),
            ("x-doorman-jwt-assertion", assertion),
        ]);
    }
    if sets.authelia {
        out.extend([
            ("remote-user", user.clone()),
            ("remote-email", email.clone()),
            ("remote-name", name),
            ("remote-groups", groups_and_roles.clone()),
        ]);
    }
    if sets.oauth2_proxy {
        out.extend([
            ("x-auth-request-user", user.clone()),
            ("x-auth-request-email", email),
            ("x-auth-request-preferred-username", user),
            ("x-auth-request-groups", groups_and_roles),
        ]);
    }
    out
}

pub type Headers = Arc<[(HeaderName, HeaderValue)]>;

struct Entry {
    jti: Box<str>,
    audience: Box<str>,
    /// The policy that judged (the groups it names shape a cut group header).
    policy: Box<str>,
    issued: u64,
    headers: Headers,
    /// What this entry holds, counted against `CACHE_BYTES`.
    bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<u64, Entry>,
    bytes: usize,
}

impl Entries {
    /// Drops entries until one of `bytes` fits: the expired ones at `now`, then (if that was
    /// not enough) arbitrary ones, a tenth of the cache at a time.
    fn make_room(&mut self, bytes: usize, now: u64) {
        let full = |e: &Self| e.map.len() >= CACHE_ENTRIES || e.bytes + bytes > CACHE_BYTES;
        if !full(self) {
            return;
        }
        let mut freed = 0;
        self.map.retain(|_, entry| {
            let live = now >= entry.issued && now < entry.issued + REUSE_SECS;
            if !live {
                freed += entry.bytes;
            }
            live
        });
        self.bytes -= freed;
        while full(self) && !self.map.is_empty() {
            let victims: Vec<u64> = self
                .map
                .keys()
                .take((self.map.len() / 10).max(1))
                .copied()
                .collect();
            for key in victims {
                if let Some(entry) = self.map.remove(&key) {
                    self.bytes -= entry.bytes;
                }
            }
        }
    }
}

/// The finished identity headers of recent decisions, by token (`jti`) and audience.
#[derive(Default)]
pub struct IdentityCache {
    entries: RwLock<Entries>,
    hasher: std::collections::hash_map::RandomState,
}

impl IdentityCache {
    fn key(&self, jti: &str, audience: &str, policy: &str) -> u64 {
        self.hasher.hash_one((jti, audience, policy))
    }

    /// The headers for `jti`, `audience` and `policy` issued less than 30 s ago, or those
    /// `build` makes (kept for next time); `Err(size)` when they are too large.
    pub fn get_or_build(
        &self,
        (jti, audience, policy): (&str, &str, &str),
        now: u64,
        build: impl FnOnce() -> Result<Vec<(HeaderName, HeaderValue)>, usize>,
    ) -> Result<Headers, usize> {
        if audience.len() > MAX_CACHED_AUDIENCE {
            return build().map(Into::into);
        }
        let key = self.key(jti, audience, policy);
        if let Some(entry) = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .get(&key)
            && &*entry.jti == jti
            && &*entry.audience == audience
            && &*entry.policy == policy
            && now >= entry.issued
            && now < entry.issued + REUSE_SECS
        {
            return Ok(entry.headers.clone());
        }
        let headers: Headers = build()?.into();
        let bytes = jti.len()
            + audience.len()
            + policy.len()
            + headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 32)
                .sum::<usize>()
            + 64;
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.make_room(bytes, now);
        let replaced = entries.map.insert(
            key,
            Entry {
                jti: jti.into(),
                audience: audience.into(),
                policy: policy.into(),
                issued: now,
                headers: headers.clone(),
                bytes,
            },
        );
        entries.bytes += bytes;
        if let Some(old) = replaced {
            entries.bytes -= old.bytes;
        }
        Ok(headers)
    }

    /// Entries and bytes held, for tests and diagnostics.
    pub fn size(&self) -> (usize, usize) {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        (entries.map.len(), entries.bytes)
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
    fn exactly_the_listed_ascii_characters_are_kept_and_every_other_byte_is_encoded() {
        for b in 0u8..=0x7f {
            let c = char::from(b).to_string();
            let kept = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
            let expected = if kept { c.clone() } else { format!("%{b:02X}") };
            assert_eq!(percent_encode(&c), expected, "{b:#04x}");
        }
        assert_eq!(percent_encode("ü€"), "%C3%BC%E2%82%AC");
    }

    fn built(value_len: usize) -> Result<Vec<(HeaderName, HeaderValue)>, usize> {
        let value = HeaderValue::from_str(&"v".repeat(value_len)).expect("value");
        Ok(vec![(HeaderName::from_static("x-doorman-user"), value)])
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_keeps_most_entries_when_full() {
        let cache = IdentityCache::default();
        for i in 0..3_000 {
            let audience = format!("https://h{i}.example.com");
            cache
                .get_or_build((&format!("jti-{i}"), &audience, "p"), 100, || built(4_000))
                .expect("small");
        }
        let (entries, bytes) = cache.size();
        assert!(bytes <= CACHE_BYTES, "{bytes} bytes");
        assert!(
            entries > 1_000,
            "room is made a little at a time: {entries} kept"
        );
        // A recent entry is still served from the cache (no rebuild).
        let mut rebuilt = false;
        cache
            .get_or_build(("jti-2999", "https://h2999.example.com", "p"), 101, || {
                rebuilt = true;
                built(4_000)
            })
            .expect("cached");
        assert!(!rebuilt);
    }

    #[test]
    fn expired_entries_make_room_first_and_long_audiences_are_never_kept() {
        let cache = IdentityCache::default();
        for i in 0..CACHE_ENTRIES {
            cache
                .get_or_build((&format!("old-{i}"), "https://a.example", "p"), 0, || {
                    built(8)
                })
                .expect("small");
        }
        cache
            .get_or_build(("new", "https://a.example", "p"), REUSE_SECS + 1, || {
                built(8)
            })
            .expect("small");
        assert_eq!(
            cache.size().0,
            1,
            "every expired entry left, the new one stayed"
        );
        let long = format!("https://{}.example", "a".repeat(MAX_CACHED_AUDIENCE));
        cache
            .get_or_build(("new", &long, "p"), REUSE_SECS + 1, || built(8))
            .expect("small");
        assert_eq!(cache.size().0, 1);
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
            &IdentityInput {
                claims: None,
                provider: "",
                assertion: None,
                policy_groups: &[],
            },
        )
        .expect("small")
        .headers;
        assert_eq!(headers.len(), 12);
        assert!(headers.iter().all(|(_, v)| v.is_empty()));
    }
}
