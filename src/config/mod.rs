//! Typed configuration, read from the environment once at start-up and validated there.
//!
//! Every error names the variable that is wrong and how to fix it, so a newcomer never has to
//! read the source to get the service running. Nothing else in the crate reads the
//! environment, except the two the command line reads for itself: `TOKIO_WORKER_THREADS`
//! (which tokio reads too, so `cli::serve` reads it as tokio does) and `DOORMAN_PASSWORD`
//! (`cli::create_user`, so a password never has to be on a command line). This is the bottom
//! floor: it imports nothing of doorman's above it.

mod claims;
mod database;
mod email_list;
mod file;
mod gateway;
mod policy;
mod provider;
mod provider_blocks;
mod proxies;
mod routes;
mod secrets;
mod store;
mod telemetry;
mod urls;
mod vars;

use std::net::SocketAddr;
use std::time::Duration;

use claims::claims_from;
pub use claims::{ClaimPath, ClaimsConfig, ProviderRefresh};
pub use database::{DatabaseTls, PostgresUrl, is_postgres_url, postgres_url};
pub use email_list::EmailList;
pub use gateway::{
    GatewayConfig, HostPattern, IdentityHeaderSets, Policy, parse_file, parse_policies,
};
pub use provider::{LOCAL_PROVIDER_ID, ProviderConfig, ProviderIds, ProviderSettings};
pub use proxies::{TrustedProxies, canonical};
pub use routes::{ProxyRoute, RouteHost, Upstream};
pub use secrets::{ClientSecret, MIN_SECRET_BYTES, SessionSecret};
pub use store::StoreConfig;
pub use telemetry::{LogFormat, TelemetryConfig};
pub use urls::{GOOGLE_ISSUER, Issuer, PublicUrl, is_https_or_loopback, is_loopback_host};
use vars::Vars;
pub use vars::{ConfigError, VARS, Var, help_table};

#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    /// `[[provider]]` blocks in `DOORMAN_CONFIG`, or the one of `OIDC_ISSUER_URL`,
    /// `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET` (or the built-in provider): never empty, in the
    /// order they are configured.
    pub providers: Vec<ProviderSettings>,
    /// `OIDC_HTTP_TIMEOUT_SECS`: the limit for every call to the identity provider.
    pub provider_timeout: Duration,
    /// `OIDC_SCOPES`, `OIDC_GROUPS_CLAIM`, `ROLE_FROM_GROUPS` (each provider's start from
    /// these), `OIDC_LOGOUT`, `OIDC_REFRESH` (for all).
    pub claims: ClaimsConfig,
    pub session: SessionConfig,
    pub accounts: AccountsConfig,
    /// `ALLOWED_EMAIL_DOMAINS`, `ALLOWED_EMAILS`, `ALLOWED_HOSTED_DOMAINS`.
    pub access: AccessLists,
    pub limits: RateLimits,
    pub telemetry: TelemetryConfig,
    pub gateway: GatewayConfig,
    pub store: StoreConfig,
}

/// How doorman meets its clients.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `BIND_ADDR`: where the server listens.
    pub bind_addr: SocketAddr,
    /// `PUBLIC_URL`: the origin browsers use; the session issuer and the redirect URI base.
    pub public_url: PublicUrl,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `HTTP_HEADER_TIMEOUT_SECS`: to send a request head, and to stay idle between requests.
    pub header_timeout: Duration,
    /// `HTTP_BODY_TIMEOUT_SECS`: the longest pause while a request body arrives.
    pub body_timeout: Duration,
    /// `MAX_CONNECTIONS`: open client connections at most.
    pub max_connections: usize,
    /// `SHUTDOWN_GRACE_SECS`: how long requests in flight may take once a stop is asked.
    pub shutdown_grace: Duration,
    /// `WEBSOCKET_IDLE_SECS`: a proxied WebSocket with no bytes either way for this long closes.
    pub websocket_idle: Duration,
}

/// The session token's key and lifetime.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `SESSION_SECRET`: the HS256 key that signs session tokens (and keys the flow cookie).
    pub secret: SessionSecret,
    /// `SESSION_SECRET_PREVIOUS`: still accepted for verification, so a rotation signs nobody out.
    pub previous: Option<SessionSecret>,
    /// `SESSION_TTL_MINUTES`: the lifetime of a session token and its cookie.
    pub ttl: Duration,
    /// `SESSION_MAX_HOURS`: a browser session renews while it is used, up to this long after
    /// its sign-in.
    pub max_age: Duration,
    /// No `SESSION_SECRET` was given: a random one lives as long as the process.
    pub ephemeral: bool,
}

/// Local accounts, roles and password hashing.
#[derive(Clone, Debug)]
pub struct AccountsConfig {
    /// `DATABASE_URL`: the SQLite accounts store, created and migrated at start.
    pub database_url: String,
    /// `ALLOW_REGISTRATION`: whether `POST /api/register` creates accounts.
    pub allow_registration: bool,
    /// `ADMIN_EMAILS`: verified emails given the `admin` role at first sign-in, lower-cased.
    pub admin_emails: Vec<String>,
    /// `PASSWORD_HASH_CONCURRENCY`: argon2 computations at once.
    pub hash_concurrency: usize,
}

/// Who may sign in (and register): plain data; `oidc::policy` applies it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessLists {
    /// `ALLOWED_EMAILS` and `ALLOWED_EMAIL_DOMAINS`.
    pub email: EmailList,
    /// `ALLOWED_HOSTED_DOMAINS`: Google Workspace domains, from the ID token's `hd` claim.
    pub hosted_domains: Vec<String>,
}

impl AccessLists {
    pub fn is_open(&self) -> bool {
        self.email.is_open() && self.hosted_domains.is_empty()
    }
}

/// Per-client request budgets (token buckets), besides the failure throttle.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    /// `RATE_LIMIT_LOGIN_PER_MINUTE`
    pub login_per_minute: u32,
    /// `RATE_LIMIT_REGISTER_PER_HOUR`
    pub register_per_hour: u32,
    /// `RATE_LIMIT_SIGN_IN_PER_MINUTE`
    pub sign_in_per_minute: u32,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can pass a map instead of touching
    /// the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_vars_env(&Vars::new(&lookup), &lookup)
    }

    #[cfg(test)]
    fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Self::from_vars_env(vars, &|_| None)
    }

    /// As `from_vars`; `env` looks up the variables `client_secret_env` names.
    fn from_vars_env(
        vars: &Vars<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = file::ConfigFile::read(vars)?;
        let claims = claims_from(vars)?;
        let access = AccessLists {
            email: EmailList::new(
                vars.list("ALLOWED_EMAILS"),
                vars.list("ALLOWED_EMAIL_DOMAINS"),
            ),
            hosted_domains: vars.list("ALLOWED_HOSTED_DOMAINS"),
        };
        let accounts = accounts_from(vars, &access)?;
        let defaults = provider::Defaults {
            claims: &claims,
            access: &access,
            admin_emails: &accounts.admin_emails,
        };
        let blocks = match &file {
            Some(file) => provider_blocks::providers(file, &defaults, env)?,
            None => Vec::new(),
        };
        if !blocks.is_empty()
            && let Some(name) = provider::ENV_PROVIDER_VARS
                .iter()
                .find(|name| vars.get(name).is_some())
        {
            return Err(ConfigError::new(
                name,
                "is set, but DOORMAN_CONFIG configures providers in [[provider]] blocks: \
                 configure every provider one way. Move this provider into a [[provider]] \
                 block (client_secret_env names the variable that holds its secret) and \
                 unset OIDC_ISSUER_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and GOOGLE_CLIENT_*",
            ));
        }
        let env_provider = provider::provider_from(vars)?;
        let development = blocks.is_empty() && matches!(env_provider, ProviderConfig::Development);
        let server = server_from(vars, development)?;
        let providers = if blocks.is_empty() {
            vec![provider::env_provider(
                env_provider,
                &server.public_url,
                &defaults,
            )]
        } else {
            blocks
        };
        let session = session_from(vars, development)?;
        let provider_timeout =
            Duration::from_secs(vars.number("OIDC_HTTP_TIMEOUT_SECS", 10, 1..=120)?);
        let limits = RateLimits {
            login_per_minute: limit(vars, "RATE_LIMIT_LOGIN_PER_MINUTE", 20)?,
            register_per_hour: limit(vars, "RATE_LIMIT_REGISTER_PER_HOUR", 10)?,
            sign_in_per_minute: limit(vars, "RATE_LIMIT_SIGN_IN_PER_MINUTE", 60)?,
        };
        let telemetry = telemetry::telemetry_from(vars, server.bind_addr)?;
        let mut gateway = gateway::gateway_from(vars, &server.public_url, file.as_ref())?;
        let ids = ProviderIds::new(&providers, &server.public_url);
        resolve_policy_providers(&mut gateway, &ids, &providers)?;
        let store = store::store_from(vars)?;
        // Read for `--help` and the drift test; `main` applies it to the log subscriber.
        let _ = vars.get("RUST_LOG");
        Ok(Self {
            server,
            providers,
            provider_timeout,
            claims,
            session,
            accounts,
            access,
            limits,
            telemetry,
            gateway,
            store,
        })
    }

    pub fn is_development(&self) -> bool {
        self.providers.iter().any(ProviderSettings::is_development)
    }

    pub fn public_url(&self) -> &PublicUrl {
        &self.server.public_url
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderSettings> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Which provider each session's `idp` stands for.
    pub fn provider_ids(&self) -> ProviderIds {
        ProviderIds::new(&self.providers, &self.server.public_url)
    }
}

/// Checks a whole `DOORMAN_CONFIG` text (`path` for messages) as `serve` reads it: policies,
/// routes, and `[[provider]]` blocks (each `client_secret_env` taken as set), and that every
/// provider a policy names is one of them. For examples, such as the documentation's.
pub fn check_file(path: &str, text: &str) -> Result<(), ConfigError> {
    let (policies, routes) = parse_file(path, text)?;
    let file = file::ConfigFile {
        path: path.to_owned(),
        text: text.to_owned(),
        private: true,
    };
    let claims = ClaimsConfig::default();
    let access = AccessLists::default();
    let defaults = provider::Defaults {
        claims: &claims,
        access: &access,
        admin_emails: &[],
    };
    let providers = provider_blocks::providers(&file, &defaults, &|_| Some("set".into()))?;
    let public_url = PublicUrl::parse("https://doorman.example")?;
    let mut gateway = GatewayConfig {
        policies,
        redirect_hosts: Vec::new(),
        cookie_domain: None,
        signing_keys: None,
        identity_headers: IdentityHeaderSets::default(),
        routes,
    };
    let ids = ProviderIds::new(&providers, &public_url);
    resolve_policy_providers(&mut gateway, &ids, &providers)
}

/// Every provider a policy names is configured (or `local`): each policy learns their
/// issuers. A policy that names groups but no providers, while several providers exist, gets
/// a warning: a group's name means what its provider says, and another provider may use it.
fn resolve_policy_providers(
    gateway: &mut GatewayConfig,
    ids: &ProviderIds,
    providers: &[ProviderSettings],
) -> Result<(), ConfigError> {
    for (name, policy) in &mut gateway.policies {
        let issuers: Vec<Option<&str>> = policy
            .providers
            .iter()
            .map(|id| ids.issuer_of(id))
            .collect();
        if let Some(at) = issuers.iter().position(Option::is_none) {
            let unknown = &policy.providers[at];
            let known: Vec<&str> = providers.iter().map(|p| p.id.as_str()).collect();
            return Err(ConfigError::new(
                "DOORMAN_CONFIG",
                format!(
                    "[gateway.policy.{name}] providers: `{unknown}` is not a configured provider \
                     (configured: {}, and `local` for local accounts)",
                    known.join(", ")
                ),
            ));
        }
        policy.provider_issuers = issuers.into_iter().flatten().map(str::to_owned).collect();
        if providers.len() > 1 && !policy.groups.is_empty() && policy.providers.is_empty() {
            tracing::warn!(
                policy = %name,
                "this policy admits by groups from any provider: with several providers, add \
                 `providers = [...]` so that only the provider whose groups these are can grant them"
            );
        }
    }
    Ok(())
}

fn server_from(vars: &Vars<'_>, development: bool) -> Result<ServerConfig, ConfigError> {
    let bind_addr = match vars.get("BIND_ADDR") {
        None => SocketAddr::from(([127, 0, 0, 1], 8000)),
        Some(raw) => raw.parse().map_err(|_| {
            ConfigError::new(
                "BIND_ADDR",
                format!("`{raw}` is not an address and port; use e.g. 127.0.0.1:8000"),
            )
        })?,
    };
    let public_url = PublicUrl::parse(
        vars.get("PUBLIC_URL")
            .as_deref()
            .unwrap_or("http://localhost:8000"),
    )?;
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
    Ok(ServerConfig {
        bind_addr,
        public_url,
        trusted_proxies: TrustedProxies::parse(&vars.list("TRUSTED_PROXIES"))?,
        header_timeout: Duration::from_secs(vars.number(
            "HTTP_HEADER_TIMEOUT_SECS",
            10,
            1..=300,
        )?),
        body_timeout: Duration::from_secs(vars.number("HTTP_BODY_TIMEOUT_SECS", 30, 1..=3600)?),
        max_connections: usize::try_from(vars.number("MAX_CONNECTIONS", 1024, 1..=100_000)?)
            .unwrap_or(1024),
        shutdown_grace: Duration::from_secs(vars.number("SHUTDOWN_GRACE_SECS", 10, 0..=600)?),
        websocket_idle: Duration::from_secs(vars.number("WEBSOCKET_IDLE_SECS", 300, 1..=86_400)?),
    })
}

fn session_from(vars: &Vars<'_>, development: bool) -> Result<SessionConfig, ConfigError> {
    let (secret, ephemeral) = match vars.get("SESSION_SECRET") {
        Some(raw) => (SessionSecret::parse("SESSION_SECRET", &raw)?, false),
        None if development => (SessionSecret::random(), true),
        None => {
            return Err(ConfigError::new(
                "SESSION_SECRET",
                "is required with a real provider; make one with `openssl rand -base64 48`",
            ));
        }
    };
    let previous = vars
        .get("SESSION_SECRET_PREVIOUS")
        .map(|raw| SessionSecret::parse("SESSION_SECRET_PREVIOUS", &raw))
        .transpose()?;
    let ttl = Duration::from_secs(60 * vars.number("SESSION_TTL_MINUTES", 60, 1..=1440)?);
    let max_age = Duration::from_secs(3600 * vars.number("SESSION_MAX_HOURS", 12, 1..=720)?);
    Ok(SessionConfig {
        secret,
        previous,
        ttl,
        max_age,
        ephemeral,
    })
}

fn accounts_from(vars: &Vars<'_>, access: &AccessLists) -> Result<AccountsConfig, ConfigError> {
    let allow_registration = vars.flag("ALLOW_REGISTRATION", false)?;
    if allow_registration && !access.hosted_domains.is_empty() {
        return Err(ConfigError::new(
            "ALLOW_REGISTRATION",
            "cannot be on together with ALLOWED_HOSTED_DOMAINS: a Workspace domain is proven only \
             by Google's ID token, and a self-registered account has no such proof. Turn \
             registration off, or create local accounts with `doorman create-user`",
        ));
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    let database_url = vars
        .get("DATABASE_URL")
        .unwrap_or_else(|| "doorman.db".to_owned());
    if is_postgres_url(&database_url) {
        postgres_url(&database_url).map_err(|message| ConfigError::new("DATABASE_URL", message))?;
    }
    Ok(AccountsConfig {
        database_url,
        allow_registration,
        admin_emails: vars.list("ADMIN_EMAILS"),
        hash_concurrency: usize::try_from(vars.number(
            "PASSWORD_HASH_CONCURRENCY",
            cores.clamp(1, 64),
            1..=64,
        )?)
        .unwrap_or(2),
    })
}

fn limit(vars: &Vars<'_>, name: &'static str, default: u64) -> Result<u32, ConfigError> {
    Ok(u32::try_from(vars.number(name, default, 1..=10_000)?).unwrap_or(u32::MAX))
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

    fn real_provider(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![
            ("OIDC_CLIENT_ID", "id"),
            ("OIDC_CLIENT_SECRET", "s"),
            ("SESSION_SECRET", STRONG),
        ];
        vars.extend_from_slice(extra);
        vars
    }

    #[test]
    fn no_provider_configured_means_development_mode_with_a_random_secret() {
        let cfg = config(&[]).expect("defaults are valid");
        assert!(cfg.is_development());
        assert!(cfg.session.ephemeral);
        assert_eq!(cfg.server.bind_addr.to_string(), "127.0.0.1:8000");
        let [dev] = cfg.providers.as_slice() else {
            panic!("one provider")
        };
        assert_eq!(dev.id, "dev");
        assert_eq!(
            dev.redirect_uri(cfg.public_url()).as_str(),
            "http://localhost:8000/auth/callback"
        );
        assert_eq!(dev.issuer.as_str(), "http://localhost:8000/dev-oidc");
        assert_eq!(cfg.session.ttl, Duration::from_secs(3600));
    }

    #[test]
    fn development_mode_refuses_a_public_bind_address() {
        let err = config(&[("BIND_ADDR", "0.0.0.0:8000")]).expect_err("refused");
        assert_eq!(err.variable, "BIND_ADDR");
    }

    #[test]
    fn real_provider_without_session_secret_is_refused_with_a_how_to() {
        let err =
            config(&[("OIDC_CLIENT_ID", "id"), ("OIDC_CLIENT_SECRET", "s")]).expect_err("refused");
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
            .expect_err("weak secret refused");
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
        assert_eq!(
            cfg.providers[0].issuer.as_str(),
            "https://accounts.google.com"
        );
        assert_eq!(cfg.providers[0].id, "google");
    }

    #[test]
    fn http_issuer_is_accepted_only_on_loopback() {
        assert!(
            config(&real_provider(&[(
                "OIDC_ISSUER_URL",
                "http://127.0.0.1:9000"
            )]))
            .is_ok()
        );
        let bad = config(&real_provider(&[(
            "OIDC_ISSUER_URL",
            "http://idp.example.com",
        )]));
        assert_eq!(bad.expect_err("refused").variable, "OIDC_ISSUER_URL");
    }

    #[test]
    fn an_http_public_url_off_loopback_is_refused_even_with_a_real_provider() {
        let err = config(&real_provider(&[("PUBLIC_URL", "http://auth.example.com")]))
            .expect_err("refused");
        assert_eq!(err.variable, "PUBLIC_URL");
        assert!(
            config(&real_provider(&[(
                "PUBLIC_URL",
                "https://auth.example.com"
            )]))
            .is_ok()
        );
    }

    #[test]
    fn ttl_out_of_range_names_the_variable() {
        let err = config(&[("SESSION_TTL_MINUTES", "0")]).expect_err("refused");
        assert_eq!(err.variable, "SESSION_TTL_MINUTES");
    }

    #[test]
    fn registration_is_off_unless_switched_on() {
        let cfg =
            config(&[("ADMIN_EMAILS", " Ada@Example.com, ,grace@example.com")]).expect("valid");
        assert_eq!(cfg.accounts.database_url, "doorman.db");
        assert!(!cfg.accounts.allow_registration, "off by default");
        assert_eq!(
            cfg.accounts.admin_emails,
            ["ada@example.com", "grace@example.com"]
        );
        assert!(
            config(&[("ALLOW_REGISTRATION", "on")])
                .expect("valid")
                .accounts
                .allow_registration
        );
        let err = config(&[("ALLOW_REGISTRATION", "maybe")]).expect_err("refused");
        assert_eq!(err.variable, "ALLOW_REGISTRATION");
    }

    #[test]
    fn registration_cannot_be_combined_with_a_hosted_domain_allow_list() {
        let err = config(&real_provider(&[
            ("ALLOW_REGISTRATION", "true"),
            ("ALLOWED_HOSTED_DOMAINS", "example.com"),
        ]))
        .expect_err("refused");
        assert_eq!(err.variable, "ALLOW_REGISTRATION");
        assert!(
            err.message.contains("ALLOWED_HOSTED_DOMAINS"),
            "{}",
            err.message
        );
    }

    #[test]
    fn trusted_proxies_are_parsed_and_bad_entries_named() {
        let cfg = config(&[("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]).expect("valid");
        assert!(
            cfg.server
                .trusted_proxies
                .contains("10.9.8.7".parse().expect("ip"))
        );
        let err = config(&[("TRUSTED_PROXIES", "10.0.0.0/99")]).expect_err("refused");
        assert_eq!(err.variable, "TRUSTED_PROXIES");
    }

    fn config_file(text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("doorman-config-{}.toml", crate::random::token_id()));
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    }

    const TWO: &str = "[[provider]]\nid = \"corp\"\nissuer = \"https://sso.corp.example\"\n\
                       client_id = \"d\"\nclient_secret_env = \"CORP\"\n\
                       [[provider]]\nid = \"partner\"\nissuer = \"https://id.partner.example\"\n\
                       client_id = \"d\"\nclient_secret_env = \"CORP\"\n";

    #[test]
    fn provider_blocks_replace_the_environments_provider_and_mixing_the_two_is_refused() {
        let path = config_file(&format!(
            "{TWO}[gateway.policy.staff]\nproviders = [\"corp\", \"local\"]\n"
        ));
        let base = [
            ("DOORMAN_CONFIG", path.as_str()),
            ("CORP", "secret"),
            ("SESSION_SECRET", STRONG),
        ];
        let cfg = config(&base).expect("valid");
        let ids: Vec<&str> = cfg.providers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["corp", "partner"]);
        assert!(!cfg.is_development());
        assert_eq!(
            cfg.gateway.policies["staff"].provider_issuers,
            ["https://sso.corp.example", "http://localhost:8000"]
        );
        assert_eq!(
            cfg.provider_ids().of("https://id.partner.example"),
            "partner"
        );
        assert_eq!(cfg.provider_ids().of("http://localhost:8000"), "local");

        for var in ["OIDC_CLIENT_ID", "GOOGLE_CLIENT_ID", "OIDC_ISSUER_URL"] {
            let mut mixed = base.to_vec();
            mixed.push((var, "x"));
            mixed.push(("OIDC_CLIENT_SECRET", "y"));
            let err = config(&mixed).expect_err("mixed");
            assert!(err.message.contains("[[provider]]"), "{}", err.message);
        }
    }

    #[test]
    fn a_policy_naming_a_provider_that_is_not_configured_is_refused() {
        let path = config_file(&format!(
            "{TWO}[gateway.policy.x]\nproviders = [\"crop\"]\n"
        ));
        let err = config(&[
            ("DOORMAN_CONFIG", path.as_str()),
            ("CORP", "secret"),
            ("SESSION_SECRET", STRONG),
        ])
        .expect_err("refused");
        assert!(
            err.message.contains("`crop` is not a configured provider"),
            "{}",
            err.message
        );
        assert!(err.message.contains("corp, partner"), "{}", err.message);
    }

    #[test]
    fn every_variable_read_is_in_the_help_table_and_every_listed_one_is_read() {
        let lookup = |_: &str| None;
        let vars = Vars::new(&lookup);
        Config::from_vars(&vars).expect("defaults are valid");
        let read = vars.names_read();
        let listed: std::collections::BTreeSet<&str> = VARS.iter().map(|v| v.name).collect();
        assert_eq!(read, listed, "config::VARS and the parser disagree");
        let help = help_table();
        for v in VARS {
            assert!(help.contains(v.name), "{} missing from --help", v.name);
        }
    }
}
