//! The request the reverse proxy is asking about, rebuilt from what it forwarded: nginx's
//! `auth_request` sends `X-Original-URL` (+ `X-Original-Method`); Traefik's and Caddy's
//! forward-auth send `X-Forwarded-Proto`, `-Host`, `-Uri` (+ `-Method`). Only a trusted proxy
//! is believed (the caller checks); RFC 7239 `Forwarded` is never read. And whether it is a
//! browser navigation, which decides between "sign in" and "401".

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, Method, header};
use url::Url;

use crate::uri::{Authority, authority_span};

const X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");

/// Which proxy protocol a request came in by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// nginx `auth_request`: never a 3xx (nginx would turn it into a 500).
    AuthRequest,
    /// Traefik `forwardAuth`, Caddy `forward_auth`: the answer goes to the browser as it is.
    ForwardAuth,
    /// doorman's own reverse proxy: the answer goes to the browser as it is.
    Proxy,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Self::AuthRequest => "auth_request",
            Self::ForwardAuth => "forward_auth",
            Self::Proxy => "proxy",
        }
    }

    /// Whether a navigation may be answered with a redirect (nginx cannot pass one on).
    pub fn may_redirect(self) -> bool {
        self != Self::AuthRequest
    }
}

/// The original request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    url: Href,
    pub method: Method,
}

/// The original URL: parsed (forward-auth, whose headers are checked by parsing them), or
/// put together by the front door from parts it has already checked (its `Host` and the path
/// in normal form), parsed only when it is needed, which is when a request is refused: an
/// allowed request never pays for a URL parser.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Href {
    Parsed(Url),
    Assembled(String),
}

impl Target {
    pub fn new(url: Url, method: Method) -> Self {
        Self {
            url: Href::Parsed(url),
            method,
        }
    }

    /// `scheme://authority` + `path_and_query`, from a checked authority and a path in normal
    /// form.
    pub fn assembled(scheme: &str, authority: &str, path_and_query: &str, method: Method) -> Self {
        let mut href =
            String::with_capacity(scheme.len() + 3 + authority.len() + path_and_query.len());
        href.push_str(scheme);
        href.push_str("://");
        href.push_str(authority);
        href.push_str(path_and_query);
        Self {
            url: Href::Assembled(href),
            method,
        }
    }

    /// The URL, parsed (host lower-case and in ASCII, a default port dropped); `None` only
    /// for an assembled one the URL parser refuses.
    pub fn url(&self) -> Option<Cow<'_, Url>> {
        match &self.url {
            Href::Parsed(url) => Some(Cow::Borrowed(url)),
            Href::Assembled(text) => Url::parse(text).ok().map(Cow::Owned),
        }
    }

    /// The URL as text, parsed first (as `url`), or as assembled when it cannot be.
    pub fn href(&self) -> Cow<'_, str> {
        match (&self.url, self.url()) {
            (Href::Parsed(url), _) => Cow::Borrowed(url.as_str()),
            (_, Some(url)) => Cow::Owned(url.into_owned().into()),
            (Href::Assembled(text), None) => Cow::Borrowed(text),
        }
    }

    /// `scheme://host[:port]`: the assertion's audience by default: the host lower-case
    /// (without a trailing dot when assembled), a default port dropped. A parsed URL's is
    /// borrowed from it (`target` refuses userinfo; a URL built elsewhere with one gets its
    /// origin without it); an assembled one's is read from its checked authority, with no URL
    /// parser on the way of an allowed request.
    pub fn origin(&self) -> Cow<'_, str> {
        match &self.url {
            Href::Parsed(url) if url.username().is_empty() && url.password().is_none() => {
                Cow::Borrowed(&url[..url::Position::AfterPort])
            }
            Href::Parsed(url) => Cow::Owned(url.origin().ascii_serialization()),
            Href::Assembled(text) => {
                let origin = authority_span(text).and_then(|(start, end)| {
                    let scheme = text.get(..start.checked_sub(3)?)?;
                    let written = text.get(start..end)?;
                    let authority = Authority::parse(written).ok()?;
                    let port = if scheme == "https" { 443 } else { 80 };
                    Some(match authority.for_url(port) {
                        // Already in normal form (the usual case): borrowed, no allocation.
                        Cow::Borrowed(normal) if normal == written => Cow::Borrowed(&text[..end]),
                        normal => {
                            let mut origin = String::with_capacity(start + normal.len());
                            origin.push_str(&text[..start]);
                            origin.push_str(&normal);
                            Cow::Owned(origin)
                        }
                    })
                });
                origin.unwrap_or(Cow::Borrowed("null"))
            }
        }
    }
}

/// An absolute `http(s)://host[:port]/path` as a proxy forwarded it: the scheme (either case)
/// and the authority as written checked (`is_host_then_path`), the scheme then lower-cased.
fn absolute_http_url(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        || !is_host_then_path(text)
    {
        return None;
    }
    // One allocation of the exact size (`format!` would grow its guess, and lower-casing
    // would allocate again).
    let mut url = String::with_capacity(text.len());
    url.push_str(scheme);
    url.make_ascii_lowercase();
    url.push_str("://");
    url.push_str(rest);
    Some(url)
}

/// Whether an absolute URL's authority, as written, is a host (no userinfo, no `\\`) followed by
/// its path: `http://secret.local?:80/x` is refused, though a URL parser would read a host.
fn is_host_then_path(url: &str) -> bool {
    authority_span(url).is_some_and(|(start, end)| {
        url.get(start..end)
            .is_some_and(|authority| Authority::parse(authority).is_ok())
            && url.as_bytes().get(end) == Some(&b'/')
    })
}

fn one<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    // A repeated forwarding header is ambiguous: treat it as missing.
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim).filter(|v| !v.is_empty())
}

/// The method in `name` (GET when absent), upper-cased; `Err` when it is not a method.
fn method(headers: &HeaderMap, name: &HeaderName) -> Result<Method, ()> {
    match one(headers, name) {
        None => Ok(Method::GET),
        Some(raw) if !raw.bytes().any(|b| b.is_ascii_lowercase()) => {
            Method::from_bytes(raw.as_bytes()).map_err(|_| ())
        }
        Some(raw) => Method::from_bytes(raw.to_ascii_uppercase().as_bytes()).map_err(|_| ()),
    }
}

/// The original request, or the names of the headers that are missing or malformed.
pub fn target(endpoint: Endpoint, headers: &HeaderMap) -> Result<Target, Vec<&'static str>> {
    match endpoint {
        Endpoint::AuthRequest => {
            // The authority as written must be a host (no userinfo, no `\`), checked before
            // the URL parser can fold or drop either.
            let url = one(headers, &X_ORIGINAL_URL).and_then(absolute_http_url);
            let method = method(headers, &X_ORIGINAL_METHOD);
            match (url, method) {
                (Some(href), Ok(method)) => Ok(Target {
                    url: Href::Assembled(href),
                    method,
                }),
                (url, method) => Err([
                    url.is_none().then_some("X-Original-URL"),
                    method.err().map(|_| "X-Original-Method"),
                ]
                .into_iter()
                .flatten()
                .collect()),
            }
        }
        Endpoint::ForwardAuth | Endpoint::Proxy => {
            let proto = one(headers, &X_FORWARDED_PROTO)
                .map(str::to_ascii_lowercase)
                .filter(|p| p == "http" || p == "https");
            let host = one(headers, &X_FORWARDED_HOST).filter(|h| Authority::parse(h).is_ok());
            let uri = one(headers, &X_FORWARDED_URI).filter(|u| u.starts_with('/'));
            let method = method(headers, &X_FORWARDED_METHOD);
            let url = match (&proto, host, uri) {
                (Some(proto), Some(host), Some(uri)) => Some((proto, host, uri)),
                _ => None,
            };
            match (url, method) {
                (Some((proto, host, uri)), Ok(method)) => {
                    Ok(Target::assembled(proto, host, uri, method))
                }
                (_, method) => {
                    let mut missing = Vec::new();
                    if proto.is_none() {
                        missing.push("X-Forwarded-Proto");
                    }
                    if host.is_none() {
                        missing.push("X-Forwarded-Host");
                    }
                    if uri.is_none() || missing.is_empty() && method.is_ok() {
                        missing.push("X-Forwarded-Uri");
                    }
                    if method.is_err() {
                        missing.push("X-Forwarded-Method");
                    }
                    Err(missing)
                }
            }
        }
    }
}

/// A CORS preflight as browsers send it (the Fetch standard): `OPTIONS` with an `Origin` and
/// an `Access-Control-Request-Method`, no body (no `Transfer-Encoding`, no `Content-Length`
/// but `0`) and no upgrade. It carries no credentials, and is forwarded without any.
pub fn is_preflight(target: &Target, headers: &HeaderMap) -> bool {
    target.method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && !headers.contains_key(header::TRANSFER_ENCODING)
        && !headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .all(|v| v.as_bytes() == b"0")
}

/// A person's browser navigating (following a link, typing the URL, submitting a form), as
/// opposed to a script: no `Authorization`, not XHR, and `Sec-Fetch-Mode: navigate`, or,
/// from a browser that sends no `Sec-Fetch-*` (they are sent to secure origins only),
/// `text/html` as the first `Accept` type. curl's `*/*` and `fetch()` are not navigations.
pub fn is_navigation(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::AUTHORIZATION)
        || headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xmlhttprequest"))
    {
        return false;
    }
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes().eq_ignore_ascii_case(b"navigate");
    }
    if headers.keys().any(|k| k.as_str().starts_with("sec-fetch-")) {
        return false;
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|accept| accept.split(',').next())
        .map(|first| first.split(';').next().unwrap_or("").trim())
        .is_some_and(|first| first.eq_ignore_ascii_case("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    #[test]
    fn the_origin_is_the_browsers_origin_for_every_kind_of_url() {
        for url in [
            "https://app.example.com/dash?x=1",
            "https://app.example.com:443/",
            "http://app.example.com:8080/a#f",
            "http://[::1]:3000/x",
            "https://BÜCHER.example/",
            "https://user:secret@app.example.com/x",
            "http://127.0.0.1/",
        ] {
            let parsed = Url::parse(url).expect("url");
            let t = Target::new(parsed.clone(), Method::GET);
            assert_eq!(t.origin(), parsed.origin().ascii_serialization(), "{url}");
        }
    }

    #[test]
    fn nginx_sends_the_original_url_and_method() {
        let t = target(
            Endpoint::AuthRequest,
            &headers(&[
                ("x-original-url", "https://app.example.com/dash?x=1"),
                ("x-original-method", "post"),
            ]),
        )
        .expect("target");
        assert_eq!(t.href(), "https://app.example.com/dash?x=1");
        assert_eq!(t.method, Method::POST);
        assert_eq!(t.origin(), "https://app.example.com");
        assert_eq!(
            target(Endpoint::AuthRequest, &headers(&[])),
            Err(vec!["X-Original-URL"])
        );
        assert_eq!(
            target(
                Endpoint::AuthRequest,
                &headers(&[("x-original-url", "javascript:alert(1)")])
            ),
            Err(vec!["X-Original-URL"])
        );
    }

    #[test]
    fn forwarded_authorities_that_are_not_hosts_are_refused() {
        for url in [
            "https://app.local@secret.local/x",
            "https://secret.local\\@app.local/x",
            "https://user:pw@secret.local/",
            "https://secret.local%2f@app.local/",
            "https:///x",
            "http://evil.localhost?:8080/x",
            "http://evil.localhost#x:8080/x",
            "https://app.example.com",
        ] {
            assert_eq!(
                target(Endpoint::AuthRequest, &headers(&[("x-original-url", url)])),
                Err(vec!["X-Original-URL"]),
                "{url}"
            );
        }
        for host in [
            "app.local@secret.local",
            "secret.local?",
            "secret.local/x",
            "a b",
        ] {
            assert_eq!(
                target(
                    Endpoint::ForwardAuth,
                    &headers(&[
                        ("x-forwarded-proto", "https"),
                        ("x-forwarded-host", host),
                        ("x-forwarded-uri", "/x"),
                    ])
                ),
                Err(vec!["X-Forwarded-Host"]),
                "{host}"
            );
        }
    }

    #[test]
    fn forward_auth_rebuilds_the_url_and_names_what_is_missing() {
        let t = target(
            Endpoint::ForwardAuth,
            &headers(&[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com:8443"),
                ("x-forwarded-uri", "/a/b?c=d"),
            ]),
        )
        .expect("target");
        assert_eq!(t.href(), "https://app.example.com:8443/a/b?c=d");
        assert_eq!(t.method, Method::GET);
        assert_eq!(
            target(
                Endpoint::ForwardAuth,
                &headers(&[("x-forwarded-proto", "https")])
            ),
            Err(vec!["X-Forwarded-Host", "X-Forwarded-Uri"])
        );
        assert_eq!(
            target(
                Endpoint::ForwardAuth,
                &headers(&[
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-host", "a.example"),
                    ("x-forwarded-host", "b.example"),
                    ("x-forwarded-uri", "/"),
                ])
            ),
            Err(vec!["X-Forwarded-Host"]),
            "a repeated header is ambiguous"
        );
    }

    #[test]
    fn only_browser_navigations_are_navigations() {
        assert!(is_navigation(&headers(&[
            ("sec-fetch-mode", "navigate"),
            ("accept", "*/*")
        ])));
        assert!(is_navigation(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )])));
        assert!(!is_navigation(&headers(&[("accept", "*/*")])), "curl");
        assert!(!is_navigation(&headers(&[
            ("sec-fetch-mode", "cors"),
            ("accept", "text/html")
        ])));
        assert!(!is_navigation(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("accept", "text/html")
        ])));
        assert!(!is_navigation(&headers(&[
            ("accept", "text/html"),
            ("x-requested-with", "XMLHttpRequest")
        ])));
        assert!(!is_navigation(&headers(&[
            ("sec-fetch-mode", "navigate"),
            ("authorization", "Basic eDp5")
        ])));
        assert!(!is_navigation(&headers(&[(
            "accept",
            "application/json, text/html"
        )])));
    }
}
