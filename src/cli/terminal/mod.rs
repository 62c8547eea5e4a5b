//! The client side of signing in from a terminal: `doorman login URL` (the device grant: a
//! code to approve in any browser, then a token pair), `doorman token [URL]` (a valid access
//! token for scripts, refreshed when close to expiry) and `doorman logout [URL]`. Tokens are
//! kept per doorman URL in the user's config directory (`saved`), readable by the user only.
//! These commands need no server configuration: they talk to a doorman over HTTP.

mod remote;
mod saved;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use remote::{Failure, Remote};
use saved::{Saved, SavedSession};

/// `doorman login`, `token` and `logout`, as typed.
#[derive(Debug, PartialEq, Eq)]
pub enum TerminalCommand {
    Login(String),
    Token(Option<String>),
    Logout(Option<String>),
}

pub const USAGE: &str = "signing in from a terminal:
  doorman login URL      sign in to the doorman at URL: approve the code it prints in any browser
  doorman token [URL]    print a valid access token (refreshed when close to expiry), for
                         curl -H \"Authorization: Bearer $(doorman token)\" ...
  doorman logout [URL]   end that session at doorman and forget its tokens
  URL may be left out when one doorman is saved (or DOORMAN_URL names it); tokens are kept in
  $XDG_CONFIG_HOME/doorman/credentials.json (~/.config/doorman/...), mode 0600.";

/// A token this close to its expiry is refreshed first.
const REFRESH_MARGIN_SECS: u64 = 60;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs a terminal command; messages go to stderr, the token (for `token`) to stdout.
pub(super) fn run(command: TerminalCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("doorman: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match command {
            TerminalCommand::Login(url) => login(&url).await,
            TerminalCommand::Token(url) => token(url.as_deref()).await,
            TerminalCommand::Logout(url) => logout(url.as_deref()).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("doorman: {message}");
            ExitCode::from(1)
        }
    }
}

async fn login(url: &str) -> Result<(), String> {
    let remote = Remote::new(url)?;
    let started = remote.start().await.map_err(|f| f.say(&remote))?;
    let mut out = std::io::stdout();
    println!(
        "To sign in, open {} in any browser and enter the code\n\n    {}\n",
        started.verification_uri, started.user_code
    );
    println!("or open {}", started.verification_uri_complete);
    if out.is_terminal()
        && let Some(qr) = qr(&started.verification_uri_complete)
    {
        println!("\n{qr}");
    }
    println!(
        "\nOnly a person signed in to {} can approve it; the code expires in {} minutes.",
        remote.base(),
        started.expires_in.div_ceil(60)
    );
    let _ = std::io::Write::flush(&mut out);
    let deadline = now() + started.expires_in;
    let mut interval = started.interval.max(1);
    let tokens = loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        match remote.poll(&started.device_code).await {
            Ok(tokens) => break tokens,
            Err(Failure::Oauth(code, _)) if code == "authorization_pending" => {}
            Err(Failure::Oauth(code, _)) if code == "slow_down" => interval += 5,
            Err(Failure::Oauth(code, _)) if code == "access_denied" => {
                return Err("the request was denied in the browser; nothing was saved".into());
            }
            Err(Failure::Oauth(code, _)) if code == "expired_token" => {
                return Err(
                    "the code expired before it was approved; run doorman login again".into(),
                );
            }
            Err(Failure::Unreachable(why)) if now() < deadline => {
                eprintln!(
                    "doorman: {} is not answering ({why}); still waiting",
                    remote.base()
                );
            }
            Err(failure) => return Err(failure.say(&remote)),
        }
        if now() >= deadline {
            return Err("the code expired before it was approved; run doorman login again".into());
        }
    };
    let who = remote::whoami(&tokens.access_token);
    let mut saved = Saved::load()?;
    saved.put(
        remote.base(),
        SavedSession {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: now() + tokens.expires_in,
        },
    );
    saved.store()?;
    match who {
        Some(who) => println!("Signed in to {} as {who}.", remote.base()),
        None => println!("Signed in to {}.", remote.base()),
    }
    println!(
        "Tokens saved in {}; `doorman token` prints one.",
        saved.path().display()
    );
    Ok(())
}

/// The saved doorman `url` names, or the only one (or `DOORMAN_URL`'s).
fn which(saved: &Saved, url: Option<&str>) -> Result<String, String> {
    let env = std::env::var("DOORMAN_URL").ok().filter(|u| !u.is_empty());
    match url.map(str::to_owned).or(env) {
        Some(url) => Ok(Remote::new(&url)?.base().to_owned()),
        None => match saved.urls().as_slice() {
            [one] => Ok((*one).to_owned()),
            [] => Err("not signed in anywhere: run doorman login URL first".into()),
            several => Err(format!(
                "signed in to several doormans ({}): name one",
                several.join(", ")
            )),
        },
    }
}

async fn token(url: Option<&str>) -> Result<(), String> {
    let mut saved = Saved::load()?;
    let base = which(&saved, url)?;
    let Some(session) = saved.get(&base).cloned() else {
        return Err(format!("not signed in to {base}: run doorman login {base}"));
    };
    if session.expires_at > now() + REFRESH_MARGIN_SECS {
        println!("{}", session.access_token);
        return Ok(());
    }
    let remote = Remote::new(&base)?;
    match remote.refresh(&session.refresh_token).await {
        Ok(tokens) => {
            saved.put(
                &base,
                SavedSession {
                    access_token: tokens.access_token.clone(),
                    refresh_token: tokens.refresh_token,
                    expires_at: now() + tokens.expires_in,
                },
            );
            saved.store()?;
            println!("{}", tokens.access_token);
            Ok(())
        }
        Err(Failure::Refused(_)) => {
            saved.remove(&base);
            saved.store()?;
            Err(format!(
                "the session at {base} has ended (signed out, revoked or expired); run doorman login {base}"
            ))
        }
        Err(Failure::Oauth(code, _)) if code == "invalid_grant" => {
            saved.remove(&base);
            saved.store()?;
            Err(format!(
                "the session at {base} has ended (signed out, revoked or expired); run doorman login {base}"
            ))
        }
        Err(failure) => Err(failure.say(&remote)),
    }
}

async fn logout(url: Option<&str>) -> Result<(), String> {
    let mut saved = Saved::load()?;
    let base = which(&saved, url)?;
    let Some(session) = saved.get(&base).cloned() else {
        return Err(format!("not signed in to {base}"));
    };
    saved.remove(&base);
    saved.store()?;
    let remote = Remote::new(&base)?;
    match remote.logout(&session).await {
        Ok(()) => {
            println!("Signed out of {base}; its tokens are deleted.");
            Ok(())
        }
        Err(failure) => Err(format!(
            "the tokens are deleted here, but {} (the session may stay valid until it expires)",
            failure.say(&remote)
        )),
    }
}

/// `text` as a QR code of half-height blocks, or `None` when it does not fit one.
fn qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_code_is_drawn_for_an_approval_url() {
        let drawn = qr("https://auth.example.com/device?code=BCDF-GHJK").expect("fits");
        assert!(drawn.lines().count() > 10, "{drawn}");
    }
}
