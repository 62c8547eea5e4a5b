//! Which OpenID providers doorman signs people in with: one given by the environment (issuer,
//! client id and secret, `GOOGLE_*` names accepted), several given as `[[provider]]` blocks
//! in `DOORMAN_CONFIG` (`provider_blocks`), or, with none configured, the built-in
//! development one. Each is a [`ProviderSettings`]: its id, label, client, callback path,
//! and its own claims and access lists.

use url::Url;

use super::claims::ClaimsConfig;
use super::secrets::ClientSecret;
use super::urls::{GOOGLE_ISSUER, Issuer, PublicUrl};
use super::vars::{ConfigError, Vars};
use super::{AccessLists, EmailList};

/// Where a provider is and how doorman is registered at it.
#[derive(Clone, Debug)]
pub enum ProviderConfig {
    /// A real OpenID provider found by discovery.
    External {
        issuer: Issuer,
        client_id: String,
        client_secret: ClientSecret,
    },
    /// The built-in development provider, served by this process under `/dev-oidc`.
    Development,
}

/// The id local accounts' sessions answer to (`providers = ["local"]` in a policy); no
/// provider may take it.
pub const LOCAL_PROVIDER_ID: &str = "local";

/// One provider as doorman uses it.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// `[a-z0-9-]`: in URLs, metrics, logs and policies. From the environment: `google` for
    /// Google's issuer, `oidc` for any other, `dev` for the development provider.
    pub id: String,
    /// The sign-in button's label.
    pub name: String,
    pub source: ProviderConfig,
    /// The issuer doorman talks to and sessions name as their `idp`.
    pub issuer: Issuer,
    /// The path of the redirect URI registered at the provider: `/auth/callback` for the one
    /// from the environment, `/auth/callback/<id>` for each `[[provider]]`.
    pub callback_path: String,
    /// Scopes, groups claim and group roles (the environment's unless the block says).
    pub claims: ClaimsConfig,
    /// Who may sign in through it (the environment's unless the block says).
    pub access: AccessLists,
    /// Who is an admin from their first sign-in through it.
    pub admin_emails: Vec<String>,
    /// `/readyz` fails while this provider is not discovered (the environment's one always is).
    pub required: bool,
}

impl ProviderSettings {
    /// The exact redirect URI registered at the provider; never derived from request headers.
    pub fn redirect_uri(&self, public_url: &PublicUrl) -> Url {
        public_url.join(&self.callback_path)
    }

    pub fn is_development(&self) -> bool {
        matches!(self.source, ProviderConfig::Development)
    }
}

/// Which provider a session came from, by its `idp`: the provider's id, `local` for a local
/// account (whose `idp` is doorman's own origin), `""` for an issuer no longer configured.
#[derive(Clone, Debug, Default)]
pub struct ProviderIds {
    by_issuer: Vec<(String, String)>,
    local_issuer: String,
}

impl ProviderIds {
    pub fn new(providers: &[ProviderSettings], public_url: &PublicUrl) -> Self {
        Self {
            by_issuer: providers
                .iter()
                .map(|p| (p.issuer.as_str().to_owned(), p.id.clone()))
                .collect(),
            local_issuer: public_url.origin().to_owned(),
        }
    }

    pub fn of(&self, idp: &str) -> &str {
        if idp == self.local_issuer {
            return LOCAL_PROVIDER_ID;
        }
        self.by_issuer
            .iter()
            .find(|(issuer, _)| issuer == idp)
            .map_or("", |(_, id)| id.as_str())
    }

    /// The `idp` sessions from provider `id` carry.
    pub fn issuer_of(&self, id: &str) -> Option<&str> {
        if id == LOCAL_PROVIDER_ID {
            return Some(&self.local_issuer);
        }
        self.by_issuer
            .iter()
            .find(|(_, known)| known == id)
            .map(|(issuer, _)| issuer.as_str())
    }
}

/// What the environment says that every provider starts from (a `[[provider]]` key
/// replaces its part).
pub(super) struct Defaults<'a> {
    pub claims: &'a ClaimsConfig,
    pub access: &'a AccessLists,
    pub admin_emails: &'a [String],
}

/// The variables that configure the one provider of the environment.
pub(super) const ENV_PROVIDER_VARS: &[&str] = &[
    "OIDC_ISSUER_URL",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
];

/// The provider the environment configures (or the development one when none is).
pub(super) fn provider_from(vars: &Vars<'_>) -> Result<ProviderConfig, ConfigError> {
    let client_id = vars
        .get("OIDC_CLIENT_ID")
        .or_else(|| vars.get("GOOGLE_CLIENT_ID"));
    let client_secret = vars
        .get("OIDC_CLIENT_SECRET")
        .or_else(|| vars.get("GOOGLE_CLIENT_SECRET"));
    let issuer = vars.get("OIDC_ISSUER_URL");
    match (client_id, client_secret) {
        (None, None) if issuer.is_some() => Err(ConfigError::new(
            "OIDC_CLIENT_ID",
            "OIDC_ISSUER_URL is set but no client is: set OIDC_CLIENT_ID and \
             OIDC_CLIENT_SECRET from your provider's client registration",
        )),
        (None, None) => Ok(ProviderConfig::Development),
        (Some(_), None) => Err(ConfigError::new(
            "OIDC_CLIENT_SECRET",
            "OIDC_CLIENT_ID is set but its secret is missing: copy the client secret \
             from your provider (Google: APIs & Services → Credentials)",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "OIDC_CLIENT_ID",
            "OIDC_CLIENT_SECRET is set but the client id is missing",
        )),
        (Some(client_id), Some(secret)) => Ok(ProviderConfig::External {
            issuer: Issuer::parse(issuer.as_deref().unwrap_or(GOOGLE_ISSUER))?,
            client_id,
            client_secret: ClientSecret::new(secret),
        }),
    }
}

/// The environment's provider as the one [`ProviderSettings`].
pub(super) fn env_provider(
    source: ProviderConfig,
    public_url: &PublicUrl,
    defaults: &Defaults<'_>,
) -> ProviderSettings {
    let (id, name, issuer) = match &source {
        ProviderConfig::Development => (
            "dev",
            "the development provider",
            Issuer::from_trusted(public_url.join("/dev-oidc").as_str().to_owned()),
        ),
        ProviderConfig::External { issuer, .. } if issuer.is_google() => {
            ("google", "Google", issuer.clone())
        }
        ProviderConfig::External { issuer, .. } => {
            ("oidc", "your identity provider", issuer.clone())
        }
    };
    ProviderSettings {
        id: id.to_owned(),
        name: name.to_owned(),
        source,
        issuer,
        callback_path: "/auth/callback".to_owned(),
        claims: defaults.claims.clone(),
        access: defaults.access.clone(),
        admin_emails: defaults.admin_emails.to_vec(),
        required: true,
    }
}

/// A provider id: 1 to 32 of `[a-z0-9-]`, not starting with `-`.
pub(super) fn is_valid_provider_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An access list from a block's keys, each absent one the environment's.
pub(super) fn access_lists(
    defaults: &AccessLists,
    emails: Option<Vec<String>>,
    domains: Option<Vec<String>>,
    hosted_domains: Option<Vec<String>>,
) -> AccessLists {
    let lower = |list: Vec<String>| -> Vec<String> {
        list.into_iter()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let email = match (emails, domains) {
        (None, None) => defaults.email.clone(),
        (emails, domains) => EmailList::new(
            emails.map_or_else(|| defaults.email.emails().to_vec(), lower),
            domains.map_or_else(|| defaults.email.domains().to_vec(), lower),
        ),
    };
    AccessLists {
        email,
        hosted_domains: hosted_domains.map_or_else(|| defaults.hosted_domains.clone(), lower),
    }
}
