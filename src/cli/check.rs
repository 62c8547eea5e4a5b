//! `doorman check`: what a deploy pipeline runs before switching traffic. It validates the
//! configuration, says how the connection to PostgreSQL is protected (TLS, or why not), opens
//! and migrates (or checks) the store with the settings `serve` uses, verifies the redirect
//! URI's shape, runs provider discovery and fetches the provider's keys, says what the provider
//! offers for sign-out, back-channel logout and refresh tokens (and what to register for them),
//! printing one line per check; it exits 0 only when every check passes (1 when one fails, 2 when the configuration
//! is unusable).

use std::process::ExitCode;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, DatabaseTls, ProviderConfig, ProviderSettings};
use crate::oidc::http::ProviderHttp;
use crate::oidc::metadata::SessionFeatures;
use crate::oidc::provider::ProviderHandle;
use crate::store::{PgSettings, Store};
use crate::telemetry::Metrics;

/// The outcome of one check, as printed.
struct Verdict {
    failed: bool,
    /// The provider the lines are about, when there are several.
    scope: Option<String>,
}

impl Verdict {
    fn line(&mut self, check: &str, outcome: Result<String, String>) {
        // A provider's lines start with its id, and stay aligned among themselves.
        let (check, width) = match &self.scope {
            Some(id) => (format!("{id} {check}"), 15 + id.len()),
            None => (check.to_owned(), 14),
        };
        match outcome {
            Ok(detail) => println!("ok    {check:<width$} {detail}"),
            Err(detail) => {
                self.failed = true;
                println!("FAIL  {check:<width$} {detail}");
            }
        }
    }
}

pub async fn check(config: Result<Config, ConfigError>) -> ExitCode {
    let mut verdict = Verdict {
        failed: false,
        scope: None,
    };
    let config = match config {
        Ok(config) => {
            verdict.line("configuration", Ok(describe(&config)));
            config
        }
        Err(err) => {
            verdict.line("configuration", Err(err.to_string()));
            println!(
                "doorman check: the configuration must be fixed before anything else is checked"
            );
            return ExitCode::from(2);
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if let Some(mode) = database_tls(&config) {
        verdict.line("database TLS", Ok(mode));
    }
    verdict.line("store", store(&config, clock.now()).await);
    let several = config.providers.len() > 1;
    for settings in &config.providers {
        // With several providers, each one's lines start with its id.
        verdict.scope = several.then(|| settings.id.clone());
        check_provider(&mut verdict, &config, settings, &clock).await;
    }
    verdict.scope = None;
    if verdict.failed {
        println!("doorman check: some checks failed");
        ExitCode::from(1)
    } else {
        println!("doorman check: all checks passed");
        ExitCode::SUCCESS
    }
}

/// One provider's lines: its redirect URI, then discovery, keys and what it offers.
async fn check_provider(
    verdict: &mut Verdict,
    config: &Config,
    settings: &ProviderSettings,
    clock: &Arc<dyn Clock>,
) {
    verdict.line("redirect URI", redirect_uri(config, settings));
    let ProviderConfig::External {
        client_id,
        client_secret,
        ..
    } = &settings.source
    else {
        verdict.line(
            "provider",
            Ok(
                "the built-in development provider (served by doorman itself; nothing to reach)"
                    .into(),
            ),
        );
        return;
    };
    match ProviderHttp::new(config.provider_timeout, Metrics::new(), "check") {
        Ok(http) => {
            let handle = ProviderHandle::new(
                settings.issuer.clone(),
                client_id.clone(),
                client_secret.expose().to_owned(),
                &settings.redirect_uri(config.public_url()),
                http,
                clock.clone(),
            );
            provider(verdict, &handle, config, clock.now()).await;
        }
        Err(err) => verdict.line("provider", Err(format!("no HTTP client: {err}"))),
    }
}

fn describe(config: &Config) -> String {
    let provider = match config.providers.as_slice() {
        [one] if one.is_development() => "development provider".to_owned(),
        [one] => format!("issuer {}", one.issuer),
        several => format!(
            "providers {}",
            several
                .iter()
                .map(|p| format!("{} ({})", p.id, p.issuer))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "public URL {}, listening on {}, {provider}",
        config.public_url(),
        config.server.bind_addr
    )
}

/// The PostgreSQL settings `serve` would use (its CA file above all), for one connection.
fn pg_settings(config: &Config) -> PgSettings {
    PgSettings {
        pool_size: 1,
        ca_file: config.store.ca_file.clone(),
        application_name: "doorman-check".into(),
    }
}

async fn store(config: &Config, now: u64) -> Result<String, String> {
    let url = crate::store::redacted(&config.accounts.database_url);
    let store = Store::open_with(&config.accounts.database_url, now, &pg_settings(config))
        .map_err(|err| format!("cannot open `{url}`: {err}"))?;
    store
        .migrate(now)
        .await
        .map_err(|err| format!("`{url}` cannot be migrated: {err}"))?;
    store
        .ping()
        .await
        .map_err(|err| format!("`{url}` does not answer: {err}"))?;
    Ok(format!("`{url}` opened, schema current"))
}

/// The effective TLS mode to PostgreSQL (`None` for SQLite), whatever the store answered.
fn database_tls(config: &Config) -> Option<String> {
    let url = &config.accounts.database_url;
    if !crate::store::is_postgres_url(url) {
        return None;
    }
    // The configuration was validated, so the URL parses; the rule is the store's own.
    let mode = crate::config::postgres_url(url).ok()?.tls;
    let roots = match (&config.store.ca_file, mode) {
        (Some(file), DatabaseTls::Required) => format!(", trusting DATABASE_CA_FILE `{file}`"),
        (None, DatabaseTls::Required) => ", trusting the Mozilla roots".into(),
        _ => String::new(),
    };
    Some(format!("{}{roots}", mode.describe()))
}

/// What the provider offers for following its sessions, and what to register for it;
/// informational: a provider without any of it still works.
fn provider_sessions(verdict: &mut Verdict, features: &SessionFeatures, config: &Config) {
    let origin = config.public_url().origin();
    let sign_out = match (
        &features.end_session_endpoint,
        config.claims.logout_at_provider,
    ) {
        (Some(url), true) => format!(
            "at the provider too ({url}); register {origin}/auth/signed-out as a post-logout redirect URI"
        ),
        (Some(url), false) => format!("local only (OIDC_LOGOUT=local; the provider offers {url})"),
        (None, _) => "local only (the provider advertises no end_session_endpoint)".into(),
    };
    verdict.line("sign-out", Ok(sign_out));
    let back_channel = match (
        features.backchannel_logout,
        features.backchannel_logout_session,
    ) {
        (true, session) => format!(
            "supported{}; register {origin}/auth/backchannel-logout as the backchannel_logout_uri",
            if session {
                ", with sid"
            } else {
                ", by sub only"
            }
        ),
        (false, _) => format!(
            "not advertised (sessions end at their expiry; {origin}/auth/backchannel-logout still accepts logout tokens)"
        ),
    };
    verdict.line("back-channel", Ok(back_channel));
    let refresh = match (features.refresh_tokens, features.offline_access) {
        (true, true) => "offered (refresh_token grant, offline_access scope)",
        (true, false) => "offered (refresh_token grant; no offline_access scope advertised)",
        (false, true) => "offline_access scope advertised, refresh_token grant not listed",
        (false, false) => "not advertised",
    };
    verdict.line("refresh tokens", Ok(refresh.into()));
}

/// The redirect URI doorman sends is `PUBLIC_URL` + the provider's callback path, exactly;
/// it must be https (or http on loopback) with no query or fragment, as the provider will
/// compare it.
fn redirect_uri(config: &Config, settings: &ProviderSettings) -> Result<String, String> {
    let uri = settings.redirect_uri(config.public_url());
    if uri.query().is_some() || uri.fragment().is_some() {
        return Err(format!("{uri} carries a query or fragment"));
    }
    if !crate::config::is_https_or_loopback(&uri) {
        return Err(format!("{uri} is not https"));
    }
    Ok(format!("{uri} (register exactly this at the provider)"))
}

async fn provider(verdict: &mut Verdict, handle: &ProviderHandle, config: &Config, now: u64) {
    match handle.discover_now().await {
        Ok(provider) => {
            let token = provider
                .metadata
                .token_endpoint()
                .map_or("none".to_owned(), |u| u.to_string());
            verdict.line(
                "discovery",
                Ok(format!("{} (token endpoint {token})", handle.issuer())),
            );
            match handle.keys(now).await {
                Ok(keys) => {
                    let count = keys.jwks.keys().len();
                    let outcome = if count == 0 {
                        Err("the provider publishes no signing keys".to_owned())
                    } else {
                        Ok(format!(
                            "{count} signing key(s) from {}",
                            provider.metadata.jwks_uri().url()
                        ))
                    };
                    verdict.line("keys", outcome);
                }
                Err(err) => verdict.line("keys", Err(err.to_string())),
            }
            provider_sessions(verdict, &provider.features, config);
        }
        Err(reason) => {
            verdict.line("discovery", Err(format!("{}: {reason}", handle.issuer())));
            verdict.line("keys", Err("not fetched: discovery failed".into()));
        }
    }
}
