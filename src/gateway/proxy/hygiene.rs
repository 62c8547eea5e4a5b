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
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let mut found = connection_named(headers);
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

/// How a request's headers are cleaned before the service sees them.
pub struct Cleaning<'a> {
    /// The route's own `strip_headers` (lower-case).
    pub strip_headers: &'a [String],
    /// A CORS preflight: no `Authorization` and no `Cookie` at all.
    pub strip_credentials: bool,
    /// Where the request came from, for the `X-Forwarded-*` headers.
    pub forwarded: &'a Forwarded<'a>,
}

/// Which of the headers `clean_request` treats specially the request has, found in the same
/// pass that finds what to drop.
#[derive(Default)]
struct Present {
    connection: bool,
    cookie: bool,
    authorization: bool,
    forwarded_for: bool,
    forwarded_proto: bool,
    forwarded_host: bool,
}

/// The request's headers as a service may have them: hop-by-hop headers (and those
/// `Connection` names), every identity or trust header a client sent (any spelling),
/// `Forwarded`, the route's `strip_headers`, the forwarding headers only a trusted proxy may
/// set (when the peer is not one), doorman's cookies and any Bearer credential (every
/// credential for a preflight) removed; then the `X-Forwarded-*` and `X-Real-IP` set. One pass
/// over the names decides, so a clean request costs no lookups of absent names.
pub fn clean_request(headers: &mut HeaderMap, how: &Cleaning<'_>) {
    let trusted = how.forwarded.trusted && how.forwarded.peer.is_some();
    let mut present = Present::default();
    let mut drop: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if how.strip_headers.iter().any(|s| s == name.as_str()) {
            drop.push(name.clone());
            continue;
        }
        if *name == header::COOKIE {
            present.cookie = true;
            continue;
        }
        if *name == header::AUTHORIZATION {
            present.authorization = true;
            continue;
        }
        if *name == header::HOST || *name == header::ACCEPT {
            continue;
        }
        present.connection |= *name == header::CONNECTION;
        present.forwarded_for |= *name == X_FORWARDED_FOR;
        let gone = HOP_BY_HOP.contains(name)
            || *name == FORWARDED
            || *name == X_REAL_IP
            || (!trusted && TRUSTED_ONLY.contains(name))
            || is_identity(name.as_str());
        if gone {
            drop.push(name.clone());
        } else {
            present.forwarded_proto |= *name == X_FORWARDED_PROTO;
            present.forwarded_host |= *name == X_FORWARDED_HOST;
        }
    }
    if present.connection {
        drop.extend(connection_named(headers));
    }
    for name in drop {
        headers.remove(name);
    }
    if how.strip_credentials {
        if present.authorization {
            headers.remove(header::AUTHORIZATION);
        }
        if present.cookie {
            headers.remove(header::COOKIE);
        }
    } else {
        if present.cookie {
            remove_doormans_cookies(headers);
        }
        if present.authorization {
            remove_bearer(headers);
        }
    }
    set_forwarded(headers, how.forwarded, &present);
}

/// The header names a `Connection` header lists (they are hop-by-hop too).
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

/// Drops an `Authorization` that is a Bearer credential, in any spelling (`is_bearer`): a
/// doorman token never reaches a service, whatever authenticated the request. Other schemes
/// (Basic for the service itself) pass.
fn remove_bearer(headers: &mut HeaderMap) {
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
fn remove_doormans_cookies(headers: &mut HeaderMap) {
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

/// Sets `X-Forwarded-For`, `-Proto`, `-Host`, `-Prefix` and `X-Real-IP` (an untrusted peer's
/// copies are already gone).
fn set_forwarded(headers: &mut HeaderMap, from: &Forwarded<'_>, present: &Present) {
    let peer = from.peer.map(ip_value);
    let chain = match (&peer, from.trusted && present.forwarded_for) {
        (Some(peer), true) => {
            let earlier: Vec<&str> = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let peer = peer.to_str().unwrap_or_default();
            HeaderValue::from_str(&format!("{}, {peer}", earlier.join(", "))).ok()
        }
        (peer, _) => peer.clone(),
    };
    match chain {
        Some(value) => {
            headers.insert(X_FORWARDED_FOR, value);
        }
        None if present.forwarded_for => {
            headers.remove(&X_FORWARDED_FOR);
        }
        None => {}
    }
    let client = match (from.client, from.peer, &peer) {
        (Some(client), Some(p), Some(value)) if client == p => Some(value.clone()),
        (client, _, _) => client.map(ip_value),
    };
    if let Some(value) = client {
        headers.insert(X_REAL_IP, value);
    }
    if !present.forwarded_proto {
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_str(from.scheme).unwrap_or(HeaderValue::from_static("http")),
        );
    }
    if !present.forwarded_host
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

/// An address as a header value; IPv4 written digit by digit (this runs on every proxied
/// request, and `Display` goes through the formatting machinery twice per octet).
fn ip_value(ip: std::net::IpAddr) -> HeaderValue {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut text = [0u8; 15];
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    text[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    text[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                text[len] = b'0' + octet % 10;
                len += 1;
            }
            HeaderValue::from_bytes(&text[..len]).unwrap_or(HeaderValue::from_static("0.0.0.0"))
        }
        std::net::IpAddr::V6(v6) => {
            HeaderValue::from_str(&v6.to_string()).unwrap_or(HeaderValue::from_static("::"))
        }
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

    const NOWHERE: Forwarded<'static> = Forwarded {
        peer: None,
        client: None,
        trusted: false,
        scheme: "http",
        host: None,
        prefix: None,
    };

    /// Cleans `h` as a request from an unknown peer on a route without `strip_headers`, and
    /// leaves only what the client sent and kept (doorman's `X-Forwarded-Proto` taken out).
    fn clean(h: &mut HeaderMap) {
        clean_with(h, &[], &NOWHERE);
    }

    fn clean_with(h: &mut HeaderMap, strip: &[String], from: &Forwarded<'_>) {
        let sent_proto = h.contains_key(&X_FORWARDED_PROTO);
        clean_request(
            h,
            &Cleaning {
                strip_headers: strip,
                strip_credentials: false,
                forwarded: from,
            },
        );
        if !sent_proto && from.peer.is_none() {
            assert_eq!(h.remove(&X_FORWARDED_PROTO).expect("proto"), "http");
        }
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
        clean(&mut h);
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
        clean(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-doormanish"));
    }

    #[test]
    fn doormans_cookies_leave_the_cookie_header_and_others_stay() {
        let mut h = map(&[(
            "cookie",
            "theme=dark; access_token=jwt; __Host-doorman_flow_ab=x; lang=en",
        )]);
        clean(&mut h);
        assert_eq!(h[header::COOKIE], "theme=dark; lang=en");
        let mut only = map(&[("cookie", "__Secure-access_token=jwt")]);
        clean(&mut only);
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
        clean_with(
            &mut untrusted,
            &[],
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
        clean_with(
            &mut trusted,
            &[],
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
            ("accept", "*/*"),
        ]);
        clean(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
    }

    #[test]
    fn a_bearer_credential_never_passes_and_other_schemes_do() {
        for value in ["Bearer t", "bearer\tt", "  BEARER   t", "Bearer"] {
            let mut h = map(&[("authorization", value)]);
            clean(&mut h);
            assert!(!h.contains_key("authorization"), "{value:?}");
        }
        let mut basic = map(&[("authorization", "Basic eDp5")]);
        clean(&mut basic);
        assert_eq!(basic["authorization"], "Basic eDp5");
    }

    #[test]
    fn a_routes_strip_headers_go_and_a_preflight_loses_every_credential() {
        let mut h = map(&[
            ("x-internal-debug", "1"),
            ("accept", "*/*"),
            ("cookie", "theme=dark"),
        ]);
        clean_with(
            &mut h,
            &["x-internal-debug".into(), "accept".into()],
            &NOWHERE,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[header::COOKIE], "theme=dark");
        let mut preflight = map(&[("cookie", "theme=dark"), ("authorization", "Basic eDp5")]);
        clean_request(
            &mut preflight,
            &Cleaning {
                strip_headers: &[],
                strip_credentials: true,
                forwarded: &NOWHERE,
            },
        );
        assert!(!preflight.contains_key(header::COOKIE));
        assert!(!preflight.contains_key(header::AUTHORIZATION));
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "203.0.113.9",
            "255.255.255.255",
            "1.20.100.9",
            "::1",
        ] {
            let addr: std::net::IpAddr = ip.parse().expect("ip");
            assert_eq!(ip_value(addr), addr.to_string().as_str());
        }
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
