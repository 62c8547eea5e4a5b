//! Typed configuration, read from the environment once at start-up and validated there.
//!
//! Every error names the variable that is wrong and how to fix it, so a newcomer never has to
//! read the source to get the service running. Nothing else in the crate reads the environment.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use url::{Host, Url};

use crate::oidc::policy::AccessPolicy;

/// Google's issuer: the default provider when client credentials are configured.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The shortest session secret accepted: HS256 wants a key at least as long as its output.
pub const MIN_SECRET_BYTES: usize = 32;

/// Secrets that have appeared in documentation or examples; refusing them stops a copy-paste
/// deployment from signing sessions with a key the whole internet knows.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "replace-me-with-the-output-of-openssl-rand-base64-48",
    "change-me-change-me-change-me-change-me",
    "changemechangemechangemechangeme",
    "secretsecretsecretsecretsecretsecret",
    "your-256-bit-secret",
    "your-secret-key-your-secret-key-your-secret-key",
];

#[derive(Clone)]
pub struct Config {
    /// `BIND_ADDR`: where the server listens.
    pub bind_addr: SocketAddr,
    /// `PUBLIC_URL`: the origin browsers use; the session issuer and the redirect URI base.
    pub public_url: PublicUrl,
    /// `OIDC_ISSUER_URL`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET` (or the built-in provider).
    pub provider: ProviderConfig,
    /// `SESSION_SECRET`: the HS256 key that signs session tokens and encrypts the flow cookie.
    pub session_secret: SessionSecret,
    /// `SESSION_SECRET_PREVIOUS`: still accepted for verification, so a rotation signs nobody out.
    pub previous_session_secret: Option<SessionSecret>,
    /// `SESSION_TTL_MINUTES`: the lifetime of a session token and its cookie.
    pub session_ttl: Duration,
    /// `OIDC_HTTP_TIMEOUT_SECS`: the limit for every call to the identity provider.
    pub provider_timeout: Duration,
    /// `DATABASE_URL`: the SQLite accounts store, created and migrated at start.
    pub database_url: String,
    /// `ALLOW_REGISTRATION`: whether `POST /api/register` creates accounts.
    pub allow_registration: bool,
    /// `ADMIN_EMAILS`: verified emails that are given the `admin` role, lower-cased.
    pub admin_emails: Vec<String>,
    /// `ALLOWED_EMAIL_DOMAINS`, `ALLOWED_EMAILS`, `ALLOWED_HOSTED_DOMAINS`: who may sign in
    /// through the provider.
    pub access_policy: AccessPolicy,
}

#[derive(Clone)]
pub enum ProviderConfig {
    /// A real OpenID provider found by discovery.
    External {
        issuer: Url,
        client_id: String,
        client_secret: ClientSecret,
    },
    /// The built-in development provider, served by this process under `/dev-oidc`.
    Development,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can pass a map instead of touching
    /// the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let bind_addr = match get("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8000)),
            Some(raw) => raw.parse().map_err(|_| {
                ConfigError::new(
                    "BIND_ADDR",
                    format!("`{raw}` is not an address and port; use e.g. 127.0.0.1:8000"),
                )
            })?,
        };
        let public_url = PublicUrl::parse(
            get("PUBLIC_URL")
                .as_deref()
                .unwrap_or("http://localhost:8000"),
        )?;

        let client_id = get("OIDC_CLIENT_ID").or_else(|| get("GOOGLE_CLIENT_ID"));
        let client_secret = get("OIDC_CLIENT_SECRET").or_else(|| get("GOOGLE_CLIENT_SECRET"));
        let provider = match (client_id, client_secret) {
            (None, None) => {
                if get("OIDC_ISSUER_URL").is_some() {
                    return Err(ConfigError::new(
                        "OIDC_CLIENT_ID",
                        "OIDC_ISSUER_URL is set but no client is: set OIDC_CLIENT_ID and \
                         OIDC_CLIENT_SECRET from your provider's client registration",
                    ));
                }
                ProviderConfig::Development
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "OIDC_CLIENT_SECRET",
                    "OIDC_CLIENT_ID is set but its secret is missing: copy the client secret \
                     from your provider (Google: APIs & Services → Credentials)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "OIDC_CLIENT_ID",
                    "OIDC_CLIENT_SECRET is set but the client id is missing",
                ));
            }
            (Some(client_id), Some(secret)) => ProviderConfig::External {
                issuer: parse_issuer(get("OIDC_ISSUER_URL").as_deref().unwrap_or(GOOGLE_ISSUER))?,
                client_id,
                client_secret: ClientSecret(secret),
            },
        };

        let development = matches!(provider, ProviderConfig::Development);
        if development {
            if !bind_addr.ip().is_loopback() {
                return Err(ConfigError::new(
                    "BIND_ADDR",
                    format!(
                        "the built-in development provider only listens on loopback, not {bind_addr}; \
                         use 127.0.0.1:8000, or configure a real provider with OIDC_CLIENT_ID and \
                         OIDC_CLIENT_SECRET"
                    ),
                ));
            }
            if !public_url.is_loopback() {
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    "the built-in development provider only serves loopback URLs \
                     (http://localhost:8000 or http://127.0.0.1:8000)",
                ));
            }
        }

        let session_secret = match get("SESSION_SECRET") {
            Some(raw) => SessionSecret::parse("SESSION_SECRET", &raw)?,
            None if development => SessionSecret::random(),
            None => {
                return Err(ConfigError::new(
                    "SESSION_SECRET",
                    "is required with a real provider; make one with `openssl rand -base64 48`",
                ));
            }
        };
        let previous_session_secret = get("SESSION_SECRET_PREVIOUS")
            .map(|raw| SessionSecret::parse("SESSION_SECRET_PREVIOUS", &raw))
            .transpose()?;

        let session_ttl = Duration::from_secs(
            60 * parse_number(
                "SESSION_TTL_MINUTES",
                get("SESSION_TTL_MINUTES"),
                60,
                1..=1440,
            )?,
        );
        let provider_timeout = Duration::from_secs(parse_number(
            "OIDC_HTTP_TIMEOUT_SECS",
            get("OIDC_HTTP_TIMEOUT_SECS"),
            10,
            1..=120,
        )?);

        let database_url = get("DATABASE_URL").unwrap_or_else(|| "doorman.db".to_owned());
        let allow_registration = match get("ALLOW_REGISTRATION").map(|v| v.to_ascii_lowercase()) {
            None => true,
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
            Some(v) => {
                return Err(ConfigError::new(
                    "ALLOW_REGISTRATION",
                    format!("`{v}` is not true or false"),
                ));
            }
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|list| {
                    list.split(',')
                        .map(|e| e.trim().to_ascii_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let admin_emails = list("ADMIN_EMAILS");
        let access_policy = AccessPolicy {
            email_domains: list("ALLOWED_EMAIL_DOMAINS")
                .into_iter()
                .map(|d| d.trim_start_matches('@').to_owned())
                .collect(),
            emails: list("ALLOWED_EMAILS"),
            hosted_domains: list("ALLOWED_HOSTED_DOMAINS"),
        };

        Ok(Self {
            bind_addr,
            public_url,
            provider,
            session_secret,
            previous_session_secret,
            session_ttl,
            provider_timeout,
            database_url,
            allow_registration,
            admin_emails,
            access_policy,
        })
    }

    pub fn is_development(&self) -> bool {
        matches!(self.provider, ProviderConfig::Development)
    }

    /// The issuer the relying party talks to: the configured one, or the built-in provider's.
    pub fn issuer_url(&self) -> Url {
        match &self.provider {
            ProviderConfig::External { issuer, .. } => issuer.clone(),
            ProviderConfig::Development => self.public_url.join("/dev-oidc"),
        }
    }

    /// The exact redirect URI registered at the provider; never derived from request headers.
    pub fn redirect_uri(&self) -> Url {
        self.public_url.join("/auth/callback")
    }
}

fn parse_number(
    name: &str,
    raw: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            name,
            format!(
                "`{raw}` is not a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// An issuer must be https; plain http is allowed only for a provider on this machine.
fn parse_issuer(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|_| {
        ConfigError::new(
            "OIDC_ISSUER_URL",
            format!("`{raw}` is not a URL; use e.g. {GOOGLE_ISSUER}"),
        )
    })?;
    let secure = url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(&url));
    if !secure {
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
    Ok(url)
}

pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The origin browsers reach doorman at, without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    url: Url,
    origin: String,
}

impl PublicUrl {
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
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                "PUBLIC_URL",
                "must be an origin only (scheme, host, port), e.g. https://auth.example.com",
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

/// The session signing key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SessionSecret(Vec<u8>);

impl SessionSecret {
    pub fn parse(variable: &str, raw: &str) -> Result<Self, ConfigError> {
        let how = "make one with `openssl rand -base64 48`";
        if raw.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                variable,
                format!(
                    "is {} bytes; it needs at least {MIN_SECRET_BYTES}: {how}",
                    raw.len()
                ),
            ));
        }
        let distinct = raw.bytes().collect::<std::collections::BTreeSet<_>>().len();
        let well_known = WELL_KNOWN_SECRETS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(raw));
        if well_known || distinct < 8 {
            return Err(ConfigError::new(
                variable,
                format!("is a well-known or low-entropy value: {how}"),
            ));
        }
        Ok(Self(raw.as_bytes().to_vec()))
    }

    /// A fresh random secret: sessions made with it end when the process does.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = vec![0u8; 48];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

/// The OAuth client secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(pub String);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// A configuration problem, naming the variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const STRONG: &str = "Zq3v9Jb1xK7mN2pR5sT8uW0yA4cE6gH1jL3nP5rS7tV9xZ";

    #[test]
    fn no_provider_configured_means_development_mode_with_a_random_secret() {
        let cfg = config(&[]).expect("defaults are valid");
        assert!(cfg.is_development());
        assert_eq!(cfg.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(
            cfg.redirect_uri().as_str(),
            "http://localhost:8000/auth/callback"
        );
        assert_eq!(cfg.issuer_url().as_str(), "http://localhost:8000/dev-oidc");
        assert_eq!(cfg.session_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn development_mode_refuses_a_public_bind_address() {
        let err = config(&[("BIND_ADDR", "0.0.0.0:8000")])
            .err()
            .expect("refused");
        assert_eq!(err.variable, "BIND_ADDR");
    }

    #[test]
    fn real_provider_without_session_secret_is_refused_with_a_how_to() {
        let err = config(&[("OIDC_CLIENT_ID", "id"), ("OIDC_CLIENT_SECRET", "s")])
            .err()
            .expect("refused");
        assert_eq!(err.variable, "SESSION_SECRET");
        assert!(err.message.contains("openssl rand -base64 48"));
    }

    #[test]
    fn short_and_well_known_secrets_are_refused() {
        for weak in [
            "short",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "replace-me-with-the-output-of-openssl-rand-base64-48",
        ] {
            let err = config(&[
                ("OIDC_CLIENT_ID", "id"),
                ("OIDC_CLIENT_SECRET", "s"),
                ("SESSION_SECRET", weak),
            ])
            .err()
            .expect("weak secret refused");
            assert_eq!(err.variable, "SESSION_SECRET", "{weak}");
        }
    }

    #[test]
    fn google_variable_names_are_accepted_and_google_is_the_default_issuer() {
        let cfg = config(&[
            ("GOOGLE_CLIENT_ID", "abc.apps.googleusercontent.com"),
            ("GOOGLE_CLIENT_SECRET", "GOCSPX-x"),
            ("SESSION_SECRET", STRONG),
        ])
        .expect("valid");
        assert!(!cfg.is_development());
        assert_eq!(cfg.issuer_url().as_str(), "https://accounts.google.com/");
    }

    #[test]
    fn http_issuer_is_accepted_only_on_loopback() {
        let base = [
            ("OIDC_CLIENT_ID", "id"),
            ("OIDC_CLIENT_SECRET", "s"),
            ("SESSION_SECRET", STRONG),
        ];
        let mut ok = base.to_vec();
        ok.push(("OIDC_ISSUER_URL", "http://127.0.0.1:9000"));
        assert!(config(&ok).is_ok());
        let mut bad = base.to_vec();
        bad.push(("OIDC_ISSUER_URL", "http://idp.example.com"));
        assert_eq!(
            config(&bad).err().expect("refused").variable,
            "OIDC_ISSUER_URL"
        );
    }

    #[test]
    fn public_url_must_be_an_origin() {
        assert!(PublicUrl::parse("https://auth.example.com/app").is_err());
        assert!(PublicUrl::parse("ftp://example.com").is_err());
        let url = PublicUrl::parse("https://auth.example.com/").expect("valid");
        assert_eq!(url.origin(), "https://auth.example.com");
        assert!(url.is_https());
    }

    #[test]
    fn ttl_out_of_range_names_the_variable() {
        let err = config(&[("SESSION_TTL_MINUTES", "0")])
            .err()
            .expect("refused");
        assert_eq!(err.variable, "SESSION_TTL_MINUTES");
    }

    #[test]
    fn accounts_settings_have_defaults_and_are_validated() {
        let cfg =
            config(&[("ADMIN_EMAILS", " Ada@Example.com, ,grace@example.com")]).expect("valid");
        assert_eq!(cfg.database_url, "doorman.db");
        assert!(cfg.allow_registration);
        assert_eq!(cfg.admin_emails, ["ada@example.com", "grace@example.com"]);
        assert!(
            !config(&[("ALLOW_REGISTRATION", "off")])
                .expect("valid")
                .allow_registration
        );
        let err = config(&[("ALLOW_REGISTRATION", "maybe")])
            .err()
            .expect("refused");
        assert_eq!(err.variable, "ALLOW_REGISTRATION");
    }

    #[test]
    fn secret_debug_output_is_redacted() {
        let secret = SessionSecret::parse("SESSION_SECRET", STRONG).expect("strong");
        assert!(!format!("{secret:?}").contains("Zq3v"));
    }
}
