//! What doorman asks of the provider beyond the person's profile, and what it makes of it:
//! the scopes (`OIDC_SCOPES`), where the groups are (`OIDC_GROUPS_CLAIM`: a claim name or an
//! RFC 6901 JSON pointer) and which doorman roles provider groups grant (`ROLE_FROM_GROUPS`);
//! whether signing out also signs out at the provider (`OIDC_LOGOUT`); and whether sessions are
//! rechecked at the provider with its refresh tokens (`OIDC_REFRESH`, `OIDC_RECHECK_MINUTES`,
//! `OIDC_RECHECK_STRICT`).

use super::vars::{ConfigError, Vars};
use crate::identity::is_valid_role;

/// Where a provider puts the groups, as `OIDC_GROUPS_CLAIM` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath {
    /// The reference tokens, unescaped (`~1` is `/`, `~0` is `~`); one for a plain name.
    tokens: Vec<String>,
}

impl ClaimPath {
    /// A claim name (`groups`), or a JSON pointer when it starts with `/`
    /// (`/realm_access/roles`, `/https:~1~1example.com~1groups`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let Some(pointer) = raw.strip_prefix('/') else {
            return Ok(Self {
                tokens: vec![raw.to_owned()],
            });
        };
        let mut tokens = Vec::new();
        for token in pointer.split('/') {
            // RFC 6901 §3: `~` is only ever `~0` or `~1`.
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(format!("`{raw}`: `~` must be followed by 0 or 1")),
                }
            }
            if out.is_empty() {
                return Err(format!("`{raw}` has an empty step"));
            }
            tokens.push(out);
        }
        Ok(Self { tokens })
    }

    /// The steps from the claims' top level to the groups.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(String::as_str)
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let [name] = self.tokens.as_slice() {
            return f.write_str(name);
        }
        for token in &self.tokens {
            write!(f, "/{}", token.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// The provider's groups and claims, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsConfig {
    /// Every scope asked for, `openid` first.
    pub scopes: Vec<String>,
    pub groups_claim: ClaimPath,
    /// `OIDC_GROUPS_CLAIM` was set: the UserInfo endpoint is asked when the ID token lacks
    /// the claim (left at its default, UserInfo's answer is read only when it is asked anyway).
    pub groups_claim_set: bool,
    /// `ROLE_FROM_GROUPS`: (role, group) pairs; a role may be granted by several groups.
    pub role_from_groups: Vec<(String, String)>,
    /// `OIDC_LOGOUT=provider` (the default): signing out continues at the provider's
    /// `end_session_endpoint` when it advertises one; `local` ends doorman's session only.
    pub logout_at_provider: bool,
    /// `OIDC_REFRESH=true`: sessions keep the provider's refresh token and recheck with it.
    pub refresh: Option<ProviderRefresh>,
}

/// How sessions are rechecked at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderRefresh {
    /// `OIDC_RECHECK_MINUTES`, in seconds: a renewal at least this long after the last
    /// check refreshes at the provider first.
    pub recheck_secs: u64,
    /// `OIDC_RECHECK_STRICT`: a provider that cannot be reached ends the session at once.
    pub strict: bool,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
            groups_claim: ClaimPath {
                tokens: vec!["groups".into()],
            },
            groups_claim_set: false,
            role_from_groups: Vec::new(),
            logout_at_provider: true,
            refresh: None,
        }
    }
}

impl ClaimsConfig {
    /// The doorman roles `groups` grant, in `ROLE_FROM_GROUPS` order, each once.
    pub fn roles_for(&self, groups: &[String]) -> Vec<&str> {
        let mut roles: Vec<&str> = Vec::new();
        for (role, group) in &self.role_from_groups {
            if groups.contains(group) && !roles.contains(&role.as_str()) {
                roles.push(role);
            }
        }
        roles
    }
}

/// RFC 6749 §3.3: a scope token is printable ASCII without space, `"` and `\`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The scopes to ask for, `openid` first and each once, from `OIDC_SCOPES` or a provider's
/// `scopes`; `Err` names the one that is not a scope.
pub(super) fn scopes<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut scopes = vec!["openid".to_owned()];
    for scope in raw.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        if !is_scope_token(scope) {
            return Err(format!(
                "`{scope}` is not a scope (printable ASCII, no quotes or backslash)"
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

/// `role=group` pairs, from `ROLE_FROM_GROUPS` or a provider's `role_from_groups`.
pub(super) fn role_pairs<'a>(
    raw: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for pair in raw.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = pair
            .split_once('=')
            .map(|(role, group)| (role.trim(), group.trim()))
            .filter(|(role, group)| is_valid_role(role) && !group.is_empty());
        let Some((role, group)) = parsed else {
            return Err(format!(
                "`{pair}` is not role=group (a role is 1-32 of a-z, 0-9, _ and -; \
                 the group is the provider's name for it)"
            ));
        };
        pairs.push((role.to_owned(), group.to_owned()));
    }
    Ok(pairs)
}

pub(super) fn claims_from(vars: &Vars<'_>) -> Result<ClaimsConfig, ConfigError> {
    let mut claims = ClaimsConfig::default();
    if let Some(raw) = vars.get("OIDC_SCOPES") {
        claims.scopes = scopes(raw.split([' ', ',']))
            .map_err(|message| ConfigError::new("OIDC_SCOPES", message))?;
    }
    if let Some(raw) = vars.get("OIDC_GROUPS_CLAIM") {
        claims.groups_claim = ClaimPath::parse(&raw)
            .map_err(|message| ConfigError::new("OIDC_GROUPS_CLAIM", message))?;
        claims.groups_claim_set = true;
    }
    if let Some(raw) = vars.get("ROLE_FROM_GROUPS") {
        claims.role_from_groups = role_pairs(raw.split(','))
            .map_err(|message| ConfigError::new("ROLE_FROM_GROUPS", message))?;
    }
    // Read (and so checked) whether or not OIDC_REFRESH is on.
    let recheck = ProviderRefresh {
        recheck_secs: 60 * vars.number("OIDC_RECHECK_MINUTES", 15, 1..=1440)?,
        strict: vars.flag("OIDC_RECHECK_STRICT", false)?,
    };
    if vars.flag("OIDC_REFRESH", false)? {
        claims.refresh = Some(recheck);
    }
    if let Some(raw) = vars.get("OIDC_LOGOUT") {
        claims.logout_at_provider = match raw.trim() {
            "provider" => true,
            "local" => false,
            other => {
                return Err(ConfigError::new(
                    "OIDC_LOGOUT",
                    format!("`{other}` is neither `provider` nor `local`"),
                ));
            }
        };
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ClaimsConfig, ConfigError> {
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        claims_from(&Vars::new(&lookup))
    }

    #[test]
    fn a_claim_is_a_name_or_a_json_pointer_with_its_escapes() {
        let plain = ClaimPath::parse("groups").expect("name");
        assert_eq!(plain.tokens().collect::<Vec<_>>(), ["groups"]);
        let keycloak = ClaimPath::parse("/realm_access/roles").expect("pointer");
        assert_eq!(
            keycloak.tokens().collect::<Vec<_>>(),
            ["realm_access", "roles"]
        );
        let auth0 = ClaimPath::parse("/https:~1~1example.com~1groups").expect("pointer");
        assert_eq!(
            auth0.tokens().collect::<Vec<_>>(),
            ["https://example.com/groups"]
        );
        // One step reads as the claim's name; more as the pointer.
        assert_eq!(auth0.to_string(), "https://example.com/groups");
        assert_eq!(keycloak.to_string(), "/realm_access/roles");
        assert_eq!(
            ClaimPath::parse("/a~0b").expect("tilde").tokens().next(),
            Some("a~b")
        );
        assert!(ClaimPath::parse("/a~2").is_err());
        assert!(ClaimPath::parse("/a//b").is_err());
    }

    #[test]
    fn scopes_always_start_with_openid_and_bad_ones_name_the_variable() {
        assert_eq!(
            read(&[]).expect("default").scopes,
            ["openid", "email", "profile"]
        );
        let extra = read(&[("OIDC_SCOPES", "email groups, offline_access openid")]).expect("ok");
        assert_eq!(
            extra.scopes,
            ["openid", "email", "groups", "offline_access"]
        );
        let err = read(&[("OIDC_SCOPES", "email \"x\"")]).expect_err("quote");
        assert_eq!(err.variable, "OIDC_SCOPES");
    }

    #[test]
    fn roles_from_groups_map_each_role_once_and_refuse_what_is_not_role_eq_group() {
        let c = read(&[(
            "ROLE_FROM_GROUPS",
            "admin=platform-admins, ops=sre, admin=root",
        )])
        .expect("valid");
        let groups = ["sre".to_owned(), "root".into(), "platform-admins".into()];
        assert_eq!(c.roles_for(&groups), ["admin", "ops"]);
        assert!(c.roles_for(&["nobody".into()]).is_empty());
        for bad in ["admin", "Admin=x", "admin=", "=x"] {
            let err = read(&[("ROLE_FROM_GROUPS", bad)]).expect_err(bad);
            assert_eq!(err.variable, "ROLE_FROM_GROUPS");
        }
        let c = read(&[("OIDC_GROUPS_CLAIM", "/realm_access/roles")]).expect("valid");
        assert!(c.groups_claim_set);
        assert!(!read(&[]).expect("default").groups_claim_set);
    }

    #[test]
    fn signing_out_continues_at_the_provider_unless_logout_is_local() {
        assert!(read(&[]).expect("default").logout_at_provider);
        assert!(
            !read(&[("OIDC_LOGOUT", "local")])
                .expect("local")
                .logout_at_provider
        );
        assert!(
            read(&[("OIDC_LOGOUT", "provider")])
                .expect("provider")
                .logout_at_provider
        );
        let err = read(&[("OIDC_LOGOUT", "both")]).expect_err("unknown");
        assert_eq!(err.variable, "OIDC_LOGOUT");
    }

    #[test]
    fn provider_rechecks_are_off_unless_oidc_refresh_and_then_every_fifteen_minutes() {
        assert_eq!(read(&[]).expect("default").refresh, None);
        let on = read(&[("OIDC_REFRESH", "true")]).expect("on").refresh;
        assert_eq!(
            on,
            Some(ProviderRefresh {
                recheck_secs: 900,
                strict: false
            })
        );
        let strict = read(&[
            ("OIDC_REFRESH", "true"),
            ("OIDC_RECHECK_MINUTES", "5"),
            ("OIDC_RECHECK_STRICT", "true"),
        ])
        .expect("strict")
        .refresh;
        assert_eq!(
            strict,
            Some(ProviderRefresh {
                recheck_secs: 300,
                strict: true
            })
        );
        let err = read(&[("OIDC_REFRESH", "true"), ("OIDC_RECHECK_MINUTES", "0")]).expect_err("0");
        assert_eq!(err.variable, "OIDC_RECHECK_MINUTES");
    }
}
