//! Which OpenID provider doorman signs people in with: a real one (issuer, client id and
//! secret, `GOOGLE_*` names accepted), or, with none configured, the built-in development one.

use super::secrets::ClientSecret;
use super::urls::{GOOGLE_ISSUER, Issuer};
use super::vars::{ConfigError, Vars};

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
