//! Where a request's session token is: the `Authorization: Bearer` header (for API
//! clients) or the session cookie. Pure header parsing that refuses anything ambiguous: two
//! `Authorization` headers, an odd scheme, a duplicated or quoted cookie.

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
            let is_bearer = text
                .trim_start()
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "));
            if is_bearer || authorization == Authorization::Bearer {
                return bearer_token(text).map(|t| Some((t, TokenSource::Bearer)));
            }
        }
    }
    Ok(cookie_value(headers, cookie_name)?.map(|t| (t, TokenSource::Cookie)))
}

/// Whether an `Authorization` value is a Bearer credential: the scheme `bearer` in any case
/// (RFC 9110 §11.1), then a space or a tab, leading whitespace allowed. Anything that passes is
/// treated as doorman's (it may hold a session token) and never handed to a service.
pub fn is_bearer(value: &[u8]) -> bool {
    let value = value.trim_ascii_start();
    value.len() > 6
        && value[..6].eq_ignore_ascii_case(b"bearer")
        && matches!(value[6], b' ' | b'\t')
}

/// `Bearer <token>`, the scheme case-insensitive (RFC 7235); anything else is invalid.
fn bearer_token(value: &str) -> Result<&str, TokenError> {
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::Invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(TokenError::Invalid);
    }
    Ok(token)
}

/// The one value of `name` across all `Cookie` headers. Two values, or a quoted one, is an
/// attempt to confuse us (cookie tossing) and is refused rather than guessed at.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, TokenError> {
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
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc "] {
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

    #[test]
    fn a_bearer_credential_is_the_scheme_in_any_case_then_a_space_or_a_tab() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER  abc ",
            "bEaReR\tabc",
            "Bearer\t\tabc",
            " Bearer abc",
            "\tbearer abc",
            "Bearer ",
        ] {
            assert!(is_bearer(value.as_bytes()), "{value:?}");
        }
        for value in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearerabc",
            "Bearer_abc",
            "Token abc",
            "Bear abc",
            "",
            "Negotiate YII=",
        ] {
            assert!(!is_bearer(value.as_bytes()), "{value:?}");
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
