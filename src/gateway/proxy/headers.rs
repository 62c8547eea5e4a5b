//! What a proxied request and its answer may carry, and what doorman adds: hop-by-hop headers
//! removed (RFC 9110 §7.6.1, and whatever `Connection` names), every identity header a client
//! sent dropped (also spelled with `_` or `.`, which some frameworks fold into `-`), doorman's
//! own cookies and Bearer token kept from the service, and the `X-Forwarded-*` set, appending
//! to a chain only when the peer is a trusted proxy.

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers meaningful for one connection only.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Identity header names doorman sets (any of its header sets): a client's copies never pass.
const IDENTITY: &[&str] = &[
    "remote-user",
    "remote-email",
    "remote-name",
    "remote-groups",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
];

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Removes the hop-by-hop headers, including those `Connection` names. One pass finds them
/// (usually there are none), so a clean request costs no removals.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let mut found: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    found.extend(
        headers
            .keys()
            .filter(|name| HOP_BY_HOP.contains(name))
            .cloned(),
    );
    for name in found {
        headers.remove(name);
    }
}

/// Whether `name` (lower-case, as `HeaderName` keeps it) is (a spelling of) an identity
/// header: `_` and `.` count as `-`.
fn is_identity(name: &str) -> bool {
    let folds = |name: &[u8], into: &[u8]| {
        name.len() == into.len()
            && name
                .iter()
                .zip(into)
                .all(|(&a, &b)| a == b || (matches!(a, b'_' | b'.') && b == b'-'))
    };
    let name = name.as_bytes();
    const PREFIX: &[u8] = b"x-doorman-";
    (name.len() >= PREFIX.len() && folds(&name[..PREFIX.len()], PREFIX))
        || IDENTITY.iter().any(|id| folds(name, id.as_bytes()))
}

/// Drops every identity header a client sent, whatever its spelling.
pub fn remove_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_identity(name.as_str()))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    headers.remove(FORWARDED);
}

/// Whether a cookie name is doorman's (the session, or a sign-in attempt).
pub fn is_doormans_cookie(name: &str) -> bool {
    let bare = name
        .strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
        .unwrap_or(name);
    bare == "access_token" || bare.starts_with("doorman_flow_")
}

/// The `Cookie` header without doorman's own cookies (removed when nothing else is left).
pub fn remove_doormans_cookies(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_doormans_cookie(pair.split('=').next().unwrap_or("").trim()))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

/// Where the request came from, for the `X-Forwarded-*` headers.
pub struct Forwarded<'a> {
    /// The TCP peer.
    pub peer: std::net::IpAddr,
    /// Whether the peer is one of `TRUSTED_PROXIES` (its `X-Forwarded-*` are kept and added to).
    pub trusted: bool,
    /// The scheme to report when no trusted proxy said.
    pub scheme: &'a str,
    /// The client's `Host`.
    pub host: Option<HeaderValue>,
    /// The prefix removed from the path (`strip_prefix`).
    pub prefix: Option<&'a str>,
}

/// Sets `X-Forwarded-For`, `-Proto`, `-Host` and `-Prefix`.
pub fn set_forwarded(headers: &mut HeaderMap, from: &Forwarded<'_>) {
    let peer = from.peer.to_string();
    let chain = if from.trusted {
        let earlier: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if earlier.is_empty() {
            peer
        } else {
            format!("{}, {peer}", earlier.join(", "))
        }
    } else {
        for name in [X_FORWARDED_PROTO, X_FORWARDED_HOST, X_FORWARDED_PREFIX] {
            headers.remove(name);
        }
        peer
    };
    headers.remove(&X_FORWARDED_FOR);
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_str(from.scheme).unwrap_or(HeaderValue::from_static("http")),
        );
    }
    if !headers.contains_key(&X_FORWARDED_HOST)
        && let Some(host) = &from.host
    {
        headers.insert(X_FORWARDED_HOST, host.clone());
    }
    if let Some(prefix) = from.prefix
        && let Ok(value) = HeaderValue::from_str(prefix)
    {
        headers.insert(X_FORWARDED_PREFIX, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn identity_headers_are_dropped_in_every_spelling() {
        let mut h = map(&[
            ("x-doorman-user", "mallory"),
            ("x_doorman_user", "mallory"),
            ("X.Doorman.Roles", "admin"),
            ("remote_user", "mallory"),
            ("x-auth-request-email", "m@evil"),
            ("forwarded", "for=1.2.3.4"),
            ("x-doormanish", "kept"),
        ]);
        remove_identity(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-doormanish"));
    }

    #[test]
    fn doormans_cookies_leave_the_cookie_header_and_others_stay() {
        let mut h = map(&[(
            "cookie",
            "theme=dark; access_token=jwt; __Host-doorman_flow_ab=x; lang=en",
        )]);
        remove_doormans_cookies(&mut h);
        assert_eq!(h[header::COOKIE], "theme=dark; lang=en");
        let mut only = map(&[("cookie", "__Secure-access_token=jwt")]);
        remove_doormans_cookies(&mut only);
        assert!(!only.contains_key(header::COOKIE));
    }

    #[test]
    fn the_forwarded_chain_is_extended_only_for_a_trusted_peer() {
        let mut untrusted = map(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-host", "evil")]);
        set_forwarded(
            &mut untrusted,
            &Forwarded {
                peer: "203.0.113.9".parse().expect("ip"),
                trusted: false,
                scheme: "https",
                host: Some(HeaderValue::from_static("app.example.com")),
                prefix: Some("/grafana"),
            },
        );
        assert_eq!(untrusted["x-forwarded-for"], "203.0.113.9");
        assert_eq!(untrusted["x-forwarded-host"], "app.example.com");
        assert_eq!(untrusted["x-forwarded-proto"], "https");
        assert_eq!(untrusted["x-forwarded-prefix"], "/grafana");
        let mut trusted = map(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        set_forwarded(
            &mut trusted,
            &Forwarded {
                peer: "10.0.0.2".parse().expect("ip"),
                trusted: true,
                scheme: "http",
                host: None,
                prefix: None,
            },
        );
        assert_eq!(trusted["x-forwarded-for"], "198.51.100.7, 10.0.0.2");
        assert_eq!(trusted["x-forwarded-proto"], "https");
    }
}
