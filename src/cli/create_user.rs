//! `doorman create-user`: makes a local account (an on-call admin, a CI bot) without opening
//! registration to the world.

use std::io::BufRead;

use crate::accounts::{self, hasher};
use crate::clock::system_now;
use crate::config::Config;
use crate::identity::is_valid_role;
use crate::store::{NewLocalUser, Store};

pub const USAGE: &str = "usage: doorman create-user --username NAME --email EMAIL [--name \"Full Name\"] [--role ROLE]...
  The password is read from DOORMAN_PASSWORD, or else from the first line of standard input.
  The account goes into DATABASE_URL (default doorman.db).";

/// Runs `create-user` with its arguments; returns the message to print.
pub async fn create_user(config: &Config, args: &[String]) -> anyhow::Result<String> {
    let mut username = None;
    let mut email = None;
    let mut name = None;
    let mut roles = Vec::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value\n{USAGE}"))?
            .clone();
        match flag.as_str() {
            "--username" => username = Some(value),
            "--email" => email = Some(value),
            "--name" => name = Some(value),
            "--role" => roles.push(value),
            other => anyhow::bail!("unknown option {other}\n{USAGE}"),
        }
    }
    let username = username.ok_or_else(|| anyhow::anyhow!("--username is required\n{USAGE}"))?;
    let email = email.ok_or_else(|| anyhow::anyhow!("--email is required\n{USAGE}"))?;
    let name = name.unwrap_or_else(|| username.clone());
    if let Some(bad) = roles.iter().find(|r| !is_valid_role(r)) {
        anyhow::bail!("--role {bad}: roles are 1 to 32 characters from a-z, 0-9, '_' and '-'");
    }
    let password = match std::env::var("DOORMAN_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    accounts::validate_new_account(&username, &email, &name, &password)
        .map_err(|(_, message)| anyhow::anyhow!("{message}"))?;
    let store = Store::open(&config.accounts.database_url, system_now())?;
    store.migrate(system_now()).await?;
    let hash = hasher::hash_with(password.as_bytes(), &mut Vec::new())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let user = store
        .create_local(
            NewLocalUser {
                username: &username,
                email: &email,
                name: &name,
                password_hash: &hash,
                roles: &roles,
            },
            system_now(),
        )
        .await?;
    Ok(format!(
        "created user {} ({}) with roles [{}]",
        user.id,
        username,
        user.roles.join(", ")
    ))
}
