//! Every environment variable doorman reads, with its default and meaning, in one table: the
//! parser reads only names listed here and `doorman --help` prints this table, so the two cannot
//! drift. Also the small typed readers (`number`, `flag`, `list`) the parser is built from.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// One configuration variable as `doorman --help` shows it.
#[derive(Debug)]
pub struct Var {
    pub name: &'static str,
    /// The default as a person would write it; empty when there is none.
    pub default: &'static str,
    pub help: &'static str,
}

const fn var(name: &'static str, default: &'static str, help: &'static str) -> Var {
    Var {
        name,
        default,
        help,
    }
}

/// The whole configuration surface, in the order `--help` and `.env.example` present it.
pub const VARS: &[Var] = &[
    var(
        "BIND_ADDR",
        "127.0.0.1:8000",
        "address and port to listen on",
    ),
    var(
        "PUBLIC_URL",
        "http://localhost:8000",
        "the origin browsers use; https unless the host is loopback",
    ),
    var(
        "OIDC_ISSUER_URL",
        "https://accounts.google.com",
        "the OpenID provider's issuer, exactly as it writes it (discovery)",
    ),
    var(
        "OIDC_CLIENT_ID",
        "",
        "the OAuth client; unset = development provider",
    ),
    var("GOOGLE_CLIENT_ID", "", "alias of OIDC_CLIENT_ID"),
    var("OIDC_CLIENT_SECRET", "", "the OAuth client's secret"),
    var("GOOGLE_CLIENT_SECRET", "", "alias of OIDC_CLIENT_SECRET"),
    var(
        "OIDC_HTTP_TIMEOUT_SECS",
        "10",
        "time limit for each call to the provider (1-120)",
    ),
    var(
        "OIDC_SCOPES",
        "openid email profile",
        "scopes asked of the provider (space- or comma-separated); openid is always sent",
    ),
    var(
        "OIDC_GROUPS_CLAIM",
        "groups",
        "the provider's groups claim: a name, or a JSON pointer (/realm_access/roles); set, UserInfo is asked when the ID token lacks it",
    ),
    var(
        "ROLE_FROM_GROUPS",
        "",
        "doorman roles granted by provider groups, comma-separated role=group (admin=platform-admins,ops=sre)",
    ),
    var(
        "OIDC_REFRESH",
        "false",
        "keep the provider's refresh token (offline_access; Google: access_type=offline) and recheck sessions with it",
    ),
    var(
        "OIDC_RECHECK_MINUTES",
        "15",
        "with OIDC_REFRESH, a renewal this long after the last check refreshes at the provider first (1-1440)",
    ),
    var(
        "OIDC_RECHECK_STRICT",
        "false",
        "with OIDC_REFRESH, a provider that cannot be reached at a recheck ends the session at once",
    ),
    var(
        "OIDC_LOGOUT",
        "provider",
        "provider: signing out also signs out at the provider when it advertises end_session_endpoint; local: doorman only",
    ),
    var(
        "SESSION_SECRET",
        "random in development",
        "HS256 key for session tokens, at least 32 bytes",
    ),
    var(
        "SESSION_SECRET_PREVIOUS",
        "",
        "the previous secret during a rotation: verifies, never signs",
    ),
    var(
        "SESSION_TTL_MINUTES",
        "60",
        "session token and cookie lifetime (1-1440)",
    ),
    var(
        "SESSION_MAX_HOURS",
        "12",
        "a browser session renews while used, up to this long after sign-in; then sign in again (1-720)",
    ),
    var(
        "DATABASE_URL",
        "doorman.db",
        "the store: a SQLite path or sqlite:// URL, or postgres://… for several instances",
    ),
    var(
        "DATABASE_POOL_SIZE",
        "8",
        "PostgreSQL connections per instance, plus one that listens (1-256)",
    ),
    var(
        "DATABASE_CA_FILE",
        "Mozilla's roots",
        "CA certificates (PEM) for TLS to PostgreSQL (sslmode=require verifies)",
    ),
    var(
        "REVOCATION_POLL_SECS",
        "5",
        "how often each instance re-reads revocations, repairing missed notifications (1-300)",
    ),
    var(
        "REVOCATION_MAX_STALENESS_SECS",
        "",
        "strict mode: 503 on signed-in requests once the revocation set is older than this",
    ),
    var(
        "ALLOW_REGISTRATION",
        "false",
        "whether POST /api/register creates local accounts",
    ),
    var(
        "ALLOWED_EMAIL_DOMAINS",
        "",
        "comma-separated email domains allowed to sign in (and register)",
    ),
    var(
        "ALLOWED_EMAILS",
        "",
        "comma-separated emails allowed to sign in (and register)",
    ),
    var(
        "ALLOWED_HOSTED_DOMAINS",
        "",
        "comma-separated Google Workspace domains (the ID token's hd)",
    ),
    var(
        "ADMIN_EMAILS",
        "",
        "verified emails given the admin role at their first sign-in",
    ),
    var(
        "PASSWORD_HASH_CONCURRENCY",
        "the number of cores",
        "password hashes computed at once; others wait, then get 503 (1-64)",
    ),
    var(
        "TRUSTED_PROXIES",
        "",
        "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed",
    ),
    var(
        "HTTP_HEADER_TIMEOUT_SECS",
        "10",
        "time a client has to send a request head; also the idle keep-alive limit (1-300)",
    ),
    var(
        "HTTP_BODY_TIMEOUT_SECS",
        "30",
        "longest pause allowed while a request body arrives (1-3600)",
    ),
    var(
        "MAX_CONNECTIONS",
        "1024",
        "open client connections at most; more wait to be accepted (1-100000)",
    ),
    var(
        "WEBSOCKET_IDLE_SECS",
        "300",
        "a proxied WebSocket with no bytes either way for this long is closed (1-86400)",
    ),
    var(
        "RATE_LIMIT_LOGIN_PER_MINUTE",
        "20",
        "password sign-in attempts per client address per minute (1-10000)",
    ),
    var(
        "RATE_LIMIT_REGISTER_PER_HOUR",
        "10",
        "registrations per client address per hour (1-10000)",
    ),
    var(
        "RATE_LIMIT_SIGN_IN_PER_MINUTE",
        "60",
        "provider sign-in starts and callbacks per client address per minute (1-10000)",
    ),
    var(
        "DOORMAN_CONFIG",
        "",
        "a TOML file of gateway policies ([gateway.policy.NAME]), proxy routes ([[gateway.route]]) and providers ([[provider]], several at once)",
    ),
    var(
        "ALLOWED_REDIRECT_HOSTS",
        "PUBLIC_URL's host",
        "comma-separated hosts (`app.example.com`, `*.example.com`, `:port` exact) sign-in may return to",
    ),
    var(
        "COOKIE_DOMAIN",
        "",
        "share the session across subdomains: `__Secure-access_token; Domain=<this>` (https only)",
    ),
    var(
        "UPSTREAM_SIGNING_KEYS_FILE",
        "derived from SESSION_SECRET",
        "PEM P-256 keys for X-Doorman-Jwt-Assertion: the first signs, all are published",
    ),
    var(
        "IDENTITY_HEADERS",
        "doorman",
        "identity header names sent upstream: doorman, authelia, oauth2-proxy (comma-separated)",
    ),
    var(
        "SHUTDOWN_GRACE_SECS",
        "10",
        "on SIGTERM/SIGINT, how long requests in flight may take to finish (0-600)",
    ),
    var(
        "METRICS_ADDR",
        "",
        "address and port for GET /metrics (Prometheus); unset = off. Never BIND_ADDR",
    ),
    var(
        "LOG_FORMAT",
        "json, or pretty on a terminal",
        "json (one object per line) or pretty (colour only on a terminal)",
    ),
    var(
        "LOG_HEALTH_CHECKS",
        "false",
        "whether /healthz and /readyz requests get an access-log line",
    ),
    var(
        "RUST_LOG",
        "doorman=info",
        "log filter (tracing EnvFilter); secrets are never logged",
    ),
];

/// A configuration problem, naming the variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            message: message.into(),
        }
    }
}

/// Typed access to the variables through a lookup function, so tests pass a map instead of
/// touching the process environment. Records which names were read (see the drift test).
pub(crate) struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    read: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Vars<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            read: RefCell::default(),
        }
    }

    /// The trimmed, non-empty value of `name`.
    pub(crate) fn get(&self, name: &'static str) -> Option<String> {
        debug_assert!(
            VARS.iter().any(|v| v.name == name),
            "{name} is read but missing from config::VARS"
        );
        self.read.borrow_mut().insert(name);
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn number(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
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

    pub(crate) fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("`{v}` is not true or false"),
            )),
        }
    }

    /// A comma-separated list, each item trimmed and lower-cased, empty items dropped.
    pub(crate) fn list(&self, name: &'static str) -> Vec<String> {
        self.get(name)
            .map(|list| {
                list.split(',')
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The names read so far.
    #[cfg(test)]
    pub(crate) fn names_read(&self) -> BTreeSet<&'static str> {
        self.read.borrow().clone()
    }
}

/// `doorman --help`'s table of variables.
pub fn help_table() -> String {
    let width = VARS.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for v in VARS {
        let default = if v.default.is_empty() {
            String::new()
        } else {
            format!(" (default: {})", v.default)
        };
        out.push_str(&format!(
            "  {:width$}  {}{default}\n",
            v.name,
            v.help,
            width = width
        ));
    }
    out
}
