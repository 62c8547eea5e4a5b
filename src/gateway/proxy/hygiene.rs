//! What a proxied request and its answer may carry, and what doorman adds: hop-by-hop headers
//! removed (RFC 9110 §7.6.1, and whatever `Connection` names), every identity or trust header
//! a client sent dropped (also spelled with `_` or `.`, which some frameworks fold into `-`),
//! doorman's own cookies and any Bearer credential kept from the service, and the
//! `X-Forwarded-*` and `X-Real-IP` set, appending to a chain only when the peer is a trusted
//! proxy. On the way back, a service cannot set doorman's own cookies.

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::gateway::passthrough::{app_cookie, is_doormans_cookie};
use crate::session::is_bearer;

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

/// Identity and trust header names a client's copies of never pass: those doorman sets (any
/// of its header sets), the names other authenticating proxies give their upstreams
/// (oauth2-proxy's `X-Forwarded-*` user headers, Apache's and Grafana's defaults), and the
/// names some frameworks re-route by (Symfony, IIS).
const IDENTITY: &[&str] = &[
    "remote-user",
    "remote-email",
    "remote-name",
    "remote-groups",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
    "x-auth-request-access-token",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-remote-user",
    "x-original-url",
    "x-rewrite-url",
];

/// Name prefixes dropped the same way: doorman's own, and Grafana's `X-WEBAUTH-*`.
const IDENTITY_PREFIXES: &[&str] = &["x-doorman-", "x-webauth-"];

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// Forwarding headers only a trusted proxy may have set; an untrusted client's are dropped.
const TRUSTED_ONLY: [HeaderName; 6] = [
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    X_FORWARDED_PREFIX,
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-ssl"),
];

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
    IDENTITY_PREFIXES.iter().any(|prefix| {
        let prefix = prefix.as_bytes();
        name.len() >= prefix.len() && folds(&name[..prefix.len()], prefix)
    }) || IDENTITY.iter().any(|id| folds(name, id.as_bytes()))
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

/// Drops the headers an operator listed for a route (`strip_headers`, lower-case).
pub fn remove_named(headers: &mut HeaderMap, names: &[String]) {
    for name in names {
        headers.remove(name.as_str());
    }
}

/// Drops an `Authorization` that is a Bearer credential, in any spelling (`is_bearer`): a
/// doorman token never reaches a service, whatever authenticated the request. Other schemes
/// (Basic for the service itself) pass.
pub fn remove_bearer(headers: &mut HeaderMap) {
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| is_bearer(v.as_bytes()))
    {
        headers.remove(header::AUTHORIZATION);
    }
}

/// Cleans an upstream's answer: its hop-by-hop headers (not on a `101`, whose `Upgrade` the
/// client needs), a `Content-Length` beside `Transfer-Encoding` (the body is sent as decoded,
/// so that length would cut it short), and `Set-Cookie` lines for doorman's own cookies.
pub fn clean_response(headers: &mut HeaderMap, switching: bool) -> super::Answered {
    if !switching {
        if headers.contains_key(header::TRANSFER_ENCODING) {
            headers.remove(header::CONTENT_LENGTH);
        }
        remove_hop_by_hop(headers);
    }
    let names_doormans = |v: &HeaderValue| {
        let text = String::from_utf8_lossy(v.as_bytes());
        let name = text.split(['=', ';']).next().unwrap_or("").trim();
        is_doormans_cookie(name)
    };
    let dropped = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| names_doormans(v))
        .count();
    if dropped > 0 {
        let kept: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter(|v| !names_doormans(v))
            .cloned()
            .collect();
        headers.remove(header::SET_COOKIE);
        for value in kept {
            headers.append(header::SET_COOKIE, value);
        }
    }
    super::Answered {
        cookies_dropped: dropped,
    }
}

/// The `Cookie` header without doorman's own cookies (removed when nothing else is left):
/// the same rule, and the same code, as forward-auth's `X-Doorman-Cookie`.
pub fn remove_doormans_cookies(headers: &mut HeaderMap) {
    let kept = app_cookie(headers);
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        headers.insert(header::COOKIE, kept);
    }
}

/// Where the request came from, for the `X-Forwarded-*` headers.
pub struct Forwarded<'a> {
    /// The TCP peer; `None` when not known (the router called in-process): then the service
    /// gets no `X-Forwarded-For` and no `X-Real-IP` rather than an invented address.
    pub peer: Option<std::net::IpAddr>,
    /// The client's address (`X-Real-IP`): the peer, or what a trusted proxy's chain says.
    pub client: Option<std::net::IpAddr>,
    /// Whether the peer is one of `TRUSTED_PROXIES` (its `X-Forwarded-*` are kept and added to).
    pub trusted: bool,
    /// The scheme to report when no trusted proxy said.
    pub scheme: &'a str,
    /// The client's `Host`.
    pub host: Option<HeaderValue>,
    /// The prefix removed from the path (`strip_prefix`).
    pub prefix: Option<&'a str>,
}

/// Sets `X-Forwarded-For`, `-Proto`, `-Host`, `-Prefix` and `X-Real-IP`.
pub fn set_forwarded(headers: &mut HeaderMap, from: &Forwarded<'_>) {
    let chain = match (from.trusted, from.peer) {
        (true, Some(peer)) => {
            let earlier: Vec<&str> = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if earlier.is_empty() {
                Some(peer.to_string())
            } else {
                Some(format!("{}, {peer}", earlier.join(", ")))
            }
        }
        (_, peer) => {
            for name in TRUSTED_ONLY {
                headers.remove(name);
            }
            peer.map(|p| p.to_string())
        }
    };
    headers.remove(&X_FORWARDED_FOR);
    headers.remove(&X_REAL_IP);
    if let Some(value) = chain.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if let Some(value) = from
        .client
        .and_then(|c| HeaderValue::from_str(&c.to_string()).ok())
    {
        headers.insert(X_REAL_IP, value);
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
        let mut untrusted = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil"),
            ("x-real-ip", "10.0.0.1"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-server", "evil"),
            ("x-forwarded-ssl", "on"),
        ]);
        set_forwarded(
            &mut untrusted,
            &Forwarded {
                peer: Some("203.0.113.9".parse().expect("ip")),
                client: Some("203.0.113.9".parse().expect("ip")),
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
        assert_eq!(untrusted["x-real-ip"], "203.0.113.9");
        for name in ["x-forwarded-port", "x-forwarded-server", "x-forwarded-ssl"] {
            assert!(!untrusted.contains_key(name), "{name}");
        }
        let mut trusted = map(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        set_forwarded(
            &mut trusted,
            &Forwarded {
                peer: Some("10.0.0.2".parse().expect("ip")),
                client: Some("198.51.100.7".parse().expect("ip")),
                trusted: true,
                scheme: "http",
                host: None,
                prefix: None,
            },
        );
        assert_eq!(trusted["x-forwarded-for"], "198.51.100.7, 10.0.0.2");
        assert_eq!(trusted["x-forwarded-proto"], "https");
        assert_eq!(trusted["x-real-ip"], "198.51.100.7");
    }

    #[test]
    fn other_proxies_identity_and_rerouting_headers_are_dropped_in_every_spelling() {
        let mut h = map(&[
            ("x-forwarded-user", "root"),
            ("x_forwarded_email", "root@evil"),
            ("x.forwarded.groups", "admin"),
            ("x-forwarded-preferred-username", "root"),
            ("x-forwarded-access-token", "t"),
            ("x-remote-user", "root"),
            ("x-webauth-user", "root"),
            ("x_webauth_role", "Admin"),
            ("x-original-url", "/admin/secret"),
            ("x-rewrite-url", "/admin/secret"),
            ("x-forwarded-for", "kept"),
        ]);
        remove_identity(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
    }

    #[test]
    fn a_bearer_credential_never_passes_and_other_schemes_do() {
        for value in ["Bearer t", "bearer\tt", "  BEARER   t", "Bearer"] {
            let mut h = map(&[("authorization", value)]);
            remove_bearer(&mut h);
            assert!(!h.contains_key("authorization"), "{value:?}");
        }
        let mut basic = map(&[("authorization", "Basic eDp5")]);
        remove_bearer(&mut basic);
        assert_eq!(basic["authorization"], "Basic eDp5");
    }

    #[test]
    fn an_upstream_cannot_set_doormans_cookies_or_cut_a_chunked_body() {
        let mut h = map(&[
            ("set-cookie", "access_token=planted; Path=/"),
            ("set-cookie", "theme=dark; Path=/"),
            ("set-cookie", "__Host-access_token=x; Secure; Path=/"),
            ("set-cookie", " doorman_flow_ab =x"),
            ("transfer-encoding", "chunked"),
            ("content-length", "3"),
        ]);
        let answered = clean_response(&mut h, false);
        assert_eq!(answered.cookies_dropped, 3);
        let kept: Vec<_> = h.get_all("set-cookie").iter().collect();
        assert_eq!(kept, ["theme=dark; Path=/"]);
        assert!(!h.contains_key("content-length"));
        assert!(!h.contains_key("transfer-encoding"));
        let mut switching = map(&[("upgrade", "websocket"), ("connection", "upgrade")]);
        assert_eq!(clean_response(&mut switching, true).cookies_dropped, 0);
        assert_eq!(switching["upgrade"], "websocket");
    }
}
