//! The identity headers of an allowed request, for the proxy to pass to the service:
//! `X-Doorman-User` (`sub`), `-Email`, `-Name` (percent-encoded UTF-8), `-Roles` (one
//! comma-joined line) and `-Jwt-Assertion`, plus, when configured, Authelia's and
//! oauth2-proxy's names. An anonymous caller gets every header *empty*, so a proxy that sets
//! them from the answer overwrites whatever the client sent. Their total size is capped, so
//! the answer fits a proxy's header buffer.

use axum::http::{HeaderName, HeaderValue};

use crate::config::IdentityHeaderSets;
use crate::session::Claims;

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
