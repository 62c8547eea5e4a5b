//! The gateway's configuration: the named policies (`DOORMAN_CONFIG`, a TOML file), the hosts
//! a sign-in may return to (`ALLOWED_REDIRECT_HOSTS`), the session cookie's domain
//! (`COOKIE_DOMAIN`), the upstream signing keys (`UPSTREAM_SIGNING_KEYS_FILE`) and which
//! identity header names are sent (`IDENTITY_HEADERS`). Everything is checked at start; a
//! mistake in the file is reported with its key and line.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::file::ConfigFile;
pub use super::policy::Policy;
use super::policy::{PolicyEntry, is_valid_policy_name, policy_from};
use super::urls::PublicUrl;
use super::vars::{ConfigError, Vars};

/// A host a sign-in may return to: `app.example.com`, `*.example.com` (any subdomain), with
/// `:port` when it is not the scheme's default; the port must match exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    /// Lower case; for a wildcard, the suffix after `*.`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl HostPattern {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_ascii_lowercase();
        let (host, port) = match raw.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p.parse().ok()?)),
            _ => (raw.as_str(), None),
        };
        let (host, wildcard) = match host.strip_prefix("*.") {
            Some(suffix) => (suffix, true),
            None => (host, false),
        };
        let valid = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
            });
        valid.then(|| Self {
            host: host.to_owned(),
            wildcard,
            port,
        })
    }

    /// The pattern of exactly `url`'s host and port.
    pub fn of(url: &Url) -> Option<Self> {
        Some(Self {
            host: url.host_str()?.to_ascii_lowercase(),
            wildcard: false,
            port: url.port(),
        })
    }

    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
        } else {
            host == self.host
        };
        host_ok && url.port() == self.port
    }
}

/// Which sets of identity header names a 200 carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentityHeaderSets {
    /// `X-Doorman-*`.
    pub doorman: bool,
    /// Authelia's `Remote-User`, `Remote-Email`, `Remote-Name`, `Remote-Groups`.
    pub authelia: bool,
    /// oauth2-proxy's `X-Auth-Request-User`, `-Email`, `-Groups`, `-Preferred-Username`.
    pub oauth2_proxy: bool,
}

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Always has `default` (any signed-in user) unless the file defines its own.
    pub policies: BTreeMap<String, Policy>,
    pub redirect_hosts: Vec<HostPattern>,
    /// `COOKIE_DOMAIN`: the session cookie is `__Secure-access_token; Domain=<this>`.
    pub cookie_domain: Option<String>,
    /// `UPSTREAM_SIGNING_KEYS_FILE`'s path and contents (PEM); unset: derived from the secret.
    pub signing_keys: Option<(String, String)>,
    pub identity_headers: IdentityHeaderSets,
    /// `[[gateway.route]]`: what doorman proxies itself, as the front door.
    pub routes: Vec<super::routes::ProxyRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    gateway: Option<GatewaySection>,
    /// `[[provider]]`, read by `provider_blocks`.
    #[serde(default)]
    provider: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    #[serde(default)]
    policy: BTreeMap<String, PolicyEntry>,
    #[serde(default)]
    route: Vec<super::routes::RouteEntry>,
}

/// The policies in `text` (the file at `path`), checked.
pub fn parse_policies(path: &str, text: &str) -> Result<BTreeMap<String, Policy>, ConfigError> {
    parse_file(path, text).map(|(policies, _)| policies)
}

type Parsed = (BTreeMap<String, Policy>, Vec<super::routes::ProxyRoute>);

/// The policies and routes in `text` (the file at `path`), checked.
pub fn parse_file(path: &str, text: &str) -> Result<Parsed, ConfigError> {
    let file_error =
        |message: String| ConfigError::new("DOORMAN_CONFIG", format!("{path}: {message}"));
    let file: File = basic_toml::from_str(text).map_err(|e| file_error(e.to_string()))?;
    let _ = &file.provider;
    let (entries, routes) = file
        .gateway
        .map(|g| (g.policy, g.route))
        .unwrap_or_default();
    let mut policies = BTreeMap::new();
    for (name, entry) in entries {
        let at = format!("[gateway.policy.{name}]");
        if !is_valid_policy_name(&name) {
            return Err(file_error(format!(
                "{at}: policy names are 1 to 64 characters from a-z, 0-9, '_' and '-'"
            )));
        }
        let policy = policy_from(entry).map_err(|m| file_error(format!("{at}{m}")))?;
        policies.insert(name, policy);
    }
    policies.entry("default".into()).or_default();
    let routes = super::routes::routes(routes, &policies).map_err(file_error)?;
    Ok((policies, routes))
}

/// `COOKIE_DOMAIN`, checked: a registrable domain (never a public suffix such as `com` or
/// `co.uk`), covering `PUBLIC_URL`'s host, which must be https (`__Secure-` needs it).
fn cookie_domain(raw: &str, public_url: &PublicUrl) -> Result<String, ConfigError> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let err = |m: String| Err(ConfigError::new("COOKIE_DOMAIN", m));
    if psl::domain(domain.as_bytes()).is_none() {
        return err(format!(
            "`{domain}` is a public suffix or not a registrable domain: a cookie for it would \
             reach other people's sites"
        ));
    }
    let host = public_url.host().to_ascii_lowercase();
    if host != domain && !host.ends_with(&format!(".{domain}")) {
        return err(format!(
            "`{domain}` does not cover PUBLIC_URL's host `{host}`, so the sign-in could not set it"
        ));
    }
    if !public_url.is_https() {
        return err(
            "needs an https PUBLIC_URL: the shared cookie is `__Secure-` and Secure".into(),
        );
    }
    Ok(domain)
}

fn identity_headers(raw: Option<String>) -> Result<IdentityHeaderSets, ConfigError> {
    let mut sets = IdentityHeaderSets {
        doorman: raw.is_none(),
        authelia: false,
        oauth2_proxy: false,
    };
    for name in raw.iter().flat_map(|r| r.split(',')).map(str::trim) {
        match name {
            "doorman" => sets.doorman = true,
            "authelia" => sets.authelia = true,
            "oauth2-proxy" => sets.oauth2_proxy = true,
            "" => {}
            other => {
                return Err(ConfigError::new(
                    "IDENTITY_HEADERS",
                    format!("`{other}` is not one of doorman, authelia, oauth2-proxy"),
                ));
            }
        }
    }
    Ok(sets)
}

pub(super) fn gateway_from(
    vars: &Vars<'_>,
    public_url: &PublicUrl,
    file: Option<&ConfigFile>,
) -> Result<GatewayConfig, ConfigError> {
    let (policies, routes) = match file {
        Some(file) => parse_file(&file.path, &file.text)?,
        None => (
            BTreeMap::from([("default".to_owned(), Policy::default())]),
            Vec::new(),
        ),
    };
    let cookie_domain = vars
        .get("COOKIE_DOMAIN")
        .map(|raw| cookie_domain(&raw, public_url))
        .transpose()?;
    let mut redirect_hosts: Vec<HostPattern> =
        HostPattern::of(&public_url.join("/")).into_iter().collect();
    if let Some(domain) = &cookie_domain {
        redirect_hosts.extend(HostPattern::parse(domain));
        redirect_hosts.extend(HostPattern::parse(&format!("*.{domain}")));
    }
    for raw in vars.list("ALLOWED_REDIRECT_HOSTS") {
        redirect_hosts.push(HostPattern::parse(&raw).ok_or_else(|| {
            ConfigError::new(
                "ALLOWED_REDIRECT_HOSTS",
                format!("`{raw}` is not a host, `*.suffix`, or either with `:port`"),
            )
        })?);
    }
    let signing_keys = match vars.get("UPSTREAM_SIGNING_KEYS_FILE") {
        Some(path) => {
            let pem = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(
                    "UPSTREAM_SIGNING_KEYS_FILE",
                    format!("cannot read `{path}`: {e}"),
                )
            })?;
            Some((path, pem))
        }
        None => None,
    };
    Ok(GatewayConfig {
        policies,
        redirect_hosts,
        cookie_domain,
        signing_keys,
        identity_headers: identity_headers(vars.get("IDENTITY_HEADERS"))?,
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailList;

    #[test]
    fn policies_are_read_with_a_default_and_mistakes_are_named_with_their_line() {
        let ok = parse_policies(
            "d.toml",
            "[gateway.policy.admins]\nroles = [\"admin\"]\n\n[gateway.policy.team]\ndomains = [\"@Example.com\"]\n",
        )
        .expect("valid");
        assert_eq!(ok["admins"].roles, ["admin"]);
        assert_eq!(ok["team"].email.domains(), ["example.com"]);
        assert_eq!(ok["default"], Policy::default());

        let typo = parse_policies("d.toml", "[gateway.policy.admins]\nrolez = [\"admin\"]\n")
            .expect_err("unknown key");
        assert!(
            typo.message.contains("rolez") && typo.message.contains("line"),
            "{typo}"
        );
        let wrong_type =
            parse_policies("d.toml", "[gateway.policy.a]\npublic = \"yes\"\n").expect_err("type");
        assert!(wrong_type.message.contains("line 2"), "{wrong_type}");
        assert!(parse_policies("d.toml", "[gateway.policy.a]\nroles = [\"Admin!\"]\n").is_err());
        assert!(
            parse_policies(
                "d.toml",
                "[gateway.policy.a]\npublic = true\nroles = [\"x\"]\n"
            )
            .is_err()
        );
        assert!(parse_policies("d.toml", "[gateway.policy.\"A B\"]\n").is_err());
    }

    #[test]
    fn email_lists_admit_verified_emails_and_whole_domains_only() {
        let policy = Policy {
            email: EmailList::new(["ada@example.org"], ["example.com"]),
            ..Policy::default()
        };
        assert!(policy.admits_email(Some("Ada@Example.org"), true));
        assert!(policy.admits_email(Some("bob@example.com"), true));
        assert!(!policy.admits_email(Some("bob@example.com"), false));
        assert!(!policy.admits_email(Some("bob@evil-example.com"), true));
        assert!(!policy.admits_email(Some("bob@sub.example.com"), true));
        assert!(Policy::default().admits_email(None, false));
    }

    #[test]
    fn host_patterns_match_exact_hosts_subdomains_and_ports_exactly() {
        let url = |s: &str| Url::parse(s).expect("url");
        let exact = HostPattern::parse("app.example.com").expect("pattern");
        assert!(exact.matches(&url("https://app.example.com/x")));
        assert!(exact.matches(&url("https://APP.example.com:443/")));
        assert!(!exact.matches(&url("https://app.example.com:8443/")));
        assert!(!exact.matches(&url("https://app.example.com.evil.io/")));
        let wild = HostPattern::parse("*.example.com:8443").expect("pattern");
        assert!(wild.matches(&url("https://a.b.example.com:8443/")));
        assert!(!wild.matches(&url("https://example.com:8443/")));
        assert!(!wild.matches(&url("https://evilexample.com:8443/")));
        assert!(!wild.matches(&url("https://a.example.com/")));
        assert!(HostPattern::parse("exa mple.com").is_none());
        assert!(HostPattern::parse("a.com:http").is_none());
    }

    #[test]
    fn a_cookie_domain_must_be_registrable_cover_the_public_url_and_be_https() {
        let public = PublicUrl::parse("https://auth.example.com").expect("url");
        assert_eq!(
            cookie_domain("example.com", &public).expect("ok"),
            "example.com"
        );
        assert_eq!(
            cookie_domain(".Example.com", &public).expect("ok"),
            "example.com"
        );
        assert!(cookie_domain("com", &public).is_err());
        assert!(
            cookie_domain("co.uk", &PublicUrl::parse("https://a.co.uk").expect("url")).is_err()
        );
        assert!(
            cookie_domain(
                "github.io",
                &PublicUrl::parse("https://me.github.io").expect("url")
            )
            .is_err()
        );
        assert!(cookie_domain("other.com", &public).is_err());
        let http = PublicUrl::parse("http://auth.localhost:8000").expect("url");
        assert!(cookie_domain("localhost", &http).is_err());
    }
}
