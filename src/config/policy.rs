//! One named gateway policy (`[gateway.policy.<name>]`): who may pass, as the file writes it
//! and as checked at start.

use serde::Deserialize;
use url::Url;

use super::email_list::EmailList;
use crate::identity::is_valid_role;

/// Who may pass one named policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The caller needs one of these roles (none listed: any role, or none).
    pub roles: Vec<String>,
    /// The caller needs one of these provider groups (none listed: any, or none).
    pub groups: Vec<String>,
    /// The caller's session must come from one of these providers, by id (`local`: a local
    /// account; none listed: any).
    pub providers: Vec<String>,
    /// Those providers' issuers, as sessions name them in `idp` (filled in once the
    /// providers are known).
    pub provider_issuers: Vec<String>,
    /// `emails` and `domains`: the caller's verified email must be one of the emails or at one
    /// of the domains (neither listed: any email).
    pub email: EmailList,
    /// Anonymous callers pass too; the identity is passed on when there is one.
    pub public: bool,
    /// Never send anyone to sign in: 401 JSON even for a browser navigation.
    pub api: bool,
    /// CORS preflights (`OPTIONS` with `Access-Control-Request-Method`, which carry no
    /// credentials) pass, with empty identity headers.
    pub cors_preflight: bool,
    /// The assertion's `aud`; by default the protected origin.
    pub audience: Option<String>,
}

impl Policy {
    /// Whether `email` (verified) is admitted by the email and domain lists.
    pub fn admits_email(&self, email: Option<&str>, verified: bool) -> bool {
        self.email.admits(email, verified)
    }
}

/// A `[gateway.policy.<name>]` table as the file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyEntry {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    providers: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    api: bool,
    #[serde(default)]
    cors_preflight: bool,
    #[serde(default)]
    audience: Option<String>,
}

/// A policy name: 1 to 64 of `[a-z0-9_-]`, so it is safe in a URL path.
pub(super) fn is_valid_policy_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// One policy table, checked; `Err` says what is wrong, to follow the table's name.
pub(super) fn policy_from(entry: PolicyEntry) -> Result<Policy, String> {
    if let Some(bad) = entry.roles.iter().find(|r| !is_valid_role(r)) {
        return Err(format!(" roles: `{bad}` is not a role name"));
    }
    if let Some(bad) = entry.groups.iter().find(|g| g.is_empty() || g.len() > 256) {
        return Err(format!(" groups: `{bad}` is not 1 to 256 bytes"));
    }
    let email = EmailList::new(entry.emails, entry.domains);
    if entry.public
        && !(entry.roles.is_empty()
            && entry.groups.is_empty()
            && entry.providers.is_empty()
            && email.is_open())
    {
        return Err(
            ": a public policy admits everybody: no roles, groups, providers, emails or domains"
                .into(),
        );
    }
    if let Some(bad) = email.emails().iter().find(|e| !e.contains('@')) {
        return Err(format!(" emails: `{bad}` is not an email"));
    }
    if let Some(bad) = email
        .domains()
        .iter()
        .find(|d| d.is_empty() || d.contains('@'))
    {
        return Err(format!(" domains: `{bad}` is not a domain"));
    }
    if let Some(audience) = &entry.audience
        && Url::parse(audience).is_err()
    {
        return Err(format!(" audience: `{audience}` is not a URL"));
    }
    Ok(Policy {
        roles: entry.roles,
        groups: entry.groups,
        providers: entry.providers,
        provider_issuers: Vec::new(),
        email,
        public: entry.public,
        api: entry.api,
        cors_preflight: entry.cors_preflight,
        audience: entry.audience,
    })
}
