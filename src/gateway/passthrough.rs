//! What the service behind nginx or Caddy may have of the client's own `Cookie` and
//! `Authorization`, computed by doorman and returned in the allow answer as
//! `X-Doorman-Cookie` and `X-Doorman-Authorization`: the proxy sets the service's headers from
//! them (`auth_request_set`, a Caddy `request_header`), so no proxy-side pattern has to find
//! doorman's cookies or Bearer token in the client's headers. Both are always present, empty
//! when nothing is left, so the proxy overwrites what the client sent.
//!
//! The cookies keep their order and bytes, joined by `; `; doorman's own (the session in every
//! prefix form and `doorman_flow_*`) are left out, however many there are and on however many
//! `Cookie` lines. The `Authorization` passes only when it is one line of another scheme than
//! Bearer (Basic for the service, say). A request without either costs no allocation, a
//! cookie header at most one.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::session::{cookie_pairs, is_bearer};

pub(super) const X_DOORMAN_COOKIE: HeaderName = HeaderName::from_static("x-doorman-cookie");
pub(super) const X_DOORMAN_AUTHORIZATION: HeaderName =
    HeaderName::from_static("x-doorman-authorization");

pub(super) const EMPTY: HeaderValue = HeaderValue::from_static("");

/// The client's cookies without doorman's, `; `-joined; empty when none is left.
pub fn app_cookie(headers: &HeaderMap) -> HeaderValue {
    let lines = headers.get_all(header::COOKIE);
    let (mut kept, mut bytes, mut unchanged) = (0usize, 0usize, true);
    for (index, line) in lines.iter().enumerate() {
        unchanged &= index == 0;
        for (position, raw) in cookie_pairs(line.as_bytes()).enumerate() {
            let pair = raw.trim_ascii();
            if keeps(pair) {
                kept += 1;
                bytes += pair.len();
                // One line already written as the answer would be: reuse it as it is. `pair`
                // lies inside `raw`, so equal lengths mean equal bytes.
                let body = if position == 0 {
                    Some(raw)
                } else {
                    raw.strip_prefix(b" ")
                };
                unchanged &= body.is_some_and(|body| body.len() == pair.len());
            } else {
                unchanged = false;
            }
        }
    }
    if kept == 0 {
        return EMPTY;
    }
    if unchanged && let Some(line) = lines.iter().next() {
        return line.clone();
    }
    // Exactly the length needed, so the buffer becomes the value's bytes without a copy.
    let mut out = Vec::with_capacity(bytes + 2 * (kept - 1));
    for pair in lines
        .iter()
        .flat_map(|line| cookie_pairs(line.as_bytes()))
        .map(<[u8]>::trim_ascii)
        .filter(|pair| keeps(pair))
    {
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(pair);
    }
    // The bytes are a subset of valid header values, so this cannot fail; if it did, the
    // service would get no cookie rather than doorman's.
    HeaderValue::from_maybe_shared(Bytes::from(out)).unwrap_or(EMPTY)
}

/// The client's `Authorization` when it is a single line of another scheme than Bearer;
/// empty otherwise (a Bearer credential may be a doorman token, in any spelling of the scheme;
/// two lines are ambiguous, and doorman refuses them).
pub(super) fn app_authorization(headers: &HeaderMap) -> HeaderValue {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (Some(value), None) if !is_bearer(value.as_bytes()) => value.clone(),
        _ => EMPTY,
    }
}

/// Whether a cookie name is doorman's (the session, or a sign-in attempt).
pub fn is_doormans_cookie(name: &str) -> bool {
    let bare = name
        .strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
        .unwrap_or(name);
    bare == "access_token" || bare.starts_with("doorman_flow_")
}

/// Whether the service gets this (trimmed) `name=value` pair: not an empty one, not doorman's.
fn keeps(pair: &[u8]) -> bool {
    let name = pair.get(..memchr::memchr(b'=', pair).unwrap_or(pair.len()));
    !pair.is_empty()
        && !name
            .and_then(|name| std::str::from_utf8(name.trim_ascii()).ok())
            .is_some_and(is_doormans_cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(HeaderName, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name, HeaderValue::from_bytes(value).expect("value"));
        }
        h
    }

    fn cookies(lines: &[&str]) -> HeaderValue {
        let lines: Vec<_> = lines
            .iter()
            .map(|l| (header::COOKIE, l.as_bytes()))
            .collect();
        app_cookie(&map(&lines))
    }

    #[test]
    fn every_doorman_cookie_leaves_and_the_others_stay_in_order() {
        for (lines, expected) in [
            (
                &["theme=dark; __Host-access_token=V; lang=en"][..],
                "theme=dark; lang=en",
            ),
            (&["access_token=TOSSED; __Secure-access_token=V"], ""),
            (&["__Host-access_token=OLD; __Secure-access_token=V"], ""),
            (&["__Host-access_token=A", "__Secure-access_token=B"], ""),
            (&["doorman_flow_abc=F; x=1"], "x=1"),
            (
                &["__Host-doorman_flow_a=F; __Secure-doorman_flow_b=G; x=1"],
                "x=1",
            ),
            (&["access_token=V; theme=dark"], "theme=dark"),
            (&["a=1", "access_token=V; b=2", "c=3"], "a=1; b=2; c=3"),
            (&["a=1;b=2;;  c=3 ; "], "a=1; b=2; c=3"),
            (&["access_token =V; access_token; a=x=y"], "a=x=y"),
            (
                &["access_tokens=1; my_access_token=2; Access_Token=3"],
                "access_tokens=1; my_access_token=2; Access_Token=3",
            ),
            (&[], ""),
        ] {
            assert_eq!(cookies(lines), expected, "{lines:?}");
        }
    }

    #[test]
    fn a_line_already_in_the_answers_form_is_passed_on_without_a_copy() {
        let h = map(&[(header::COOKIE, b"theme=dark; lang=en")]);
        let answer = app_cookie(&h);
        assert_eq!(answer, "theme=dark; lang=en");
        assert_eq!(
            answer.as_bytes().as_ptr(),
            h[header::COOKIE].as_bytes().as_ptr()
        );
        let respaced = map(&[(header::COOKIE, b"theme=dark ;lang=en")]);
        assert_eq!(app_cookie(&respaced), "theme=dark; lang=en");
    }

    #[test]
    fn bytes_outside_ascii_in_another_cookie_are_kept_exactly() {
        let h = map(&[(header::COOKIE, b"name=Zo\xc3\xab; access_token=V; raw=\xff")]);
        assert_eq!(app_cookie(&h).as_bytes(), b"name=Zo\xc3\xab; raw=\xff");
    }

    #[test]
    fn another_scheme_passes_and_a_bearer_in_any_spelling_never_does() {
        let auth = |values: &[&str]| {
            let pairs: Vec<_> = values
                .iter()
                .map(|v| (header::AUTHORIZATION, v.as_bytes()))
                .collect();
            app_authorization(&map(&pairs))
        };
        assert_eq!(auth(&["Basic dXNlcjpwYXNz"]), "Basic dXNlcjpwYXNz");
        assert_eq!(auth(&["Negotiate YII="]), "Negotiate YII=");
        for bearer in [
            "Bearer t",
            "bearer t",
            "BEARER  t",
            "Bearer\tt",
            "bEaReR \t t",
        ] {
            assert_eq!(auth(&[bearer]), "", "{bearer:?}");
        }
        assert_eq!(auth(&["Basic eDp5", "Bearer t"]), "", "two lines");
        assert_eq!(auth(&["Basic eDp5", "Basic eDp5"]), "", "two lines");
        assert_eq!(auth(&[]), "");
    }
}
