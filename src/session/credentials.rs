//! Where a request's session token is: the `Authorization: Bearer` header (for API
//! clients) or the session cookie. Pure header parsing that refuses anything ambiguous: two
//! `Authorization` headers, an odd scheme, a duplicated or quoted cookie. `is_bearer` is the
//! one rule for "this header is a Bearer credential", used to authenticate and to make sure
//! no service behind doorman ever receives one.

use axum::http::{HeaderMap, header};

use super::TokenError;

/// Where the token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Cookie,
    Bearer,
}

/// What an `Authorization` header means for a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// Pages: only the cookie counts; the header is not read.
    Ignored,
    /// The API: the header, when present, must be `Bearer <doorman token>`.
    Bearer,
    /// The gateway: a Bearer header is doorman's; any other scheme (Basic for the service
    /// behind, say) is left alone and the cookie is used.
    BearerOtherSchemesIgnored,
}

/// Where the credential came from and what it was, before verification.
pub(super) fn find_token<'h>(
    headers: &'h HeaderMap,
    cookie_name: &str,
    authorization: Authorization,
) -> Result<Option<(&'h str, TokenSource)>, TokenError> {
    if authorization != Authorization::Ignored {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(TokenError::Invalid);
            }
            let text = value.to_str().map_err(|_| TokenError::Invalid)?;
            if is_bearer(text.as_bytes()) || authorization == Authorization::Bearer {
                return bearer_token(text).map(|t| Some((t, TokenSource::Bearer)));
            }
        }
    }
    Ok(cookie_value(headers, cookie_name)?.map(|t| (t, TokenSource::Cookie)))
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whether an `Authorization` value is a Bearer credential: the scheme `bearer` in any case,
/// then whitespace (space or tab) or nothing, after any leading whitespace. Whatever follows
/// is doorman's to judge, and never the service's to receive.
pub fn is_bearer(value: &[u8]) -> bool {
    let start = value
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(value.len());
    let rest = &value[start..];
    rest.get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"))
        && rest.get(6).is_none_or(|&b| is_space(b))
}

/// Whether the request has more than one `Authorization` line (RFC 9110 §11.6.2: one
/// `credentials` value, never a list): such a request is refused, not guessed at.
pub fn has_several_authorizations(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    values.next().is_some() && values.next().is_some()
}

/// `Bearer <token>`, the scheme case-insensitive (RFC 7235), spaces or tabs around the
/// token; anything else is invalid.
fn bearer_token(value: &str) -> Result<&str, TokenError> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, token) = value.split_once([' ', '\t']).ok_or(TokenError::Invalid)?;
    let token = token.trim_matches(|c| c == ' ' || c == '\t');
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains([' ', '\t']) {
        return Err(TokenError::Invalid);
    }
    Ok(token)
}

/// The one value of `name` across all `Cookie` headers. Two values, or a quoted one, is an
/// attempt to confuse us (cookie tossing) and is refused rather than guessed at. A header with
/// anything but visible ASCII is passed over, as `HeaderValue::to_str` would. Read as bytes:
/// this runs on every request, over a cookie of a few hundred bytes.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, TokenError> {
    let mut found: Option<&[u8]> = None;
    for header_value in headers.get_all(header::COOKIE) {
        let line = header_value.as_bytes();
        if !is_visible_ascii(line) {
            continue;
        }
        for pair in cookie_pairs(line) {
            let pair = pair.trim_ascii();
            let Some(eq) = memchr::memchr(b'=', pair) else {
                continue;
            };
            let (k, v) = (&pair[..eq], &pair[eq + 1..]);
            if k.trim_ascii() != name.as_bytes() {
                continue;
            }
            if found.is_some() || v.starts_with(b"\"") {
                return Err(TokenError::Invalid);
            }
            found = Some(v.trim_ascii());
        }
    }
    // Visible ASCII is UTF-8.
    Ok(found
        .filter(|v| !v.is_empty())
        .and_then(|v| std::str::from_utf8(v).ok()))
}

/// The `;`-separated pieces of a `Cookie` line, untrimmed (found with `memchr`: a line is a
/// few hundred bytes, read on every request).
pub fn cookie_pairs(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let text = rest?;
        match memchr::memchr(b';', text) {
            Some(i) => {
                rest = text.get(i + 1..);
                text.get(..i)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// `HeaderValue::to_str`'s rule (tab, or 0x20 to 0x7e), without stopping early so that it
/// runs over a whole vector of bytes at a time.
fn is_visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & (b == b'\t' || (0x20..0x7f).contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::COOKIE_NAME;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                name.clone(),
                HeaderValue::from_str(value).expect("valid header"),
            );
        }
        map
    }

    #[test]
    fn every_spelling_of_the_bearer_scheme_is_a_bearer_credential() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER  abc ",
            "Bearer\tabc",
            " \tbEaReR\t abc",
            "Bearer",
            "Bearer ",
        ] {
            assert!(is_bearer(value.as_bytes()), "{value:?}");
        }
        for value in [
            "Basic eDp5",
            "Bearerabc",
            "Bear abc",
            "",
            "Negotiate x",
            "xBearer a",
        ] {
            assert!(!is_bearer(value.as_bytes()), "{value:?}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER  abc ",
            "Bearer\tabc",
            "bearer \t abc\t",
        ] {
            let h = headers(&[(header::AUTHORIZATION, value)]);
            assert_eq!(
                find_token(&h, COOKIE_NAME, Authorization::Bearer),
                Ok(Some(("abc", TokenSource::Bearer))),
                "{value}"
            );
        }
    }

    #[test]
    fn odd_authorization_forms_are_invalid_not_missing() {
        for value in ["Basic abc", "Bearer", "Bearer a b", "abc", "Bearer "] {
            let h = headers(&[(header::AUTHORIZATION, value)]);
            assert_eq!(
                find_token(&h, COOKIE_NAME, Authorization::Bearer),
                Err(TokenError::Invalid),
                "{value}"
            );
        }
        let twice = headers(&[
            (header::AUTHORIZATION, "Bearer a"),
            (header::AUTHORIZATION, "Bearer b"),
        ]);
        assert_eq!(
            find_token(&twice, COOKIE_NAME, Authorization::Bearer),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn the_cookie_is_found_among_others_and_duplicates_are_refused() {
        let h = headers(&[(header::COOKIE, "a=1; access_token=tok; b=2")]);
        assert_eq!(
            find_token(&h, COOKIE_NAME, Authorization::Bearer),
            Ok(Some(("tok", TokenSource::Cookie)))
        );
        let dup = headers(&[
            (header::COOKIE, "access_token=x"),
            (header::COOKIE, "access_token=y"),
        ]);
        assert_eq!(
            find_token(&dup, COOKIE_NAME, Authorization::Bearer),
            Err(TokenError::Invalid)
        );
        let quoted = headers(&[(header::COOKIE, "access_token=\"x\"")]);
        assert_eq!(
            find_token(&quoted, COOKIE_NAME, Authorization::Bearer),
            Err(TokenError::Invalid)
        );
    }

    /// The rule as it was first written, over `&str`: the byte parser must agree with it.
    fn cookie_value_as_text<'h>(
        headers: &'h HeaderMap,
        name: &str,
    ) -> Result<Option<&'h str>, TokenError> {
        let mut found = None;
        for header_value in headers.get_all(header::COOKIE) {
            let Ok(text) = header_value.to_str() else {
                continue;
            };
            for pair in text.split(';') {
                let Some((k, v)) = pair.trim().split_once('=') else {
                    continue;
                };
                if k.trim() != name {
                    continue;
                }
                if found.is_some() || v.starts_with('"') {
                    return Err(TokenError::Invalid);
                }
                found = Some(v.trim());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    #[test]
    fn the_cookie_is_read_as_the_text_rule_reads_it_whatever_the_spacing_and_bytes() {
        let lines: [&[u8]; 14] = [
            b"access_token=tok",
            b" \taccess_token = tok \t; a=1",
            b"a=1;;access_token=tok;",
            b"access_token=",
            b"access_token",
            b"access_token=a=b",
            b"access_token=\"q\"",
            b"xaccess_token=tok; access_tokenx=tok",
            b"a=\xc3\xa9; access_token=tok",
            b"a=\xff; access_token=tok",
            b"access_token=tok\t",
            b"=tok; access_token=t2",
            b"ACCESS_TOKEN=tok",
            b"",
        ];
        for first in lines {
            for second in [None, Some(&b"access_token=other"[..]), Some(&b"b=2"[..])] {
                let mut map = HeaderMap::new();
                map.append(
                    header::COOKIE,
                    HeaderValue::from_bytes(first).expect("value"),
                );
                if let Some(second) = second {
                    map.append(
                        header::COOKIE,
                        HeaderValue::from_bytes(second).expect("value"),
                    );
                }
                assert_eq!(
                    cookie_value(&map, COOKIE_NAME),
                    cookie_value_as_text(&map, COOKIE_NAME),
                    "{:?} then {second:?}",
                    String::from_utf8_lossy(first)
                );
            }
        }
    }

    #[test]
    fn pages_ignore_bearer_headers() {
        let h = headers(&[(header::AUTHORIZATION, "Bearer abc")]);
        assert_eq!(
            find_token(&h, COOKIE_NAME, Authorization::Ignored),
            Ok(None)
        );
    }

    #[test]
    fn the_gateway_leaves_other_schemes_to_the_service_and_uses_the_cookie() {
        let h = headers(&[
            (header::AUTHORIZATION, "Basic dXNlcjpwYXNz"),
            (header::COOKIE, "access_token=jwt"),
        ]);
        assert_eq!(
            find_token(&h, COOKIE_NAME, Authorization::BearerOtherSchemesIgnored),
            Ok(Some(("jwt", TokenSource::Cookie)))
        );
        assert_eq!(
            find_token(&h, COOKIE_NAME, Authorization::Bearer),
            Err(TokenError::Invalid)
        );
        let bearer = headers(&[(header::AUTHORIZATION, "bearer t0k")]);
        assert_eq!(
            find_token(
                &bearer,
                COOKIE_NAME,
                Authorization::BearerOtherSchemesIgnored
            ),
            Ok(Some(("t0k", TokenSource::Bearer)))
        );
    }
}
