//! `[[provider]]` blocks in `DOORMAN_CONFIG`: several OpenID providers at once, each with its
//! id, label, client (its secret by reference: an environment variable or a file; a literal
//! only in a file nobody else can read), and its own scopes, groups claim, group roles and
//! access lists (the environment's where a key is absent). Every mistake names the block,
//! its line and the key.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::claims::{ClaimPath, role_pairs, scopes};
use super::file::ConfigFile;
use super::provider::{
    Defaults, LOCAL_PROVIDER_ID, ProviderConfig, ProviderSettings, access_lists,
    is_valid_provider_id,
};
use super::secrets::ClientSecret;
use super::urls::Issuer;
use super::vars::ConfigError;

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    provider: Vec<Block>,
    #[serde(default)]
    gateway: Option<IgnoredAny>,
}

/// One `[[provider]]` as the file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    id: String,
    name: Option<String>,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<String>,
    scopes: Option<Vec<String>>,
    groups_claim: Option<String>,
    allowed_emails: Option<Vec<String>>,
    allowed_email_domains: Option<Vec<String>>,
    allowed_hosted_domains: Option<Vec<String>>,
    admin_emails: Option<Vec<String>>,
    role_from_groups: Option<Vec<String>>,
    #[serde(default)]
    required: bool,
}

/// The longest button label.
const MAX_NAME_CHARS: usize = 64;

/// The providers the file's `[[provider]]` blocks configure (none: the file has none).
/// `env` looks up the variables a block's `client_secret_env` names.
pub(super) fn providers(
    file: &ConfigFile,
    defaults: &Defaults<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let parsed: File = basic_toml::from_str(&file.text).map_err(|e| file.error(e.to_string()))?;
    let _ = parsed.gateway;
    let mut out: Vec<ProviderSettings> = Vec::new();
    for (n, block) in parsed.provider.into_iter().enumerate() {
        let at = format!(
            "[[provider]] #{} (line {})",
            n + 1,
            block_line(&file.text, n)
        );
        let settings =
            settle(block, file, defaults, env).map_err(|m| file.error(format!("{at}: {m}")))?;
        if out.iter().any(|p| p.id == settings.id) {
            return Err(file.error(format!("{at}: id `{}` is used twice", settings.id)));
        }
        if let Some(other) = out.iter().find(|p| p.issuer == settings.issuer) {
            return Err(file.error(format!(
                "{at}: issuer `{}` is already provider `{}`'s: sessions name their provider by \
                 its issuer, so each provider needs its own",
                settings.issuer, other.id
            )));
        }
        out.push(settings);
    }
    Ok(out)
}

/// The line of the `n`th `[[provider]]` header (counted from 0), for messages.
fn block_line(text: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            line.starts_with("[[") && line[2..].trim_start().starts_with("provider")
        })
        .nth(n)
        .map_or(0, |(i, _)| i + 1)
}

fn settle(
    block: Block,
    file: &ConfigFile,
    defaults: &Defaults<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderSettings, String> {
    if !is_valid_provider_id(&block.id) {
        return Err(format!(
            "id `{}` must be 1 to 32 characters from a-z, 0-9 and '-' (it is used in URLs)",
            block.id
        ));
    }
    if block.id == LOCAL_PROVIDER_ID {
        return Err("id `local` is reserved for local accounts' sessions".into());
    }
    let issuer =
        Issuer::parse(block.issuer.trim()).map_err(|e| format!("issuer: {}", e.message))?;
    let client_id = block.client_id.trim().to_owned();
    if client_id.is_empty() {
        return Err("client_id is empty".into());
    }
    let secret = client_secret(&block, file, env)?;
    let name = match block.name.map(|n| n.trim().to_owned()) {
        Some(name) if name.is_empty() || name.chars().count() > MAX_NAME_CHARS => {
            return Err(format!("name must be 1 to {MAX_NAME_CHARS} characters"));
        }
        Some(name) if name.chars().any(char::is_control) => {
            return Err("name has a control character".into());
        }
        Some(name) => name,
        None if issuer.is_google() => "Google".to_owned(),
        None => block.id.clone(),
    };
    let mut claims = defaults.claims.clone();
    if let Some(list) = &block.scopes {
        claims.scopes =
            scopes(list.iter().map(String::as_str)).map_err(|m| format!("scopes: {m}"))?;
    }
    if let Some(raw) = &block.groups_claim {
        claims.groups_claim = ClaimPath::parse(raw).map_err(|m| format!("groups_claim: {m}"))?;
        claims.groups_claim_set = true;
    }
    if let Some(list) = &block.role_from_groups {
        claims.role_from_groups = role_pairs(list.iter().map(String::as_str))
            .map_err(|m| format!("role_from_groups: {m}"))?;
    }
    let access = access_lists(
        defaults.access,
        block.allowed_emails,
        block.allowed_email_domains,
        block.allowed_hosted_domains,
    );
    if let Some(bad) = access.email.emails().iter().find(|e| !e.contains('@')) {
        return Err(format!("allowed_emails: `{bad}` is not an email"));
    }
    let admin_emails = match block.admin_emails {
        Some(list) => list
            .into_iter()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect(),
        None => defaults.admin_emails.to_vec(),
    };
    Ok(ProviderSettings {
        callback_path: format!("/auth/callback/{}", block.id),
        id: block.id,
        name,
        source: ProviderConfig::External {
            issuer: issuer.clone(),
            client_id,
            client_secret: secret,
        },
        issuer,
        claims,
        access,
        admin_emails,
        required: block.required,
    })
}

/// The client secret, from exactly one of `client_secret_env`, `client_secret_file` and
/// `client_secret` (the last only when the configuration file is private to its owner).
fn client_secret(
    block: &Block,
    file: &ConfigFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClientSecret, String> {
    let given = [
        block.client_secret.is_some(),
        block.client_secret_env.is_some(),
        block.client_secret_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(
            "give the client secret once: client_secret_env = \"NAME\" (an environment \
                    variable), client_secret_file = \"/path\", or client_secret in a file of \
                    mode 0600"
                .into(),
        );
    }
    let secret = if let Some(name) = &block.client_secret_env {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("client_secret_env: the variable `{name}` is not set"))?
    } else if let Some(path) = &block.client_secret_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("client_secret_file: cannot read `{path}`: {e}"))?;
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(format!("client_secret_file: `{path}` is empty"));
        }
        text
    } else {
        if !file.private {
            return Err(format!(
                "client_secret is written in the file, but `{}` can be read by others: make it \
                 mode 0600 (chmod 600), or use client_secret_env / client_secret_file",
                file.path
            ));
        }
        block.client_secret.clone().unwrap_or_default()
    };
    Ok(ClientSecret::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccessLists, ClaimsConfig, EmailList};

    fn file(text: &str, private: bool) -> ConfigFile {
        ConfigFile {
            path: "doorman.toml".into(),
            text: text.into(),
            private,
        }
    }

    fn read(text: &str, private: bool) -> Result<Vec<ProviderSettings>, ConfigError> {
        let claims = ClaimsConfig::default();
        let access = AccessLists {
            email: EmailList::new(["boss@corp.example"], ["corp.example"]),
            hosted_domains: Vec::new(),
        };
        let admins = vec!["boss@corp.example".to_owned()];
        let defaults = Defaults {
            claims: &claims,
            access: &access,
            admin_emails: &admins,
        };
        let env = |name: &str| (name == "CORP_SECRET").then(|| "from-env".to_owned());
        providers(&file(text, private), &defaults, &env)
    }

    const CORP: &str = "[[provider]]\nid = \"corp\"\nissuer = \"https://sso.corp.example\"\n\
                        client_id = \"doorman\"\nclient_secret_env = \"CORP_SECRET\"\n";

    #[test]
    fn a_block_without_its_own_lists_takes_the_environments_and_its_own_keys_replace_them() {
        let text = format!(
            "{CORP}\n[[provider]]\nid = \"google\"\nissuer = \"https://accounts.google.com\"\n\
             client_id = \"g\"\nclient_secret = \"literal\"\nallowed_email_domains = []\n\
             admin_emails = []\nscopes = [\"email\", \"openid\", \"groups\"]\n\
             groups_claim = \"/realm_access/roles\"\nrole_from_groups = [\"admin=ops\"]\n"
        );
        let [corp, google] = read(&text, true).expect("valid").try_into().expect("two");
        assert_eq!(corp.callback_path, "/auth/callback/corp");
        assert_eq!(corp.name, "corp");
        assert!(!corp.access.is_open(), "the environment's lists");
        assert_eq!(corp.admin_emails, ["boss@corp.example"]);
        assert_eq!(google.name, "Google");
        assert!(google.access.email.domains().is_empty());
        assert_eq!(
            google.access.email.emails(),
            ["boss@corp.example"],
            "only domains replaced"
        );
        assert!(google.admin_emails.is_empty());
        assert_eq!(google.claims.scopes, ["openid", "email", "groups"]);
        assert_eq!(
            google.claims.groups_claim.to_string(),
            "/realm_access/roles"
        );
        assert_eq!(
            google.claims.role_from_groups,
            [("admin".into(), "ops".into())]
        );
        let ProviderConfig::External { client_secret, .. } = &corp.source else {
            panic!("external")
        };
        assert_eq!(client_secret.expose(), "from-env");
    }

    #[test]
    fn a_literal_secret_needs_a_file_only_its_owner_can_read() {
        let text = CORP.replace(
            "client_secret_env = \"CORP_SECRET\"",
            "client_secret = \"s\"",
        );
        let err = read(&text, false).expect_err("refused");
        assert_eq!(err.variable, "DOORMAN_CONFIG");
        assert!(err.message.contains("chmod 600"), "{}", err.message);
        assert!(read(&text, true).is_ok());
    }

    #[test]
    fn every_mistake_names_the_block_its_line_and_the_key() {
        let cases = [
            (format!("{CORP}\n{CORP}"), "id `corp` is used twice"),
            (
                format!("{CORP}\n{}", CORP.replace("\"corp\"", "\"corp2\"")),
                "already provider `corp`'s",
            ),
            (CORP.replace("\"corp\"", "\"Corp!\""), "id `Corp!` must be"),
            (
                CORP.replace("\"corp\"", "\"local\""),
                "reserved for local accounts",
            ),
            (CORP.replace("https://sso", "http://sso"), "issuer:"),
            (
                CORP.replace("CORP_SECRET", "NOT_SET"),
                "`NOT_SET` is not set",
            ),
            (
                format!("{CORP}client_secret = \"x\"\n"),
                "give the client secret once",
            ),
            (format!("{CORP}scopes = [\"a b\"]\n"), "scopes:"),
            (
                format!("{CORP}role_from_groups = [\"admin\"]\n"),
                "role_from_groups:",
            ),
            (
                format!("{CORP}allowed_emails = [\"nobody\"]\n"),
                "allowed_emails:",
            ),
            (format!("{CORP}name = \"\"\n"), "name must be"),
        ];
        for (text, expected) in cases {
            let err = read(&text, true).expect_err(expected);
            assert!(
                err.message.contains(expected),
                "{expected}: {}",
                err.message
            );
            assert!(err.message.contains("[[provider]] #"), "{}", err.message);
        }
        let second = read(&format!("{CORP}\n{CORP}"), true).expect_err("twice");
        assert!(second.message.contains("#2 (line 7)"), "{}", second.message);
        let typo = read(&format!("{CORP}isuer = \"x\"\n"), true).expect_err("unknown key");
        assert!(
            typo.message.contains("isuer") && typo.message.contains("line"),
            "{}",
            typo.message
        );
    }
}
