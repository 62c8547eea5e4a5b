//! What the terminal commands ask a doorman over HTTP, all under `/auth/` (which every proxy
//! setup sends to doorman): start a device grant, poll it, refresh, sign out; and who a token
//! is for. Every request has a timeout, and every way it
//! can go wrong becomes a sentence (`Failure::say`).

use std::time::Duration;

use serde::Deserialize;

/// One request's longest wait.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The codes a device grant starts with.
#[derive(Deserialize)]
pub(super) struct Started {
    pub(super) device_code: String,
    pub(super) user_code: String,
    pub(super) verification_uri: String,
    pub(super) verification_uri_complete: String,
    pub(super) expires_in: u64,
    pub(super) interval: u64,
}

/// A token pair, as `/api/login` answers.
#[derive(Deserialize)]
pub(super) struct Tokens {
    pub(super) access_token: String,
    pub(super) refresh_token: String,
    pub(super) expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Why a request gave no answer the command can use.
#[derive(Debug)]
pub(super) enum Failure {
    /// No answer (refused, DNS, TLS, timeout).
    Unreachable(String),
    /// An OAuth error: its code and description.
    Oauth(String, String),
    /// A 401 or 403 (the session is over).
    Refused(String),
    /// An answer that is not doorman's (an HTML page, a 404 for `/auth/device`).
    NotDoorman(String),
}

impl Failure {
    pub(super) fn say(&self, remote: &Remote) -> String {
        let base = remote.base();
        match self {
            Self::Unreachable(why) => format!("cannot reach {base}: {why}"),
            Self::Oauth(code, description) => format!("{base} refused: {code}: {description}"),
            Self::Refused(why) => format!("{base} refused: {why}"),
            Self::NotDoorman(what) => format!(
                "{base} does not look like a doorman ({what}); check the URL (it is doorman's PUBLIC_URL)"
            ),
        }
    }
}

/// A doorman, by its URL.
pub(super) struct Remote {
    base: String,
    http: reqwest::Client,
}

impl Remote {
    /// `url` (http or https; a trailing `/` dropped) as a doorman to talk to.
    pub(super) fn new(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url.trim()).map_err(|e| {
            format!(
                "`{url}` is not a URL ({e}); give doorman's address, like https://auth.example.com"
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(format!("`{url}` is not an http(s) URL"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
        {
            return Err(format!(
                "`{url}`: give doorman's address only, without ?, # or a user"
            ));
        }
        let base = format!(
            "{}{}",
            parsed.origin().ascii_serialization(),
            parsed.path().trim_end_matches('/')
        );
        let agent = format!(
            "doorman-cli/{} on {}",
            env!("CARGO_PKG_VERSION"),
            hostname().unwrap_or_else(|| "an unnamed host".into())
        );
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self { base, http })
    }

    pub(super) fn base(&self) -> &str {
        &self.base
    }

    pub(super) async fn start(&self) -> Result<Started, Failure> {
        let response = self
            .http
            .post(format!("{}/auth/device", self.base))
            .form(&[("client_id", "doorman-cli")])
            .send()
            .await
            .map_err(unreachable)?;
        read(response, "POST /auth/device").await
    }

    pub(super) async fn poll(&self, device_code: &str) -> Result<Tokens, Failure> {
        let response = self
            .http
            .post(format!("{}/auth/device/token", self.base))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", "doorman-cli"),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        read(response, "POST /auth/device/token").await
    }

    /// A new pair for `refresh_token`, at the same token endpoint (under `/auth/`, which every
    /// proxy setup sends to doorman, unlike `/api/`).
    pub(super) async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Failure> {
        let response = self
            .http
            .post(format!("{}/auth/device/token", self.base))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "doorman-cli"),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        read(response, "POST /auth/device/token").await
    }

    /// Ends the session (RFC 7009 at `/auth/revoke`); only doorman's own answer counts.
    pub(super) async fn logout(&self, session: &super::SavedSession) -> Result<(), Failure> {
        #[derive(Deserialize)]
        struct Revoked {
            revoked: bool,
        }
        let response = self
            .http
            .post(format!("{}/auth/revoke", self.base))
            .form(&[
                ("token", session.refresh_token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", "doorman-cli"),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        let answer: Revoked = read(response, "POST /auth/revoke").await?;
        if answer.revoked {
            Ok(())
        } else {
            Err(Failure::NotDoorman(
                "POST /auth/revoke did not say revoked".into(),
            ))
        }
    }
}

/// Who an access token is for (its `email`, else `sub`), read from its payload: the token is
/// doorman's own, fresh from it, and nothing is decided on this (it is only said).
pub(super) fn whoami(access_token: &str) -> Option<String> {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Claims {
        sub: String,
        #[serde(default)]
        email: Option<String>,
    }
    let payload = access_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(claims.email.unwrap_or(claims.sub))
}

fn unreachable(err: reqwest::Error) -> Failure {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::Unreachable(text)
}

fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

async fn read<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    what: &str,
) -> Result<T, Failure> {
    if !response.status().is_success() {
        return Err(failure(response, what).await);
    }
    if !is_json(&response) {
        return Err(Failure::NotDoorman(format!("{what} did not answer JSON")));
    }
    response
        .json()
        .await
        .map_err(|e| Failure::NotDoorman(format!("{what} answered unexpected JSON: {e}")))
}

async fn failure(response: reqwest::Response, what: &str) -> Failure {
    let status = response.status();
    if !is_json(&response) {
        return Failure::NotDoorman(format!("{what} answered {status} without JSON"));
    }
    let Ok(body) = response.json::<ErrorBody>().await else {
        return Failure::NotDoorman(format!("{what} answered {status} with unexpected JSON"));
    };
    let description = body.error_description.or(body.message).unwrap_or_default();
    match status.as_u16() {
        401 | 403 if body.error != "invalid_client" => {
            Failure::Refused(format!("{}: {description}", body.error))
        }
        404 => Failure::NotDoorman(format!("{what} answered 404")),
        _ => Failure::Oauth(body.error, description),
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
