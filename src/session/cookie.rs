//! The session cookie, built in exactly one place with every attribute explicit. Its scope
//! decides the name: `access_token` on plain http (loopback development), `__Host-access_token`
//! on https (Secure, Path=/, no Domain: this host only), or `__Secure-access_token` with a
//! `Domain` when `COOKIE_DOMAIN` shares one sign-in across subdomains.

use axum_extra::extract::cookie::{Cookie, SameSite};

/// The cookie name on plain http (development, loopback tests).
pub const COOKIE_NAME: &str = "access_token";
/// On https the `__Host-` prefix makes browsers insist on Secure, Path=/ and no Domain.
pub const HOST_COOKIE_NAME: &str = "__Host-access_token";
/// With `COOKIE_DOMAIN` the `__Secure-` prefix makes browsers insist on Secure.
pub const DOMAIN_COOKIE_NAME: &str = "__Secure-access_token";

/// Where the session cookie goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieScope {
    /// Plain http: this host only.
    Plain,
    /// https: this host only, `__Host-`.
    Host,
    /// https: this domain and its subdomains, `__Secure-`.
    Domain(String),
}

impl CookieScope {
    pub fn new(https: bool, domain: Option<&str>) -> Self {
        match (https, domain) {
            (true, Some(domain)) => Self::Domain(domain.to_owned()),
            (true, None) => Self::Host,
            (false, _) => Self::Plain,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Plain => COOKIE_NAME,
            Self::Host => HOST_COOKIE_NAME,
            Self::Domain(_) => DOMAIN_COOKIE_NAME,
        }
    }

    fn build(&self, value: String, max_age: time::Duration) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(*self != Self::Plain)
            .path("/")
            .max_age(max_age)
            .build();
        if let Self::Domain(domain) = self {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}

/// The cookie name for `https` without a shared domain (doorman's own host).
pub fn cookie_name(https: bool) -> &'static str {
    CookieScope::new(https, None).name()
}

/// `access_token=<jwt>; HttpOnly; SameSite=Lax; Path=/; Max-Age=<ttl>` (+ Secure, Domain as
/// the scope wants).
pub fn session_cookie(token: String, ttl_secs: u64, scope: &CookieScope) -> Cookie<'static> {
    scope.build(
        token,
        time::Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX)),
    )
}

/// A cookie that replaces the session cookie with an empty, already-expired one.
pub fn removal_cookie(scope: &CookieScope) -> Cookie<'static> {
    let mut cookie = scope.build(String::new(), time::Duration::ZERO);
    cookie.set_expires(time::OffsetDateTime::UNIX_EPOCH);
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_carries_every_attribute() {
        let header = session_cookie("abc".into(), 3600, &CookieScope::Plain).to_string();
        assert_eq!(
            header,
            "access_token=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600"
        );
    }

    #[test]
    fn on_https_the_cookie_is_secure_and_host_prefixed() {
        let header = session_cookie("abc".into(), 3600, &CookieScope::Host).to_string();
        assert!(header.starts_with("__Host-access_token=abc;"));
        assert!(header.contains("; Secure") && !header.contains("Domain"));
    }

    #[test]
    fn a_shared_domain_cookie_is_secure_prefixed_and_names_its_domain() {
        let scope = CookieScope::new(true, Some("example.com"));
        let header = session_cookie("abc".into(), 3600, &scope).to_string();
        assert!(header.starts_with("__Secure-access_token=abc;"), "{header}");
        assert!(header.contains("; Secure") && header.contains("; Domain=example.com"));
        let removal = removal_cookie(&scope).to_string();
        assert!(removal.contains("Domain=example.com") && removal.contains("Max-Age=0"));
    }

    #[test]
    fn the_removal_cookie_expires_at_once() {
        let header = removal_cookie(&CookieScope::Plain).to_string();
        assert!(header.starts_with("access_token=;"));
        assert!(header.contains("Max-Age=0"));
    }
}
