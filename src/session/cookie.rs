//! The session cookie, built in exactly one place with every attribute explicit.

use axum_extra::extract::cookie::{Cookie, SameSite};

/// The cookie name on plain http (development, loopback tests).
pub const COOKIE_NAME: &str = "access_token";
/// On https the `__Host-` prefix makes browsers insist on Secure, Path=/ and no Domain.
pub const HOST_COOKIE_NAME: &str = "__Host-access_token";

pub fn cookie_name(https: bool) -> &'static str {
    if https { HOST_COOKIE_NAME } else { COOKIE_NAME }
}

/// `access_token=<jwt>; HttpOnly; SameSite=Lax; Path=/; Max-Age=<ttl>` (+ Secure on https).
pub fn session_cookie(token: String, ttl_secs: u64, https: bool) -> Cookie<'static> {
    Cookie::build((cookie_name(https), token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/")
        .max_age(time::Duration::seconds(
            i64::try_from(ttl_secs).unwrap_or(i64::MAX),
        ))
        .build()
}

/// A cookie that replaces the session cookie with an empty, already-expired one.
pub fn removal_cookie(https: bool) -> Cookie<'static> {
    Cookie::build((cookie_name(https), ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/")
        .max_age(time::Duration::ZERO)
        .expires(time::OffsetDateTime::UNIX_EPOCH)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_carries_every_attribute() {
        let header = session_cookie("abc".into(), 3600, false).to_string();
        assert_eq!(
            header,
            "access_token=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600"
        );
    }

    #[test]
    fn on_https_the_cookie_is_secure_and_host_prefixed() {
        let header = session_cookie("abc".into(), 3600, true).to_string();
        assert!(header.starts_with("__Host-access_token=abc;"));
        assert!(header.contains("; Secure"));
    }

    #[test]
    fn the_removal_cookie_expires_at_once() {
        let header = removal_cookie(false).to_string();
        assert!(header.starts_with("access_token=;"));
        assert!(header.contains("Max-Age=0"));
    }
}
