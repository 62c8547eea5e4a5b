//! The two URLs doorman is configured with: its own public origin, and the provider's issuer,
//! each parsed once into a type that cannot hold a wrong value.

use std::fmt;

use url::{Host, Url};

use super::vars::ConfigError;

/// Google's issuer: the default provider when client credentials are configured.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// `localhost`, `*.localhost` (RFC 6761: always loopback), or a loopback IP.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// https anywhere, plain http only on this machine.
pub fn is_https_or_loopback(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(url))
}

/// The origin browsers reach doorman at, without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    url: Url,
    origin: String,
}

impl PublicUrl {
    /// An http(s) origin; plain http only for a loopback host, since anywhere else doorman sits
    /// behind a TLS proxy and must be told so (cookies get `Secure` and `__Host-`, HSTS is on).
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(raw).map_err(|_| {
            ConfigError::new(
                "PUBLIC_URL",
                format!("`{raw}` is not a URL; use e.g. http://localhost:8000"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConfigError::new(
                "PUBLIC_URL",
                "must be an http:// or https:// origin",
            ));
        }
        if url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
        {
            return Err(ConfigError::new(
                "PUBLIC_URL",
                "must be an origin only (scheme, host, port), e.g. https://auth.example.com",
            ));
        }
        if !is_https_or_loopback(&url) {
            return Err(ConfigError::new(
                "PUBLIC_URL",
                "must be https:// unless the host is loopback: behind a TLS-terminating proxy, \
                 give the https:// address browsers use",
            ));
        }
        let origin = url.origin().ascii_serialization();
        Ok(Self { url, origin })
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.url)
    }

    /// `scheme://host[:port]`, as browsers send it in the `Origin` header.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `host[:port]` as a `Host` header names this origin (the port only when not the default).
    pub fn authority(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// `https://` or `http://`.
    pub fn scheme_prefix(&self) -> &'static str {
        if self.is_https() {
            "https://"
        } else {
            "http://"
        }
    }

    /// `:port` when the port is not the scheme's default, else empty.
    pub fn port_suffix(&self) -> String {
        self.url.port().map(|p| format!(":{p}")).unwrap_or_default()
    }

    pub fn join(&self, path: &str) -> Url {
        let mut url = self.url.clone();
        url.set_path(path);
        url
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

/// The provider's issuer identifier, kept exactly as written: OpenID Connect Discovery §4.3
/// compares it as a string, so Auth0's `https://TENANT.auth0.com/` keeps its slash and Google's
/// `https://accounts.google.com` stays without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    /// https, or http for a provider on this machine; no query, fragment or credentials.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(raw).map_err(|_| {
            ConfigError::new(
                "OIDC_ISSUER_URL",
                format!("`{raw}` is not a URL; use e.g. {GOOGLE_ISSUER}"),
            )
        })?;
        if !is_https_or_loopback(&url) {
            return Err(ConfigError::new(
                "OIDC_ISSUER_URL",
                "must be an https:// URL (http:// is accepted only for 127.0.0.1, [::1] or localhost)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(ConfigError::new(
                "OIDC_ISSUER_URL",
                "must not carry a query, fragment or credentials",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Trusted as already valid: the development provider's issuer, built from `PUBLIC_URL`.
    pub(crate) fn from_trusted(issuer: String) -> Self {
        Self(issuer)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Google's issuer, which also signs with the legacy scheme-less `accounts.google.com`.
    pub fn is_google(&self) -> bool {
        self.0 == GOOGLE_ISSUER || self.0 == "https://accounts.google.com/"
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_must_be_an_origin() {
        assert!(PublicUrl::parse("https://auth.example.com/app").is_err());
        assert!(PublicUrl::parse("ftp://example.com").is_err());
        let url = PublicUrl::parse("https://auth.example.com/").expect("valid");
        assert_eq!(url.origin(), "https://auth.example.com");
        assert!(url.is_https());
    }

    #[test]
    fn plain_http_public_urls_are_refused_off_loopback() {
        let err = PublicUrl::parse("http://auth.example.com").expect_err("refused");
        assert_eq!(err.variable, "PUBLIC_URL");
        assert!(err.message.contains("https"), "{}", err.message);
        for ok in [
            "http://localhost:8000",
            "http://127.0.0.1:9000",
            "http://[::1]:8000",
            "http://app.localhost:8080",
        ] {
            assert!(PublicUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_authority_is_what_a_host_header_says() {
        let url = PublicUrl::parse("http://127.0.0.1:8000").expect("valid");
        assert_eq!(url.authority(), "127.0.0.1:8000");
        let url = PublicUrl::parse("https://auth.example.com").expect("valid");
        assert_eq!(url.authority(), "auth.example.com");
    }

    #[test]
    fn issuers_keep_their_trailing_slash_exactly_as_written() {
        let auth0 = Issuer::parse("https://tenant.auth0.com/").expect("valid");
        assert_eq!(auth0.as_str(), "https://tenant.auth0.com/");
        let google = Issuer::parse("https://accounts.google.com").expect("valid");
        assert_eq!(google.as_str(), "https://accounts.google.com");
        assert!(google.is_google());
        assert!(!auth0.is_google());
    }

    #[test]
    fn http_issuers_only_on_loopback() {
        assert!(Issuer::parse("http://127.0.0.1:9000").is_ok());
        assert_eq!(
            Issuer::parse("http://idp.example.com")
                .expect_err("refused")
                .variable,
            "OIDC_ISSUER_URL"
        );
    }
}
